import XCTest
import SluiceCore

final class EventDecoderTests: XCTestCase {
    private let required: [(String, String)] = [
        ("event_id", #""e1""#), ("type", #""order""#), ("user_id", #""u1""#),
        ("event_time", "1704067200000"), ("amount", "12.5"), ("currency", #""EUR""#),
    ]
    private static let optionalStrings = [
        "order_id", "card_id", "device_id", "ip", "merchant_id", "shipping_country", "billing_country", "return_reason",
    ]

    /// The required fields with `key` replaced by raw JSON `value` (appended when new, removed when nil).
    private func record(_ changes: [(String, String?)] = []) -> [UInt8] {
        var pairs = required.map { ($0.0, Optional($0.1)) }
        for (key, value) in changes {
            if let index = pairs.firstIndex(where: { $0.0 == key }) { pairs[index].1 = value } else { pairs.append((key, value)) }
        }
        return Array(("{" + pairs.compactMap { key, value in value.map { "\"\(key)\":\($0)" } }.joined(separator: ",") + "}").utf8)
    }

    private func decode(_ changes: [(String, String?)] = []) -> Result<Event, EventRejection> {
        EventDecoder().decode(record(changes))
    }

    private func assertRejected(_ result: Result<Event, EventRejection>, field: String?, codes: [EventRejection.Code],
                                file: StaticString = #filePath, line: UInt = #line) {
        switch result {
        case .success(let event): XCTFail("accepted \(event)", file: file, line: line)
        case .failure(let rejection):
            XCTAssertEqual(rejection.field, field, "\(rejection)", file: file, line: line)
            XCTAssertTrue(codes.contains(rejection.code), "unexpected code in \(rejection)", file: file, line: line)
        }
    }

    func testMinimalEvent() throws {
        let event = try decode().get()
        XCTAssertEqual(event, Event(eventID: "e1", type: .order, userID: "u1", eventTime: base, amount: 12.5, currency: "EUR"))
    }

    func testAllOptionalFields() throws {
        var changes: [(String, String?)] = Self.optionalStrings.map { ($0, "\"v-\($0)\"") }
        changes.append(("item_count", "3"))
        let event = try decode(changes).get()
        XCTAssertEqual(event, Event(
            eventID: "e1", type: .order, userID: "u1", eventTime: base, amount: 12.5, currency: "EUR",
            orderID: "v-order_id", cardID: "v-card_id", deviceID: "v-device_id", ip: "v-ip", merchantID: "v-merchant_id",
            itemCount: 3, shippingCountry: "v-shipping_country", billingCountry: "v-billing_country",
            returnReason: "v-return_reason"))
    }

    func testNullOptionalFieldsAreAbsent() throws {
        let event = try decode((Self.optionalStrings + ["item_count"]).map { ($0, "null") }).get()
        XCTAssertEqual(event, try decode().get())
    }

    func testMissingRequiredFieldsAreNamed() {
        for (key, _) in required { assertRejected(decode([(key, nil)]), field: key, codes: [.missingField]) }
    }

    func testNullRequiredFieldsAreNamed() {
        for (key, _) in required { assertRejected(decode([(key, "null")]), field: key, codes: [.missingField, .wrongType]) }
    }

    func testEventTypes() throws {
        XCTAssertEqual(try decode([("type", #""payment""#)]).get().type, .payment)
        XCTAssertEqual(try decode([("type", #""return""#)]).get().type, .return)
        for bad in [#""refund""#, #""Order""#, #""""#, "1", "true", "[]"] {
            assertRejected(decode([("type", bad)]), field: "type", codes: [.invalidValue, .wrongType])
        }
    }

    func testAmountMustBeANonNegativeNumber() throws {
        XCTAssertEqual(try decode([("amount", "0")]).get().amount, 0)
        XCTAssertEqual(try decode([("amount", "1e2")]).get().amount, 100)
        XCTAssertEqual(try decode([("amount", "0.1")]).get().amount, 0.1)
        for bad in [#""12.5""#, "-1", "-0.01", "true", "{}", "[1]"] {
            assertRejected(decode([("amount", bad)]), field: "amount", codes: [.invalidValue, .wrongType])
        }
    }

    func testEventTimeForms() throws {
        XCTAssertEqual(try decode([("event_time", #""2024-01-01T01:00:00+01:00""#)]).get().eventTime, base)
        XCTAssertEqual(try decode([("event_time", #""2024-01-01T00:00:00.5Z""#)]).get().eventTime, base + 500)
        for bad in ["1.7e12", "1704067200000.0", #""1704067200000""#, #""2024-01-01""#, #""2024-01-01T00:00:00""#, "true", "{}"] {
            assertRejected(decode([("event_time", bad)]), field: "event_time", codes: [.invalidValue, .wrongType, .implausibleTime])
        }
    }

    func testOptionalFieldsOfWrongTypeAreNamed() {
        for key in Self.optionalStrings {
            for bad in ["1", "true", "{}", #"["x"]"#] { assertRejected(decode([(key, bad)]), field: key, codes: [.wrongType, .invalidValue]) }
        }
        for bad in [#""3""#, "2.5", "true", "[]"] {
            assertRejected(decode([("item_count", bad)]), field: "item_count", codes: [.wrongType, .invalidValue])
        }
    }

    func testUnknownFieldsAreIgnored() throws {
        let event = try decode([("extra", #"{"nested":[1,{"x":null}],"amount":"no"}"#), ("list", "[1,2,[3]]"), ("z", "\"s\"")]).get()
        XCTAssertEqual(event, try decode().get())
    }

    func testEscapedMemberNamesAreDecoded() throws {
        let text = #"{"event\u005fid":"e1","\u0074ype":"order","user_id":"u\u0031","event_time":1704067200000,"amount":12.5,"currency":"EUR"}"#
        XCTAssertEqual(try EventDecoder().decode(Array(text.utf8)).get(), try decode().get())
    }

    func testRecordSizeLimitIs64KiB() throws {
        let bare = record([("pad", #""""#)])
        func padded(to size: Int) -> [UInt8] {
            record([("pad", "\"" + String(repeating: "x", count: size - bare.count) + "\"")])
        }
        XCTAssertEqual(padded(to: 65_536).count, 65_536)
        XCTAssertNoThrow(try EventDecoder().decode(padded(to: 65_536)).get())
        assertRejected(EventDecoder().decode(padded(to: 65_537)), field: nil, codes: [.oversized])
    }

    func testNotJSONAndNotAnObject() {
        let decoder = EventDecoder()
        assertRejected(decoder.decode(Array(#"{"event_id":"e1","#.utf8)), field: nil, codes: [.notJSON])
        assertRejected(decoder.decode(Array(#"{"event_id":"e1",}"#.utf8)), field: nil, codes: [.notJSON])
        assertRejected(decoder.decode(record() + Array("x".utf8)), field: nil, codes: [.notJSON])
        for text in ["[1]", "\"s\"", "42", "null", "true"] {
            assertRejected(decoder.decode(Array(text.utf8)), field: nil, codes: [.notAnObject])
        }
        for text in ["", "hello", "\u{FEFF}{}"] {
            assertRejected(decoder.decode(Array(text.utf8)), field: nil, codes: [.notJSON, .notAnObject])
        }
    }
}
