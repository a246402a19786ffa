import XCTest
import SluiceCore

final class EventTimeTests: XCTestCase {
    private func decodeTime(_ raw: String) -> Result<Event, EventRejection> {
        let text = #"{"event_id":"e","type":"order","user_id":"u","amount":1,"currency":"EUR","event_time":"# + raw + "}"
        return EventDecoder().decode(Array(text.utf8))
    }

    private func assertValid(_ raw: String, _ expected: Int64, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(try decodeTime(raw).get().eventTime, expected, raw, file: file, line: line)
    }

    private func assertInvalid(_ raw: String, file: StaticString = #filePath, line: UInt = #line) {
        guard case .failure(let rejection) = decodeTime(raw) else { return XCTFail("accepted \(raw)", file: file, line: line) }
        XCTAssertEqual(rejection.field, "event_time", file: file, line: line)
    }

    func testKnownInstants() {
        XCTAssertEqual(EventTime.parseRFC3339("2024-01-01T00:00:00Z"), base)
        XCTAssertEqual(EventTime.parseRFC3339("2024-02-29T12:34:56.789Z"), 1_709_210_096_789)
        XCTAssertEqual(EventTime.parseRFC3339("2016-12-31T23:59:59Z"), 1_483_228_799_000)
        XCTAssertEqual(EventTime.parseRFC3339("2024-01-01t00:00:00z"), base)
        XCTAssertEqual(EventTime.parseRFC3339("1970-01-01T00:00:00Z"), 0)
    }

    func testLeapYears() {
        XCTAssertEqual(EventTime.parseRFC3339("2000-02-29T00:00:00Z"), 951_782_400_000)  // divisible by 400
        XCTAssertNotNil(EventTime.parseRFC3339("2024-02-29T00:00:00Z"))
        XCTAssertEqual(EventTime.parseRFC3339("2024-03-01T00:00:00Z"), EventTime.parseRFC3339("2024-02-29T00:00:00Z").map { $0 + 86_400_000 })
        XCTAssertEqual(EventTime.parseRFC3339("2023-03-01T00:00:00Z"), EventTime.parseRFC3339("2023-02-28T00:00:00Z").map { $0 + 86_400_000 })
        for text in ["2023-02-29T00:00:00Z", "2100-02-29T00:00:00Z", "1900-02-29T00:00:00Z", "2024-02-30T00:00:00Z"] {
            XCTAssertNil(EventTime.parseRFC3339(text), text)
        }
    }

    func testOffsets() {
        XCTAssertEqual(EventTime.parseRFC3339("2024-01-01T05:30:00+05:30"), base)
        XCTAssertEqual(EventTime.parseRFC3339("2023-12-31T16:00:00-08:00"), base)
        XCTAssertEqual(EventTime.parseRFC3339("2024-01-01T00:00:00-00:00"), base)
        XCTAssertEqual(EventTime.parseRFC3339("2024-01-01T23:59:00+23:59"), base)
    }

    func testFractionsAreTruncatedToMilliseconds() {
        XCTAssertEqual(EventTime.parseRFC3339("2024-01-01T00:00:00.9999Z"), base + 999)
        XCTAssertEqual(EventTime.parseRFC3339("2024-01-01T00:00:00.123999999Z"), base + 123)
        XCTAssertEqual(EventTime.parseRFC3339("2024-01-01T00:00:00.1Z"), base + 100)
        XCTAssertEqual(EventTime.parseRFC3339("2024-01-01T00:00:00.12Z"), base + 120)
        XCTAssertEqual(EventTime.parseRFC3339("2024-01-01T00:00:00.0009Z"), base)
        XCTAssertEqual(EventTime.parseRFC3339("2024-01-01T01:00:00.9999+01:00"), base + 999)
    }

    func testMalformedTexts() {
        let bad = [
            "", "2024-01-01", "2024-01-01T00:00:00", "2024-01-01T00:00Z", "2024-1-01T00:00:00Z", "24-01-01T00:00:00Z",
            "2024-13-01T00:00:00Z", "2024-00-01T00:00:00Z", "2024-01-00T00:00:00Z", "2024-01-32T00:00:00Z",
            "2024-04-31T00:00:00Z", "2024-01-01T24:00:00Z", "2024-01-01T00:60:00Z", "2024-01-01T00:00:61Z",
            "2024-01-01T00:00:00.Z", "2024-01-01T00:00:00+0100", "2024-01-01T00:00:00+24:00", "2024-01-01T00:00:00+01:60",
            "2024-01-01T00:00:00+01", "2024-01-01X00:00:00Z", " 2024-01-01T00:00:00Z", "2024-01-01T00:00:00Z ",
            "2024-01-01T00:00:00ZZ", "２024-01-01T00:00:00Z",
        ]
        for text in bad { XCTAssertNil(EventTime.parseRFC3339(text), text) }
    }

    func testYearRangeBoundariesInRFC3339() {
        assertInvalid(#""1999-12-31T23:59:59.999Z""#)
        assertValid(#""2000-01-01T00:00:00Z""#, 946_684_800_000)
        assertValid(#""2099-12-31T23:59:59.999Z""#, 4_102_444_799_999)
        assertInvalid(#""2100-01-01T00:00:00Z""#)
        assertInvalid(#""2000-01-01T00:30:00+01:00""#)  // 1999-12-31T23:30Z
        assertValid(#""1999-12-31T23:30:00-01:00""#, 946_686_600_000)
        assertInvalid(#""2099-12-31T23:30:00-01:00""#)  // 2100-01-01T00:30Z
        assertInvalid(#""1970-01-01T00:00:00Z""#)
    }

    func testYearRangeBoundariesInEpochMillis() {
        assertInvalid("946684799999")
        assertValid("946684800000", 946_684_800_000)
        assertValid("4102444799999", 4_102_444_799_999)
        assertInvalid("4102444800000")
        assertInvalid("0")
        assertInvalid("-1704067200000")
        assertInvalid("99999999999999999999")
    }

    func testHourAndDayOfWeek() {
        XCTAssertEqual(EventTime.hourOfDay(base), 0)
        XCTAssertEqual(EventTime.hourOfDay(at(23, 59, 59, ms: 999)), 23)
        XCTAssertEqual(EventTime.dayOfWeek(base), 0)  // Monday
        XCTAssertEqual(EventTime.dayOfWeek(base - 1), 6)  // Sunday
        XCTAssertEqual(EventTime.dayOfWeek(946_684_800_000), 5)  // 2000-01-01, Saturday
        XCTAssertEqual(EventTime.dayOfWeek(1_709_210_096_789), 3)  // 2024-02-29, Thursday
    }

    func testFormatRoundTrips() {
        for millis: Int64 in [946_684_800_000, 1_709_210_096_789, 4_102_444_799_999] {
            XCTAssertEqual(EventTime.parseRFC3339(EventTime.formatRFC3339(millis)), millis)
        }
        XCTAssertEqual(EventTime.formatRFC3339(1_709_210_096_789), "2024-02-29T12:34:56.789Z")
    }
}
