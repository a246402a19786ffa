import Foundation
import XCTest
@testable import SluiceModel

/// Access to the files written by scripts/models/make_xgboost_fixture.py.
enum Fixtures {
    static func url(_ name: String) throws -> URL {
        guard let directory = Bundle.module.url(forResource: "Fixtures", withExtension: nil) else {
            XCTFail("Fixtures directory missing from the test bundle")
            throw CocoaError(.fileNoSuchFile)
        }
        let url = directory.appendingPathComponent(name)
        guard FileManager.default.fileExists(atPath: url.path) else {
            XCTFail("fixture \(name) missing: run python3 scripts/models/make_xgboost_fixture.py")
            throw CocoaError(.fileNoSuchFile)
        }
        return url
    }

    static func data(_ name: String) throws -> Data {
        try Data(contentsOf: url(name))
    }

    /// A numeric CSV: header plus rows; empty fields are NaN.
    struct Table {
        var header: [String]
        var rows: [[Double]]

        func column(_ name: String) -> [Double] {
            guard let index = header.firstIndex(of: name) else { return [] }
            return rows.map { $0[index] }
        }

        var flattened: [Double] { rows.flatMap { $0 } }
    }

    static func csv(_ name: String) throws -> Table {
        let text = try String(decoding: data(name), as: UTF8.self)
        var lines = text.split(separator: "\n", omittingEmptySubsequences: true)
        guard !lines.isEmpty else { return Table(header: [], rows: []) }
        let header = lines.removeFirst().split(separator: ",", omittingEmptySubsequences: false).map(String.init)
        var rows: [[Double]] = []
        rows.reserveCapacity(lines.count)
        for (index, line) in lines.enumerated() {
            let fields = line.split(separator: ",", omittingEmptySubsequences: false)
            XCTAssertEqual(fields.count, header.count, "\(name) line \(index + 2)")
            rows.append(fields.map { field in
                if field.isEmpty { return Double.nan }
                guard let value = Double(field) else {
                    XCTFail("\(name) line \(index + 2): '\(field)' is not a number")
                    return Double.nan
                }
                return value
            })
        }
        return Table(header: header, rows: rows)
    }
}

/// Assertions on the errors of `LoadedModel.load`, shared by the loader tests.
extension XCTestCase {
    /// `LoadedModel.load(data:)` throws a `ModelError` with `code` whose message contains `fragment`.
    func assertError(_ code: ModelError.Code, _ data: Data, containing fragment: String? = nil,
                     file: StaticString = #filePath, line: UInt = #line) {
        assertModelError(code, containing: fragment.map { [$0] } ?? [], file: file, line: line) {
            try LoadedModel.load(data: data)
        }
    }

    /// `LoadedModel.load(contentsOf:)` throws a `ModelError` with `code` whose message contains every fragment.
    func assertError(_ code: ModelError.Code, _ url: URL, containing fragments: [String],
                     file: StaticString = #filePath, line: UInt = #line) {
        assertModelError(code, containing: fragments, file: file, line: line) {
            try LoadedModel.load(contentsOf: url)
        }
    }

    private func assertModelError(_ code: ModelError.Code, containing fragments: [String],
                                  file: StaticString, line: UInt, _ load: () throws -> LoadedModel) {
        XCTAssertThrowsError(try load(), file: file, line: line) { error in
            guard let modelError = error as? ModelError else {
                return XCTFail("not a ModelError: \(error)", file: file, line: line)
            }
            XCTAssertEqual(modelError.code, code, modelError.description, file: file, line: line)
            for fragment in fragments {
                XCTAssertTrue(modelError.message.contains(fragment), "'\(modelError.message)' lacks '\(fragment)'",
                              file: file, line: line)
            }
        }
    }
}
