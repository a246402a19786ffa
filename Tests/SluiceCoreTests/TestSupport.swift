import XCTest
import SluiceCore

/// 2024-01-01T00:00:00Z, a Monday, midnight UTC: aligned to every bucket size used in the tests.
let base: Int64 = 1_704_067_200_000
let second: Int64 = 1000
let minute: Int64 = 60_000
let hour: Int64 = 3_600_000

/// `base` plus hours, minutes, seconds and milliseconds.
func at(_ h: Int64, _ m: Int64 = 0, _ s: Int64 = 0, ms: Int64 = 0) -> Int64 { base + h * hour + m * minute + s * second + ms }

func makeEvent(
    _ time: Int64, _ type: EventType = .order, amount: Double = 10, card: String? = nil, device: String? = nil,
    items: Int64? = nil, shipping: String? = nil, billing: String? = nil
) -> Event {
    Event(
        eventID: "e\(time)", type: type, userID: "u1", eventTime: time, amount: amount, currency: "EUR",
        cardID: card, deviceID: device, itemCount: items, shippingCountry: shipping, billingCountry: billing)
}

func windowed(_ name: String, _ aggregation: String, field: String? = nil, types: [String]? = nil,
              length: String = "1h", bucket: String = "10m") -> FeatureSpec {
    FeatureSpec(name: name, aggregation: aggregation, field: field, types: types,
                window: .init(length: length, bucket: bucket))
}

/// Drives one entity through the engine: features from the state before each event, then apply.
struct EntityRun {
    let engine: FeatureEngine
    var state: EntityState

    init(_ specs: [FeatureSpec], lateness: String = "1h") throws {
        engine = FeatureEngine(featureSet: try FeatureSet(specs: specs, allowedLateness: lateness))
        state = engine.emptyState()
    }

    func features(of event: Event) -> [String: Double] {
        Dictionary(uniqueKeysWithValues: zip(engine.featureSet.names, engine.features(of: event, state: state)))
    }

    /// Returns the event's features and whether it was applied.
    @discardableResult
    mutating func step(_ event: Event) -> (features: [String: Double], applied: Bool) {
        let values = features(of: event)
        return (values, engine.apply(event, to: &state))
    }
}

/// Equal, or both NaN.
func assertSame(_ actual: Double?, _ expected: Double, _ message: String = "", file: StaticString = #filePath, line: UInt = #line) {
    guard let actual else { return XCTFail("missing value \(message)", file: file, line: line) }
    if expected.isNaN {
        XCTAssert(actual.isNaN, "expected NaN, got \(actual) \(message)", file: file, line: line)
    } else {
        XCTAssertEqual(actual, expected, message, file: file, line: line)
    }
}

/// Field-by-field equality with doubles compared by bit pattern (so NaN equals the same NaN).
func sameBits(_ a: EntityState, _ b: EntityState) -> Bool {
    guard a.maxEventTime == b.maxEventTime, a.appliedCount == b.appliedCount, a.windows.count == b.windows.count else { return false }
    for (wa, wb) in zip(a.windows, b.windows) {
        guard wa.buckets.count == wb.buckets.count else { return false }
        for (x, y) in zip(wa.buckets, wb.buckets) {
            guard x.index == y.index, x.count == y.count, x.lastSequence == y.lastSequence, x.lastTime == y.lastTime,
                  x.distinct.map({ Array($0.utf8) }) == y.distinct.map({ Array($0.utf8) }), x.sum.bitPattern == y.sum.bitPattern, x.min.bitPattern == y.min.bitPattern,
                  x.max.bitPattern == y.max.bitPattern, x.lastValue.bitPattern == y.lastValue.bitPattern
            else { return false }
        }
    }
    return true
}

/// Deterministic PRNG for the property tests.
struct SplitMix64: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
