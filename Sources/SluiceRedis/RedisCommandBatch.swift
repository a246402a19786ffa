/// Commands encoded back to back in one reusable byte buffer, for `RedisConnection.pipeline(_:)`.
///
/// Appending copies each argument's bytes into the batch's buffer, so building a batch costs no
/// heap allocation per argument once the buffers have grown; `removeAll(keepingCapacity:)` lets a
/// caller reuse one batch for every pipeline. Not thread-safe (a value type: one owner at a time).
public struct RedisCommandBatch: Sendable {
    /// Every argument's bytes, concatenated.
    private(set) var bytes: [UInt8] = []
    /// The byte length of each argument, in order.
    private(set) var argumentLengths: [Int] = []
    /// The number of arguments of each command, in order.
    private(set) var argumentCounts: [Int] = []

    public init() {}

    /// The number of commands.
    public var count: Int { argumentCounts.count }
    public var isEmpty: Bool { argumentCounts.isEmpty }

    /// Appends one command, e.g. `batch.append(["HINCRBY", .bytes(key), "n", 1])`.
    public mutating func append(_ arguments: [RedisArgument]) {
        for argument in arguments {
            let start = bytes.count
            argument.encode(into: &bytes)
            argumentLengths.append(bytes.count - start)
        }
        argumentCounts.append(arguments.count)
    }

    /// Appends one command, e.g. `batch.append("SET", "k", .bytes(value))`.
    public mutating func append(_ arguments: RedisArgument...) {
        append(arguments)
    }

    /// Appends one command whose arguments `encode` writes straight into the batch's buffer
    /// (no `[RedisArgument]` array). If `encode` throws, the batch is left as it was.
    public mutating func appendCommand(_ encode: (inout RedisCommandEncoder) throws -> Void) rethrows {
        var encoder = RedisCommandEncoder(bytes: [], argumentLengths: [])
        swap(&encoder.bytes, &bytes)
        swap(&encoder.argumentLengths, &argumentLengths)
        let byteCount = encoder.bytes.count
        let argumentCount = encoder.argumentLengths.count
        var succeeded = false
        defer {
            if !succeeded {
                encoder.bytes.removeSubrange(byteCount...)
                encoder.argumentLengths.removeSubrange(argumentCount...)
            }
            swap(&encoder.bytes, &bytes)
            swap(&encoder.argumentLengths, &argumentLengths)
            if succeeded { argumentCounts.append(argumentLengths.count - argumentCount) }
        }
        try encode(&encoder)
        succeeded = true
    }

    /// Removes every command; keeping the capacity makes the next batch allocation-free.
    public mutating func removeAll(keepingCapacity: Bool = true) {
        bytes.removeAll(keepingCapacity: keepingCapacity)
        argumentLengths.removeAll(keepingCapacity: keepingCapacity)
        argumentCounts.removeAll(keepingCapacity: keepingCapacity)
    }

    /// The index of the first command without arguments (which Redis would never answer).
    var indexOfFirstEmptyCommand: Int? { argumentCounts.firstIndex(of: 0) }

    /// The first argument of command `index` as text (for error messages), at most 32 bytes.
    func commandName(at index: Int) -> String? {
        guard argumentCounts.indices.contains(index), argumentCounts[index] > 0 else { return nil }
        let firstArgument = argumentCounts[..<index].reduce(0, +)
        let offset = argumentLengths[..<firstArgument].reduce(0, +)
        let length = min(argumentLengths[firstArgument], 32)
        return String(decoding: bytes[offset..<offset + length], as: UTF8.self)
    }

    /// Calls `body` once per command, in order, with hiredis-style `argc`, `argv` and `argvlen`,
    /// all pointing into the batch's buffers (valid only during the call). `argvScratch` is reused
    /// across commands and calls to hold the pointers.
    func withEachCommandArgv<E: Error>(
        argvScratch: inout [UnsafePointer<CChar>?],
        _ body: (_ index: Int, _ argc: Int32, _ argv: UnsafeMutablePointer<UnsafePointer<CChar>?>, _ argvlen: UnsafePointer<Int>) throws(E) -> Void
    ) throws(E) {
        try bytes.withUnsafeBufferPointer { buffer throws(E) in
            // An empty buffer may have no base address; zero-length arguments still need a valid pointer.
            let base = buffer.baseAddress.map(UnsafeRawPointer.init) ?? UnsafeRawPointer(RedisCommandBatch.emptyArgument.utf8Start)
            try argumentLengths.withUnsafeBufferPointer { lengths throws(E) in
                var argument = 0
                var offset = 0
                for (index, argc) in argumentCounts.enumerated() {
                    argvScratch.removeAll(keepingCapacity: true)
                    for length in lengths[argument..<argument + argc] {
                        argvScratch.append((base + offset).assumingMemoryBound(to: CChar.self))
                        offset += length
                    }
                    try argvScratch.withUnsafeMutableBufferPointer { argv throws(E) in
                        try body(index, Int32(argc), argv.baseAddress!, lengths.baseAddress! + argument)
                    }
                    argument += argc
                }
            }
        }
    }

    private static let emptyArgument: StaticString = ""
}

/// Writes the arguments of one command into a `RedisCommandBatch` (see `appendCommand(_:)`).
public struct RedisCommandEncoder {
    var bytes: [UInt8]
    var argumentLengths: [Int]

    public mutating func append(_ argument: RedisArgument) {
        let start = bytes.count
        argument.encode(into: &bytes)
        argumentLengths.append(bytes.count - start)
    }

    /// UTF-8 text.
    public mutating func append(_ text: String) {
        let start = bytes.count
        RedisArgument.appendUTF8(text, to: &bytes)
        argumentLengths.append(bytes.count - start)
    }

    /// Raw bytes (binary-safe).
    public mutating func append(bytes argumentBytes: some Sequence<UInt8>) {
        let start = bytes.count
        bytes.append(contentsOf: argumentBytes)
        argumentLengths.append(bytes.count - start)
    }

    /// Raw bytes of a known size, written by `write` straight into the batch's buffer (which
    /// holds `byteCount` bytes at the pointer it gets; write all of them).
    public mutating func append(byteCount: Int, _ write: (UnsafeMutableRawPointer) -> Void) {
        let start = bytes.count
        bytes.append(contentsOf: repeatElement(0, count: byteCount))
        bytes.withUnsafeMutableBytes { write($0.baseAddress! + start) }
        argumentLengths.append(byteCount)
    }

    /// A decimal integer.
    public mutating func append(_ value: Int64) {
        let start = bytes.count
        RedisArgument.appendDecimal(value, to: &bytes)
        argumentLengths.append(bytes.count - start)
    }

    /// A decimal integer.
    public mutating func append(_ value: Int) { append(Int64(value)) }

    /// A number in Swift's shortest round-trip form.
    public mutating func append(_ value: Double) { append(.double(value)) }
}
