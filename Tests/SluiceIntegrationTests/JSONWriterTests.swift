import Foundation
@testable import SluiceEngine
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

    private enum Value: Decodable, Equatable {
        case string(String), number(Double)
        init(from decoder: Decoder) throws {
            let container = try decoder.singleValueContainer()
            if let text = try? container.decode(String.self) { self = .string(text) } else { self = .number(try container.decode(Double.self)) }
        }
    }
}
