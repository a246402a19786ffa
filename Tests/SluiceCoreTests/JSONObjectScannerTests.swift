import XCTest
import SluiceCore

final class JSONObjectScannerTests: XCTestCase {
    private func scan(_ text: String) throws(JSONSyntaxError) -> [(key: String, value: JSONScalar)] {
        try JSONObjectScanner.members(of: Array(text.utf8))
    }

    private func assertRejects(_ bytes: [UInt8], _ label: String, file: StaticString = #filePath, line: UInt = #line) {
        do {
            let members = try JSONObjectScanner.members(of: bytes)
            XCTFail("accepted \(label): \(members)", file: file, line: line)
        } catch {
            XCTAssertGreaterThanOrEqual(error.offset, 0, file: file, line: line)
        }
    }

    func testScalarMembersInDocumentOrder() throws {
        let members = try scan(#"{"s":"x","n":-1.5e3,"t":true,"f":false,"z":null,"i":0}"#)
        XCTAssertEqual(members.map(\.key), ["s", "n", "t", "f", "z", "i"])
        XCTAssertEqual(members.map(\.value), [.string("x"), .number("-1.5e3"), .bool(true), .bool(false), .null, .number("0")])
    }

    func testEmptyObjectAndInsignificantWhitespace() throws {
        XCTAssertTrue(try scan("{}").isEmpty)
        let members = try scan(" \t\r\n{ \"a\" :\n1 , \"b\" : [ ] }\n ")
        XCTAssertEqual(members.map(\.key), ["a", "b"])
        XCTAssertEqual(members.map(\.value), [.number("1"), .composite])
    }

    func testIntegerLiteralDetection() throws {
        let members = try scan(#"{"a":12,"b":-0,"c":1.0,"d":1e3,"e":2E-1}"#)
        XCTAssertEqual(members.map(\.value.isIntegerLiteral), [true, true, false, false, false])
        XCTAssertFalse(JSONScalar.string("12").isIntegerLiteral)
    }

    func testEscapes() throws {
        let members = try scan(#"{"a":"\"\\\/\b\f\n\r\t","b":"\u00e9\u0041","c":"\ud83d\ude00","d":"\uD83D\uDE00x","\u006b":1}"#)
        XCTAssertEqual(members.map(\.value), [
            .string("\"\\/\u{08}\u{0C}\n\r\t"), .string("éA"), .string("😀"), .string("😀x"), .number("1"),
        ])
        XCTAssertEqual(members.last?.key, "k")
    }

    func testRawUTF8AndDelAreAccepted() throws {
        let members = try scan("{\"a\":\"çé😀\u{7F}\"}")
        XCTAssertEqual(members.first?.value, .string("çé😀\u{7F}"))
    }

    func testNestedCompositesAreValidatedAndSkipped() throws {
        let members = try scan(#"{"x":{"y":[1,{"z":[]},"s",null,[[true]]],"w":{}},"a":[],"b":2}"#)
        XCTAssertEqual(members.map(\.key), ["x", "a", "b"])
        XCTAssertEqual(members.map(\.value), [.composite, .composite, .number("2")])
    }

    func testRejectsInvalidDocuments() {
        let invalid = [
            "", " ", "{", "}", "[]", "[1]", "\"s\"", "1", "null",
            #"{"a":1,}"#, #"{,}"#, #"{"a":1,,"b":2}"#, #"{"a":[1,]}"#, #"{"a":{"b":1,}}"#, #"{"a":[1 2]}"#,
            #"{"a":{"b"}}"#, #"{"a" 1}"#, #"{"a":}"#, #"{a:1}"#, #"{'a':1}"#, #"{"a":'x'}"#,
            #"{"a":012}"#, #"{"a":-01}"#, #"{"a":00}"#, #"{"a":1.}"#, #"{"a":.5}"#, #"{"a":+1}"#, #"{"a":1e}"#,
            #"{"a":1e+}"#, #"{"a":-}"#, #"{"a":0x1F}"#,
            #"{"a":NaN}"#, #"{"a":Infinity}"#, #"{"a":-Infinity}"#, #"{"a":True}"#, #"{"a":tru}"#, #"{"a":nul}"#,
            #"{"a":"\ud800"}"#, #"{"a":"\udc00"}"#, #"{"a":"\ud800\u0041"}"#, #"{"a":"\ud800\ud800"}"#, #"{"a":"\ude00\ud83d"}"#,
            #"{"a":"\x"}"#, #"{"a":"\u12"}"#, #"{"a":"\u12G4"}"#, #"{"a":"abc}"#, #"{"a":"\"#,
            #"{"a":1} x"#, #"{"a":1}}"#, #"{"a":1}{}"#, #"{"a":1"#, "{\"a\":1}\u{0C}",
        ]
        for text in invalid { assertRejects(Array(text.utf8), text) }
    }

    func testRejectsUnescapedControlCharacters() {
        for byte: UInt8 in [0x00, 0x01, 0x09, 0x0A, 0x0D, 0x1F] {
            assertRejects(Array(#"{"a":"x"#.utf8) + [byte] + Array(#""}"#.utf8), "control \(byte) in value")
            assertRejects(Array(#"{"k"#.utf8) + [byte] + Array(#"":1}"#.utf8), "control \(byte) in key")
            assertRejects(Array(#"{"a":"\n"#.utf8) + [byte] + Array(#""}"#.utf8), "control \(byte) after an escape")
        }
    }

    func testRejectsInvalidUTF8() {
        for bad: [UInt8] in [[0xFF], [0xC3], [0xC0, 0x80], [0xED, 0xA0, 0x80]] {
            assertRejects(Array(#"{"a":""#.utf8) + bad + Array(#""}"#.utf8), "bytes \(bad)")
        }
    }

    func testNestingWithinLimitIsAccepted() throws {
        let depth = 20
        let text = #"{"a":"# + String(repeating: "[", count: depth) + String(repeating: "]", count: depth) + "}"
        XCTAssertEqual(try scan(text).first?.value, .composite)
    }
}
