/// One argument of a Redis command: text, raw bytes (binary-safe) or a number sent as decimal text.
///
/// String and integer literals convert implicitly: `["HINCRBY", .bytes(key), "count", 1]`.
public struct RedisArgument: Sendable, Hashable, ExpressibleByStringInterpolation, ExpressibleByIntegerLiteral {
    enum Storage: Sendable, Hashable {
        case string(String)
        case bytes([UInt8])
        case integer(Int64)
        case double(Double)
    }

    let storage: Storage

    private init(_ storage: Storage) { self.storage = storage }

    /// UTF-8 text.
    public static func string(_ text: String) -> RedisArgument { RedisArgument(.string(text)) }
    /// Raw bytes, sent as they are (may contain NUL).
    public static func bytes(_ bytes: [UInt8]) -> RedisArgument { RedisArgument(.bytes(bytes)) }
    /// A decimal integer.
    public static func integer(_ value: some BinaryInteger) -> RedisArgument { RedisArgument(.integer(Int64(value))) }
    /// A number in Swift's shortest round-trip form (`0.1`, `1e-05`, `inf`), which Redis parses exactly.
    public static func double(_ value: Double) -> RedisArgument { RedisArgument(.double(value)) }

    public init(stringLiteral value: String) { self.storage = .string(value) }
    public init(integerLiteral value: Int64) { self.storage = .integer(value) }

    /// Appends the argument's wire bytes (without RESP framing) to `buffer`.
    func encode(into buffer: inout [UInt8]) {
        switch storage {
        case .string(let text): RedisArgument.appendUTF8(text, to: &buffer)
        case .bytes(let bytes): buffer.append(contentsOf: bytes)
        case .integer(let value): RedisArgument.appendDecimal(value, to: &buffer)
        case .double(let value): RedisArgument.appendUTF8(value.description, to: &buffer)
        }
    }

    static func appendUTF8(_ text: String, to buffer: inout [UInt8]) {
        let copied: Void? = text.utf8.withContiguousStorageIfAvailable { buffer.append(contentsOf: $0) }
        if copied == nil { buffer.append(contentsOf: text.utf8) }
    }

    /// Writes `value` in decimal without allocating an intermediate `String`.
    static func appendDecimal(_ value: Int64, to buffer: inout [UInt8]) {
        if value < 0 { buffer.append(UInt8(ascii: "-")) }
        var magnitude = value.magnitude
        let start = buffer.count
        repeat {
            buffer.append(UInt8(ascii: "0") + UInt8(magnitude % 10))
            magnitude /= 10
        } while magnitude > 0
        buffer[start...].reverse()
    }
}
