import Foundation
@testable import SluiceEngine
import SluiceCore
import XCTest

/// The decision encoder's JSON writer: every string round-trips through a standard parser,
/// on the fast path (nothing to escape) and the escaping path alike.
final class JSONWriterTests: XCTestCase {
    func testStringsRoundTripWhetherOrNotTheyNeedEscaping() throws {
        let samples = ["plain", "", "u17", "2026-11-23T10:15:03.120Z", "quote \" inside", "back\\slash", "tab\tnew\nline\rcr",
                       "\u{01}\u{1F}control", "ünïcødé ✓ 🚀", "mixed \"\\\u{08}é"]
        for sample in samples {
            var writer = JSONWriter()
            writer.beginObject()
            writer.key("k \"\\ key")
            writer.string(sample)
            writer.key("n")
            writer.number(0.1 + 0.2)
            writer.endObject()
            let decoded = try JSONDecoder().decode([String: Value].self, from: Data(writer.bytes))
            XCTAssertEqual(decoded["k \"\\ key"], .string(sample), "round trip of \(sample.debugDescription): \(String(decoding: writer.bytes, as: UTF8.self))")
            XCTAssertEqual(decoded["n"], .number(0.1 + 0.2))
        }
    }

    /// Whole numbers, integers and times skip `String`: the text must stay what `description`
    /// and `EventTime.formatRFC3339` wrote before (decisions are compared byte for byte).
    func testNumbersAndTimesMatchTheirStringForms() {
        let doubles: [Double] = [0, -0.0, 3, -2, 1, 42, 1e14, -1e14, 999_999_999_999_999, 1e15, 1e16, 0.5, -7.25, 123.456, .greatestFiniteMagnitude]
        for value in doubles {
            var writer = JSONWriter()
            writer.number(value)
            XCTAssertEqual(String(decoding: writer.bytes, as: UTF8.self), value.description, "\(value)")
        }
        for value: Int64 in [0, 7, -7, 1_795_000_000_123, .max, .min] {
            var writer = JSONWriter()
            writer.integer(value)
            XCTAssertEqual(String(decoding: writer.bytes, as: UTF8.self), String(value))
        }
        for millis: Int64 in [0, 946_684_800_000, 1_709_210_096_789, 4_102_444_799_999, -1] {
            var writer = JSONWriter()
            writer.time(millis: millis)
            XCTAssertEqual(String(decoding: writer.bytes, as: UTF8.self), "\"" + EventTime.formatRFC3339(millis) + "\"")
        }
        XCTAssertEqual(EventTime.formatRFC3339(1_709_210_096_789), "2024-02-29T12:34:56.789Z")
        XCTAssertEqual(EventTime.formatRFC3339(-1), "1969-12-31T23:59:59.999Z")
    }

    /// The decision contract's exact bytes for one decision (docs/decisions.md): field order,
    /// prepared keys, number forms and the source block.
    func testDecisionBytes() {
        let event = Event(eventID: "e-1", type: .order, userID: "u \"7\"", eventTime: 1_709_210_096_789, amount: 12.5, currency: "EUR")
        let features: [Double] = [3, 0.1 + 0.2, -2.5, .nan]
        let bytes = features.withUnsafeBufferPointer {
            DecisionRecord.encode(event: event, score: 0.8125, margin: 1.4663370687934272, decision: .reject, late: true, modelVersion: "m@1",
                                  featureNames: ["txn_1h", "avg_7d", "delta", "missing"], features: $0,
                                  source: SourcePosition(topic: "events", partition: 3, offset: 1234))
        }
        XCTAssertEqual(String(decoding: bytes, as: UTF8.self), """
            {"schema_version":2,"event_id":"e-1","user_id":"u \\"7\\"","event_type":"order","event_time":"2024-02-29T12:34:56.789Z",\
            "event_time_ms":1709210096789,"score":0.8125,"margin":1.4663370687934272,"decision":"reject","model_version":"m@1","late":true,\
            "features":{"txn_1h":3.0,"avg_7d":0.30000000000000004,"delta":-2.5,"missing":null},"source":{"topic":"events","partition":3,"offset":1234}}
            """)
    }

    /// Batch work spread over threads comes back complete and in order.
    func testParallelMapKeepsOrder() {
        for count in [0, 1, 255, 256, 2001] {
            for ways in [1, 2, 4] {
                XCTAssertEqual(ParallelMap.map(count: count, ways: ways) { $0 * 3 }, (0..<count).map { $0 * 3 }, "count \(count), ways \(ways)")
            }
        }
    }

    /// The latency distribution behind the timeline's CDF: increasing, ends at 1, matches percentiles.
    func testLatencyDistribution() throws {
        var histogram = LatencyHistogram()
        for micros: Int64 in [5, 5, 100, 300, 300, 300, 20_000, 1_000_000] { histogram.record(micros) }
        let points = histogram.distribution()
        XCTAssertEqual(points.first?.value, 5)
        XCTAssertEqual(points.first?.quantile, 0.25)
        XCTAssertEqual(points.last?.quantile, 1.0)
        XCTAssertEqual(zip(points, points.dropFirst()).filter { $0.value >= $1.value || $0.quantile >= $1.quantile }.count, 0)
        XCTAssertEqual(points.last?.value, 1_000_000, "ends at the maximum")
        // The median's bucket: its upper end is within the histogram's 0.8 % of the percentile.
        let median = try XCTUnwrap(points.first { $0.quantile >= 0.5 }?.value)
        XCTAssertEqual(Double(median), Double(histogram.percentile(0.5)), accuracy: Double(histogram.percentile(0.5)) * 0.008)
    }

    private enum Value: Decodable, Equatable {
        case string(String), number(Double)
        init(from decoder: Decoder) throws {
            let container = try decoder.singleValueContainer()
            if let text = try? container.decode(String.self) { self = .string(text) } else { self = .number(try container.decode(Double.self)) }
        }
    }
}
