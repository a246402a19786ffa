import XCTest
import SluiceCore

final class TimeWindowAndFeatureSetTests: XCTestCase {
    func testValidWindows() throws {
        let day = try TimeWindow(length: "24h", bucket: "1h")
        XCTAssertEqual(day.lengthMillis, 24 * hour)
        XCTAssertEqual(day.bucketMillis, hour)
        XCTAssertEqual(day.bucketCount, 24)
        XCTAssertEqual(try TimeWindow(length: "7d", bucket: "1h").bucketCount, 168)
        XCTAssertEqual(try TimeWindow(length: "2w", bucket: "1d").bucketCount, 14)
        XCTAssertEqual(try TimeWindow(length: "1s", bucket: "500ms").bucketCount, 2)
        XCTAssertEqual(try TimeWindow(length: "1m", bucket: "1m").bucketCount, 1)
    }

    func testInvalidWindows() {
        let bad: [(String, String)] = [
            ("1h", "7m"), ("90m", "1h"), ("30m", "1h"), ("0h", "1m"), ("1h", "0m"), ("-1h", "1m"), ("1h", "-1m"),
            ("1.5h", "1m"), ("1 hour", "1m"), ("", "1m"), ("1h", ""), ("h", "1m"), ("1y", "1d"), ("1H", "1m"),
            ("99999999999999999999d", "1d"),
        ]
        for (length, bucket) in bad {
            XCTAssertThrowsError(try TimeWindow(length: length, bucket: bucket), "\(length) by \(bucket)")
        }
        XCTAssertThrowsError(try TimeWindow(lengthMillis: 0, bucketMillis: 0))
        XCTAssertThrowsError(try TimeWindow(lengthMillis: -60_000, bucketMillis: -60_000))
    }

    func testBucketIsFloorDivision() throws {
        let window = try TimeWindow(length: "10m", bucket: "1m")
        let cases: [(Int64, Int64)] = [(0, 0), (59_999, 0), (60_000, 1), (119_999, 1), (-1, -1), (-60_000, -1), (-60_001, -2)]
        for (time, bucket) in cases { XCTAssertEqual(window.bucket(of: time), bucket, "\(time)") }
        XCTAssertEqual(window.bucket(of: base + 59_999), base / 60_000)
    }

    func testDurationText() {
        let cases: [(String, Int64)] = [("500ms", 500), ("30s", 30_000), ("1m", 60_000), ("1h", hour), ("7d", 7 * 24 * hour), ("2w", 14 * 24 * hour)]
        for (text, millis) in cases { XCTAssertEqual(DurationText.milliseconds(text), millis, text) }
    }

    /// The features of topologies/returns-fraud.yaml.
    private var topologySpecs: [FeatureSpec] {
        [
            windowed("txn_count_1h", "count", types: ["order", "payment"], length: "1h", bucket: "1m"),
            windowed("txn_count_24h", "count", types: ["order", "payment"], length: "24h", bucket: "1h"),
            windowed("amount_sum_24h", "sum", field: "amount", types: ["order"], length: "24h", bucket: "1h"),
            windowed("avg_order_value_7d", "mean", field: "amount", types: ["order"], length: "7d", bucket: "1h"),
            windowed("max_order_amount_7d", "max", field: "amount", types: ["order"], length: "7d", bucket: "1h"),
            windowed("order_count_30d", "count", types: ["order"], length: "30d", bucket: "1d"),
            windowed("return_count_30d", "count", types: ["return"], length: "30d", bucket: "1d"),
            FeatureSpec(name: "return_rate_30d", ratio: .init(numerator: "return_count_30d", denominator: "order_count_30d")),
            windowed("distinct_cards_7d", "distinct_count", field: "card_id", types: ["payment"], length: "7d", bucket: "1h"),
            windowed("distinct_devices_30d", "distinct_count", field: "device_id", length: "30d", bucket: "1d"),
            windowed("seconds_since_last_event", "seconds_since_last", length: "30d", bucket: "1d"),
            FeatureSpec(name: "amount", eventField: "amount"),
            FeatureSpec(name: "item_count", eventField: "item_count"),
            FeatureSpec(name: "address_mismatch", derived: "address_mismatch"),
            FeatureSpec(name: "hour_of_day", derived: "hour_of_day"),
        ]
    }

    func testTopologyFeaturesCompile() throws {
        let set = try FeatureSet(specs: topologySpecs, allowedLateness: "1h")
        XCTAssertEqual(set.names, topologySpecs.map(\.name))
        XCTAssertEqual(set.allowedLatenessMillis, hour)
        XCTAssertEqual(set.windowedIndices, [0, 1, 2, 3, 4, 5, 6, 8, 9, 10])
        XCTAssertEqual(set.features[7].kind, .ratio(numerator: 6, denominator: 5))
        guard case .windowed(let sum) = set.features[2].kind else { return XCTFail("not windowed") }
        XCTAssertEqual(sum.aggregation, .sum)
        XCTAssertEqual(sum.field, .amount)
        XCTAssertEqual(sum.types, [.order])
        XCTAssertEqual(sum.window, try TimeWindow(length: "24h", bucket: "1h"))
        XCTAssertEqual(try FeatureSet(specs: topologySpecs, allowedLateness: "0").allowedLatenessMillis, 0)
    }

    private func assertRejected(_ spec: FeatureSpec, naming name: String, file: StaticString = #filePath, line: UInt = #line) {
        let specs = [windowed("base_count", "count"), spec]
        XCTAssertThrowsError(try FeatureSet(specs: specs, allowedLateness: "1h"), file: file, line: line) { error in
            XCTAssertEqual((error as? FeatureSet.ValidationError)?.feature, name, "\(error)", file: file, line: line)
        }
    }

    func testInvalidSpecsNameTheFeature() {
        assertRejected(windowed("f_agg", "median", field: "amount"), naming: "f_agg")
        assertRejected(windowed("f_window", "count", length: "1h", bucket: "7m"), naming: "f_window")
        assertRejected(windowed("f_text", "count", length: "one hour", bucket: "1m"), naming: "f_text")
        assertRejected(FeatureSpec(name: "f_ratio", ratio: .init(numerator: "base_count", denominator: "nope")), naming: "f_ratio")
        assertRejected(FeatureSpec(name: "f_ratio2", ratio: .init(numerator: "nope", denominator: "base_count")), naming: "f_ratio2")
        assertRejected(windowed("base_count", "sum", field: "amount"), naming: "base_count")
        assertRejected(FeatureSpec(name: "f_nowindow", aggregation: "count"), naming: "f_nowindow")
        assertRejected(windowed("f_sum", "sum"), naming: "f_sum")
        assertRejected(windowed("f_sum_card", "sum", field: "card_id"), naming: "f_sum_card")
        assertRejected(windowed("f_max_ip", "max", field: "ip"), naming: "f_max_ip")
        assertRejected(windowed("f_type", "count", types: ["order", "refund"]), naming: "f_type")
        assertRejected(windowed("f_field", "distinct_count", field: "colour"), naming: "f_field")
        assertRejected(FeatureSpec(name: "f_derived", derived: "moon_phase"), naming: "f_derived")
    }

    func testInvalidLateness() {
        for text in ["", "1 hour", "-1h", "1.5h"] {
            XCTAssertThrowsError(try FeatureSet(specs: [windowed("c", "count")], allowedLateness: text), text)
        }
    }
}
