import Foundation

/// A small RFC 4180 CSV reader/writer for the CLI: comma separator, optional double-quoted fields
/// (with "" as an escaped quote, commas and newlines allowed inside), LF or CRLF line ends.
/// The first record is the header.
struct CSVTable {
    struct Row {
        /// 1-based line number where the record starts (for error messages).
        var line: Int
        var fields: [String]
    }

    struct ParseError: Error, CustomStringConvertible {
        var line: Int
        var message: String
        var description: String { "line \(line): \(message)" }
    }

    var header: [String]
    var rows: [Row]

    /// Parses CSV bytes. Every record must have as many fields as the header; a final line ending
    /// is optional; a UTF-8 byte-order mark is skipped. Blank lines are skipped when the header has
    /// several columns (they cannot be rows there); with a single column a blank line is a row whose
    /// one field is empty.
    static func parse(_ data: Data) throws -> CSVTable {
        var bytes = [UInt8](data)
        if bytes.starts(with: [0xef, 0xbb, 0xbf]) { bytes.removeFirst(3) }
        let quote = UInt8(ascii: "\""), comma = UInt8(ascii: ","), lf = UInt8(ascii: "\n"), cr = UInt8(ascii: "\r")

        var records: [Row] = []
        var fields: [String] = []
        var field: [UInt8] = []
        var fieldWasQuoted = false
        var line = 1
        var recordLine = 1
        var i = 0
        let n = bytes.count

        func endField() {
            fields.append(String(decoding: field, as: UTF8.self))
            field.removeAll(keepingCapacity: true)
            fieldWasQuoted = false
        }
        func endRecord() {
            endField()
            records.append(Row(line: recordLine, fields: fields))
            fields.removeAll(keepingCapacity: true)
        }

        while i < n {
            let byte = bytes[i]
            if byte == quote {
                guard field.isEmpty && !fieldWasQuoted else {
                    throw ParseError(line: line, message: "a quote inside an unquoted field (quote the whole field and double the quote)")
                }
                // Quoted field: runs to the closing quote; "" is a literal quote.
                let openedAt = line
                fieldWasQuoted = true
                i += 1
                var closed = false
                while i < n {
                    let b = bytes[i]
                    if b == quote {
                        if i + 1 < n && bytes[i + 1] == quote {
                            field.append(quote)
                            i += 2
                            continue
                        }
                        i += 1
                        closed = true
                        break
                    }
                    if b == lf { line += 1 }
                    field.append(b)
                    i += 1
                }
                guard closed else { throw ParseError(line: openedAt, message: "unterminated quoted field") }
                if i < n && bytes[i] != comma && bytes[i] != lf && bytes[i] != cr {
                    throw ParseError(line: line, message: "unexpected character after a quoted field")
                }
                continue
            }
            if fieldWasQuoted && byte != comma && byte != lf && byte != cr {
                throw ParseError(line: line, message: "unexpected character after a quoted field")
            }
            switch byte {
            case comma:
                endField()
                i += 1
            case cr where i + 1 < n && bytes[i + 1] == lf:
                endRecord()
                i += 2
                line += 1
                recordLine = line
            case lf:
                endRecord()
                i += 1
                line += 1
                recordLine = line
            default:
                field.append(byte)
                i += 1
            }
        }
        // A last record without a line ending.
        if !field.isEmpty || fieldWasQuoted || !fields.isEmpty {
            endRecord()
        }

        guard let first = records.first else { throw ParseError(line: 1, message: "empty file: no header") }
        let header = first.fields
        var rows: [Row] = []
        rows.reserveCapacity(records.count - 1)
        for row in records.dropFirst() {
            if header.count > 1 && row.fields.count == 1 && row.fields[0].isEmpty { continue }  // blank line
            guard row.fields.count == header.count else {
                throw ParseError(line: row.line, message: "\(row.fields.count) fields, the header has \(header.count)")
            }
            rows.append(row)
        }
        return CSVTable(header: header, rows: rows)
    }

    /// Writes a CSV with the given header and rows; fields with separators, quotes or line breaks are quoted.
    static func render(header: [String], rows: [[String]]) -> Data {
        var out = ""
        out.reserveCapacity(64 * (rows.count + 1))
        func append(_ fields: [String]) {
            for (index, value) in fields.enumerated() {
                if index > 0 { out.append(",") }
                if value.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" || $0 == "\r" }) {
                    out.append("\"")
                    out.append(value.replacingOccurrences(of: "\"", with: "\"\""))
                    out.append("\"")
                } else {
                    out.append(value)
                }
            }
            out.append("\n")
        }
        append(header)
        for row in rows { append(row) }
        return Data(out.utf8)
    }
}
