/// One RESP2 reply, copied out of hiredis' reply tree (so it outlives the connection's buffers).
public enum RedisReply: Sendable, Hashable, CustomStringConvertible {
    /// A simple string, e.g. `OK` or `PONG`.
    case status(String)
    /// An error reply, e.g. `WRONGTYPE Operation against a key holding the wrong kind of value`.
    /// `RedisConnection.execute` throws these as `.replyError`; pipelines return them in place.
    case error(String)
    case integer(Int64)
    /// A bulk string: arbitrary bytes (binary-safe).
    case bulk([UInt8])
    /// A null bulk string or null array (e.g. `GET` of a missing key).
    case null
    case array([RedisReply])

    public var isNull: Bool {
        if case .null = self { return true }
        return false
    }

    public var isError: Bool {
        if case .error = self { return true }
        return false
    }

    /// The server's error text for `.error`, else `nil`.
    public var errorMessage: String? {
        if case .error(let message) = self { return message }
        return nil
    }

    /// The bytes of a bulk string or status, else `nil`.
    public var bytesValue: [UInt8]? {
        switch self {
        case .bulk(let bytes): return bytes
        case .status(let text): return Array(text.utf8)
        default: return nil
        }
    }

    /// A status, or a bulk string that is valid UTF-8, else `nil`.
    public var stringValue: String? {
        switch self {
        case .status(let text): return text
        case .bulk(let bytes): return String(validating: bytes, as: UTF8.self)
        default: return nil
        }
    }

    /// An integer reply, or a bulk string/status holding a decimal integer (e.g. `HGET` of a counter).
    public var int64Value: Int64? {
        switch self {
        case .integer(let value): return value
        case .bulk, .status: return stringValue.flatMap { Int64($0) }
        default: return nil
        }
    }

    /// An integer reply, or a bulk string/status holding a number (e.g. `HINCRBYFLOAT`'s reply).
    public var doubleValue: Double? {
        switch self {
        case .integer(let value): return Double(value)
        case .bulk, .status: return stringValue.flatMap { Double($0) }
        default: return nil
        }
    }

    /// The elements of an array reply, else `nil` (a null array is `.null`).
    public var arrayValue: [RedisReply]? {
        if case .array(let elements) = self { return elements }
        return nil
    }

    public var description: String {
        switch self {
        case .status(let text): return "+\(text)"
        case .error(let text): return "-\(text)"
        case .integer(let value): return ":\(value)"
        case .null: return "(null)"
        case .array(let elements): return "[" + elements.map(\.description).joined(separator: ", ") + "]"
        case .bulk(let bytes):
            let shown = bytes.prefix(64).map { byte -> String in
                (0x20..<0x7f).contains(byte) && byte != UInt8(ascii: "\\") && byte != UInt8(ascii: "\"")
                    ? String(UnicodeScalar(byte)) : "\\x" + (byte < 16 ? "0" : "") + String(byte, radix: 16)
            }.joined()
            return "\"\(shown)\"" + (bytes.count > 64 ? "… (\(bytes.count) bytes)" : "")
        }
    }
}

extension Array where Element == RedisReply {
    /// Returns the replies unchanged, or throws `.replyError` for the first error reply, naming its
    /// index in the pipeline and the server's text.
    public func throwingErrors() throws(RedisError) -> [RedisReply] {
        for (index, reply) in enumerated() {
            if case .error(let message) = reply {
                throw RedisError(.replyError, message, commandIndex: index)
            }
        }
        return self
    }
}
