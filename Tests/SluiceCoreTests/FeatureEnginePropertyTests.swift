import XCTest
import SluiceCore

/// Random events through `FeatureEngine`, checked against a brute-force restatement of the spec that keeps
/// every applied event and folds each window from scratch.
final class FeatureEnginePropertyTests: XCTestCase {
    private var lateness: Int64 = 20 * minute
    private let specs = [
        windowed("c_1h", "count"), windowed("c_txn", "count", types: ["order", "payment"], length: "30m", bucket: "1m"),
        windowed("s_amt", "sum", field: "amount", types: ["order"], length: "2h", bucket: "15m"),
        windowed("m_items", "mean", field: "item_count", length: "1h", bucket: "5m"),
        windowed("m_amt", "mean", field: "amount", length: "3h", bucket: "1h"),
        windowed("mn", "min", field: "amount", length: "45m", bucket: "15m"), windowed("mx", "max", field: "amount", length: "3h", bucket: "1h"),
        windowed("lst", "last", field: "amount", types: ["payment", "return"]),
        windowed("lst_items", "last", field: "item_count", length: "2h", bucket: "30m"),
        windowed("dc_cards", "distinct_count", field: "card_id", length: "2h"),
        windowed("dc_dev", "distinct_count", field: "device_id", length: "1d", bucket: "1h"),
        windowed("since", "seconds_since_last"), windowed("since_ret", "seconds_since_last", types: ["return"], length: "6h", bucket: "1h"),
        windowed("c_card", "count", field: "card_id", length: "20m", bucket: "20m"),
        FeatureSpec(name: "r", ratio: .init(numerator: "c_txn", denominator: "c_1h")),
        FeatureSpec(name: "r_nan", ratio: .init(numerator: "c_1h", denominator: "m_items")),
    ]

    private func floorDivision(_ a: Int64, _ b: Int64) -> Int64 { a >= 0 ? a / b : -((-a + b - 1) / b) }

    /// The spec, verbatim: bucket window, retention relative to M before the event, log order for last/recency.
    private func reference(_ feature: WindowedFeature, time: Int64, applied: [Event], maxTime: Int64?) -> Double {
        let g = feature.window.bucketMillis
        let n = feature.window.lengthMillis / g
        let high = floorDivision(time, g)
        var low = high - n + 1
        if let maxTime { low = max(low, floorDivision(maxTime - lateness, g) - n + 1) }
        let events = applied.filter { event in
            let b = floorDivision(event.eventTime, g)
            return b >= low && b <= high && (feature.types?.contains(event.type) ?? true) && (feature.field.map { event.key($0) != nil } ?? true)
        }
        let values = events.compactMap { event in feature.field.flatMap { event.number($0) } }
        switch feature.aggregation {
        case .count: return Double(events.count)
        case .sum: return values.reduce(0, +)
        case .mean: return values.isEmpty ? .nan : values.reduce(0, +) / Double(values.count)
        case .min: return values.min() ?? .nan
        case .max: return values.max() ?? .nan
        case .distinctCount: return Double(Set(events.compactMap { event in feature.field.flatMap { event.key($0) } }).count)
        case .last: return values.last ?? .nan
        case .secondsSinceLast: return events.last.map { Double(time - $0.eventTime) / 1000 } ?? .nan
        }
    }

    private func randomEvent(user: Int, clock: inout Int64, using rng: inout SplitMix64) -> Event {
        clock += Int64.random(in: 0...(4 * minute), using: &rng)
        let roll = Int.random(in: 0..<10, using: &rng)
        let jitter = roll < 6 ? 0 : roll < 9 ? Int64.random(in: 0...(25 * minute), using: &rng) : Int64.random(in: 0...(3 * hour), using: &rng)
        var event = makeEvent(
            clock - jitter, EventType.allCases.randomElement(using: &rng)!, amount: Double(Int.random(in: 0...50_000, using: &rng)) / 100,
            card: ["c1", "c2", "c,3", "ü", nil, nil].randomElement(using: &rng)!,
            // 40 devices: a day's window holds more than 16, past the engine's small-set path.
            device: Bool.random(using: &rng) ? "d\(Int.random(in: 0..<40, using: &rng))" : nil,
            items: Bool.random(using: &rng) ? Int64.random(in: 0...9, using: &rng) : nil)
        event.userID = "u\(user)"
        return event
    }

    func testEngineMatchesBruteForceReference() throws {
        try check(lateness: "20m", seed: 0x5EED, events: 3000)
    }

    func testEngineMatchesBruteForceReferenceWithoutLateness() throws {
        try check(lateness: "0", seed: 0xC0FFEE, events: 1500)
    }

    private func check(lateness text: String, seed: UInt64, events: Int) throws {
        let set = try FeatureSet(specs: specs, allowedLateness: text)
        lateness = set.allowedLatenessMillis
        let engine = FeatureEngine(featureSet: set)
        let codec = EntityStateCodec(featureSet: set)
        var rng = SplitMix64(seed: seed)
        let users = 5
        var states = Array(repeating: engine.emptyState(), count: users)
        var applied = Array(repeating: [Event](), count: users)
        var maxTimes = [Int64?](repeating: nil, count: users)
        var clocks = Array(repeating: base, count: users)
        var lateCount = 0, nonEmpty = 0, negativeSeconds = 0, mismatches = 0

        for step in 0..<events {
            let user = Int.random(in: 0..<users, using: &rng)
            let event = randomEvent(user: user, clock: &clocks[user], using: &rng)
            let actual = engine.features(of: event, state: states[user])
            var expected = [Double](repeating: .nan, count: set.features.count)
            for (index, definition) in set.features.enumerated() {
                guard case .windowed(let feature) = definition.kind else { continue }
                expected[index] = reference(feature, time: event.eventTime, applied: applied[user], maxTime: maxTimes[user])
                if expected[index] != 0 && !expected[index].isNaN { nonEmpty += 1 }
                if definition.name == "since", expected[index] < 0 { negativeSeconds += 1 }
            }
            for (index, definition) in set.features.enumerated() {
                if case .ratio(let n, let d) = definition.kind {
                    expected[index] = expected[d].isNaN || expected[d] == 0 || expected[n].isNaN ? .nan : expected[n] / expected[d]
                }
                let (a, e) = (actual[index], expected[index])
                let approximate = ["s_amt", "m_items", "m_amt", "r", "r_nan"].contains(definition.name)
                let ok = e.isNaN ? a.isNaN : approximate ? abs(a - e) <= 1e-9 * max(abs(e), 1e-300) : a == e
                if !ok {
                    mismatches += 1
                    if mismatches <= 20 { XCTFail("step \(step) \(definition.name) at \(event.eventTime - base): engine \(a), reference \(e)") }
                }
            }
            let late = maxTimes[user].map { event.eventTime < $0 - lateness } ?? false
            XCTAssertEqual(engine.apply(event, to: &states[user]), !late, "step \(step)")
            if late { lateCount += 1 } else {
                applied[user].append(event)
                maxTimes[user] = max(maxTimes[user] ?? event.eventTime, event.eventTime)
            }
            XCTAssertEqual(states[user].maxEventTime, maxTimes[user])
            if step % 7 == 0 {  // the state as it comes back from Redis must behave identically
                states[user] = try codec.decode(Dictionary(uniqueKeysWithValues: codec.encode(states[user]).map { ($0.field, $0.value) }))
            }
        }
        XCTAssertEqual(mismatches, 0)
        XCTAssertGreaterThan(lateCount, events / 30, "too few late events to exercise lateness")
        XCTAssertGreaterThan(negativeSeconds, events / 300, "too few out-of-order events to exercise recency")
        XCTAssertGreaterThan(nonEmpty, events * 5)
    }
}
