import Foundation
import XCTest
import SluiceCore

final class EntityStateCodecTests: XCTestCase {
    private let set = try! FeatureSet(specs: [
        windowed("cnt", "count"), windowed("sum", "sum", field: "amount"), windowed("mean", "mean", field: "item_count"),
        windowed("min", "min", field: "amount"), windowed("max", "max", field: "amount"), windowed("last", "last", field: "amount"),
        windowed("cards", "distinct_count", field: "card_id"), windowed("since", "seconds_since_last", length: "1d", bucket: "1h"),
        FeatureSpec(name: "amount", eventField: "amount"),
    ], allowedLateness: "1h")
    private var codec: EntityStateCodec { EntityStateCodec(featureSet: set) }

    private func roundTrip(_ state: EntityState) throws -> EntityState {
        try codec.decode(Dictionary(uniqueKeysWithValues: codec.encode(state).map { ($0.field, $0.value) }))
    }

    private func bucket(_ index: Int64, count: Int64, _ configure: (inout BucketAggregate) -> Void = { _ in }) -> BucketAggregate {
        var bucket = BucketAggregate(index: index)
        bucket.count = count
        configure(&bucket)
        return bucket
    }

    /// A hand-built state exercising every aggregation's stored numbers.
    private var handBuilt: EntityState {
        EntityState(maxEventTime: -5, appliedCount: Int64.max, windows: [
            WindowState(buckets: [bucket(-3, count: 1), bucket(Int64.max, count: Int64.max)]),
            WindowState(buckets: [bucket(1, count: 2) { $0.sum = 0.1 + 0.2 }, bucket(2, count: 1) { $0.sum = -0.0 }]),
            WindowState(buckets: [bucket(7, count: 3) { $0.sum = 1e308 }]),
            WindowState(buckets: [bucket(1, count: 1) { $0.min = .leastNonzeroMagnitude }]),
            WindowState(buckets: [bucket(1, count: 1) { $0.max = .greatestFiniteMagnitude }]),
            WindowState(buckets: [bucket(4, count: 2) { $0.lastSequence = 9; $0.lastValue = 3.25; $0.lastTime = base }]),
            WindowState(buckets: [bucket(0, count: 4) { $0.distinct = ["", "a,b", "x\u{0}y", "é", "e\u{301}", "😀", "\"q\";\n"] }]),
            WindowState(buckets: [
                bucket(5, count: 1) { $0.lastSequence = 1; $0.lastValue = .nan; $0.lastTime = 12 },
                bucket(6, count: 1) { $0.lastSequence = 2; $0.lastValue = Double(bitPattern: 0x7FF8_0000_0000_0BAD); $0.lastTime = -1 },
            ]),
        ], aggregations: FeatureEngine(featureSet: set).windowAggregations)
    }

    func testHandBuiltStateRoundTrips() throws {
        XCTAssertTrue(sameBits(try roundTrip(handBuilt), handBuilt))
        var noMax = handBuilt
        noMax.maxEventTime = nil
        XCTAssertNil(try roundTrip(noMax).maxEventTime)
        XCTAssertTrue(sameBits(try roundTrip(noMax), noMax))
    }

    func testEngineStatesRoundTrip() throws {
        let engine = FeatureEngine(featureSet: set)
        var state = engine.emptyState()
        XCTAssertTrue(sameBits(try roundTrip(state), state))
        var rng = SplitMix64(seed: 7)
        for step in 0..<300 {
            let time = at(0, Int64(step), Int64.random(in: 0..<60, using: &rng))
            engine.apply(makeEvent(time, EventType.allCases.randomElement(using: &rng)!, amount: Double(Int.random(in: 0..<10_000, using: &rng)) / 100,
                                   card: ["c,1", "ü", nil].randomElement(using: &rng)!, items: [nil, 2].randomElement(using: &rng)!), to: &state)
            XCTAssertTrue(sameBits(try roundTrip(state), state), "step \(step)")
            // Also the packed words, so the distinct counts' newest-value tallies, which Redis
            // does not store, are rebuilt on decoding exactly as the engine keeps them.
            XCTAssertEqual(try roundTrip(state), state, "step \(step)")
        }
        XCTAssertTrue(state.windows.allSatisfy { !$0.buckets.isEmpty })
    }

    func testEmptyFieldMapIsEmptyState() throws {
        let state = try codec.decode([:])
        XCTAssertNil(state.maxEventTime)
        XCTAssertEqual(state.appliedCount, 0)
        XCTAssertEqual(state.windows.count, set.windowedIndices.count)
        XCTAssertTrue(state.windows.allSatisfy(\.buckets.isEmpty))
        XCTAssertTrue(state.isEmpty)
    }

    func testTruncatedFieldsAreRejected() {
        let encoded = codec.encode(handBuilt)
        let full = Dictionary(uniqueKeysWithValues: encoded.map { ($0.field, $0.value) })
        for (field, bytes) in encoded {
            for length in 0..<bytes.count {
                var fields = full
                fields[field] = Array(bytes.prefix(length))
                XCTAssertThrowsError(try codec.decode(fields), "\(field) cut to \(length) bytes")
            }
        }
    }

    func testCorruptFieldsAreRejected() {
        let full = Dictionary(uniqueKeysWithValues: codec.encode(handBuilt).map { ($0.field, $0.value) })
        var badVersion = full
        badVersion[EntityStateCodec.metaField]![0] = 99
        XCTAssertThrowsError(try codec.decode(badVersion))
        for field in full.keys where field != EntityStateCodec.metaField {
            var extended = full
            extended[field]! += [0]
            XCTAssertThrowsError(try codec.decode(extended), "trailing byte in \(field)")
        }
        var noMeta = full
        noMeta[EntityStateCodec.metaField] = nil
        XCTAssertThrowsError(try codec.decode(noMeta))
        var trailing = full
        trailing[EntityStateCodec.metaField]! += [9, 9, 9]
        XCTAssertThrowsError(try codec.decode(trailing))
        var badFlag = full
        badFlag[EntityStateCodec.metaField]![1] = 7
        XCTAssertThrowsError(try codec.decode(badFlag))
        var hugeString = full
        hugeString["cards"] = [1, 0, 0, 0] + [UInt8](repeating: 0, count: 16) + [1, 0, 0, 0] + [0xFF, 0xFF, 0xFF, 0xFF]
        XCTAssertThrowsError(try codec.decode(hugeString))
    }

    // A stored bucket count is untrusted: FF FF FF FF once made the decoder reserve 309 GB and trap.
    // Run in a child process so a crash fails only this test.
    func testHugeBucketCountIsRejectedWithoutCrashing() throws {
        try crashIsolated {
            var fields = Dictionary(uniqueKeysWithValues: codec.encode(handBuilt).map { ($0.field, $0.value) })
            fields["cnt"] = [0xFF, 0xFF, 0xFF, 0xFF]
            XCTAssertThrowsError(try codec.decode(fields))
        }
    }

    // Random corruption of stored bytes must throw or decode, never trap.
    func testRandomCorruptionNeverCrashes() throws {
        try crashIsolated {
            let full = Dictionary(uniqueKeysWithValues: codec.encode(handBuilt).map { ($0.field, $0.value) })
            var rng = SplitMix64(seed: 42)
            for _ in 0..<2000 {
                var fields = full
                let field = full.keys.sorted().randomElement(using: &rng)!
                var bytes = fields[field]!
                for _ in 0..<Int.random(in: 1...3, using: &rng) {
                    bytes[Int.random(in: 0..<bytes.count, using: &rng)] = UInt8.random(in: 0...255, using: &rng)
                }
                fields[field] = bytes
                _ = try? codec.decode(fields)  // may decode or throw, must not trap
            }
        }
    }

    /// Runs `body` in a child copy of the test process (this test only), failing here if the child crashes.
    private func crashIsolated(function: String = #function, _ body: () throws -> Void) throws {
        let marker = "SLUICE_CRASH_ISOLATED_CHILD"
        if ProcessInfo.processInfo.environment[marker] != nil { return try body() }
        let testName = "SluiceCoreTests.\(type(of: self))/\(function.replacingOccurrences(of: "()", with: ""))"
        let process = Process()
        process.executableURL = Bundle.main.executableURL ?? URL(fileURLWithPath: CommandLine.arguments[0])
        process.arguments = [testName]
        process.environment = ProcessInfo.processInfo.environment.merging([marker: "1", "SWIFT_BACKTRACE": "enable=no"]) { $1 }
        let output = Pipe()
        process.standardOutput = output
        process.standardError = output
        try process.run()
        let text = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        let errors = text.split(separator: "\n").filter { $0.contains("Fatal error") || $0.contains("error:") }.joined(separator: "\n")
        guard process.terminationReason == .exit else {
            return XCTFail("child crashed with signal \(process.terminationStatus): \(errors)")
        }
        XCTAssertEqual(process.terminationStatus, 0, "child failed: \(errors)")
        XCTAssertTrue(text.contains("Executed 1 test"), "child did not run \(testName): \(text.suffix(1000))")
    }
}
