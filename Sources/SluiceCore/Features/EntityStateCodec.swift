/// Encodes entity state as the fields of one Redis hash (layout in docs/features.md).
///
/// Field `_meta` holds the format version, M and the applied count; each windowed feature has a
/// field named after it holding its buckets, with only the numbers its aggregation needs.
/// A feature missing from the hash (e.g. added to the topology later) decodes as empty.
public struct EntityStateCodec: Sendable {
    public static let metaField = "_meta"
    public static let formatVersion: UInt8 = 1

    public struct DecodingError: Error, Equatable, Sendable, CustomStringConvertible {
        public let field: String
        public let reason: String
        public var description: String { "entity state field \"\(field)\": \(reason)" }
    }

    private let names: [String]
    private let aggregations: [Aggregation]

    public init(featureSet: FeatureSet) {
        var names: [String] = []
        var aggregations: [Aggregation] = []
        for index in featureSet.windowedIndices {
            guard case .windowed(let feature) = featureSet.features[index].kind else { continue }
            names.append(featureSet.features[index].name)
            aggregations.append(feature.aggregation)
        }
        self.names = names
        self.aggregations = aggregations
    }

    /// The hash fields this codec writes, `_meta` first.
    public var fieldNames: [String] { [Self.metaField] + names }

    public func encode(_ state: EntityState) -> [(field: String, value: [UInt8])] {
        var result: [(field: String, value: [UInt8])] = []
        result.reserveCapacity(names.count + 1)
        encode(state) { field, byteCount, write in
            result.append((field, [UInt8](unsafeUninitializedCapacity: byteCount) { buffer, initialized in
                write(UnsafeMutableRawPointer(buffer.baseAddress!))
                initialized = byteCount
            }))
        }
        return result
    }

    /// Encodes `state` field by field without building byte arrays: `emit` gets each field's name,
    /// its value's exact size and a function that writes the value to memory of that size (e.g.
    /// straight into a Redis command buffer). Same bytes as `encode(_:)`.
    public func encode(_ state: EntityState, _ emit: (_ field: String, _ byteCount: Int, _ write: (UnsafeMutableRawPointer) -> Void) -> Void) {
        emit(Self.metaField, 18) { out in
            var writer = RawByteWriter(out)
            writer.byte(Self.formatVersion)
            writer.byte(state.maxEventTime == nil ? 0 : 1)
            writer.int64(state.maxEventTime ?? 0)
            writer.int64(state.appliedCount)
        }
        for slot in names.indices {
            let header = state.words[2 * slot]
            let stride = PackedWindowLayout.stride(header)
            let count = PackedWindowLayout.count(state.words[2 * slot + 1])
            state.words.withUnsafeBufferPointer { words in
                let buckets = UnsafeBufferPointer(rebasing: words[PackedWindowLayout.start(header)..<PackedWindowLayout.start(header) + count * stride])
                if aggregations[slot] == .distinctCount {
                    let values = state.distinctWindows[PackedWindowLayout.side(header)].perBucket
                    emit(names[slot], Self.distinctFieldSize(values)) { out in
                        Self.writeDistinctField(buckets, values, to: out)
                    }
                } else {
                    // A packed window's words are its field's numbers in order (PackedWindowLayout).
                    emit(names[slot], 4 + buckets.count * 8) { out in
                        var writer = RawByteWriter(out)
                        writer.uint32(UInt32(count))
                        writer.int64s(buckets)
                    }
                }
            }
        }
    }

    /// Size of a distinct count's field: per bucket its index, count and values.
    private static func distinctFieldSize(_ values: [[String]]) -> Int {
        var size = 4 + values.count * 20
        for bucket in values {
            for value in bucket { size += 4 + value.utf8.count }
        }
        return size
    }

    /// A distinct count's field from its packed buckets (index, count, tally) and their values.
    private static func writeDistinctField(_ buckets: UnsafeBufferPointer<UInt64>, _ values: [[String]], to out: UnsafeMutableRawPointer) {
        var writer = RawByteWriter(out)
        writer.uint32(UInt32(values.count))
        let stride = PackedWindowLayout.stride(.distinctCount)
        for k in values.indices {
            writer.int64(Int64(bitPattern: buckets[k * stride]))
            writer.int64(Int64(bitPattern: buckets[k * stride + 1]))
            writer.uint32(UInt32(values[k].count))
            for value in values[k] { writer.string(value) }
        }
    }

    /// Decodes the hash fields read back from Redis; an empty dictionary is an empty state.
    public func decode(_ fields: [String: [UInt8]]) throws(DecodingError) -> EntityState {
        var state = EntityState(aggregations: aggregations)
        guard let meta = fields[Self.metaField] else {
            guard fields.isEmpty else { throw DecodingError(field: Self.metaField, reason: "missing while other fields exist") }
            return state
        }
        var reader = ByteReader(meta)
        do {
            let version = try reader.byte()
            guard version == Self.formatVersion else {
                throw DecodingError(field: Self.metaField, reason: "unknown format version \(version)")
            }
            let hasMax = try reader.byte()
            guard hasMax <= 1 else { throw DecodingError(field: Self.metaField, reason: "invalid flag \(hasMax)") }
            let maxTime = try reader.int64()
            state.maxEventTime = hasMax == 0 ? nil : maxTime
            state.appliedCount = try reader.int64()
            guard reader.isAtEnd else { throw DecodingError(field: Self.metaField, reason: "unexpected trailing bytes") }
        } catch let error as DecodingError {
            throw error
        } catch {
            throw DecodingError(field: Self.metaField, reason: "truncated")
        }
        for slot in names.indices {
            guard let bytes = fields[names[slot]] else { continue }
            do {
                try decodeWindow(bytes, slot: slot, into: &state)
            } catch {
                throw DecodingError(field: names[slot], reason: "truncated or corrupt")
            }
        }
        return state
    }

    private func decodeWindow(_ bytes: [UInt8], slot: Int, into state: inout EntityState) throws {
        let aggregation = aggregations[slot]
        var reader = ByteReader(bytes)
        let count = Int(try reader.uint32())
        let stride = PackedWindowLayout.stride(aggregation)
        guard aggregation == .distinctCount else {
            guard reader.remaining == count * stride * 8 else { throw ByteReader.Truncated() }
            state.growRegion(slot, toCapacity: count)
            let start = PackedWindowLayout.start(state.words[2 * slot])
            let offset = reader.offset
            state.words.withUnsafeMutableBufferPointer { words in
                bytes.withUnsafeBytes { raw in
                    for k in 0..<count * stride {
                        words[start + k] = UInt64(littleEndian: raw.loadUnaligned(fromByteOffset: offset + 8 * k, as: UInt64.self))
                    }
                }
            }
            state.setCount(slot, count)
            return
        }
        var buckets: [BucketAggregate] = []
        // The count comes from stored bytes: never trust it for an allocation larger than they can hold.
        buckets.reserveCapacity(min(count, reader.remaining / 16))
        for _ in 0..<count {
            var bucket = BucketAggregate(index: try reader.int64())
            bucket.count = try reader.int64()
            let distinctCount = Int(try reader.uint32())
            for _ in 0..<distinctCount { bucket.distinct.append(try reader.string()) }
            buckets.append(bucket)
        }
        guard reader.isAtEnd else { throw ByteReader.Truncated() }
        state.replaceWindow(slot, with: WindowState(buckets: buckets))
    }
}

/// Little-endian fixed-width writer into memory the caller sized (`encodedSize`): one unaligned
/// store per number, where appending to an array checked its capacity for every byte run.
struct RawByteWriter {
    private var cursor: UnsafeMutableRawPointer
    init(_ start: UnsafeMutableRawPointer) { cursor = start }
    mutating func byte(_ value: UInt8) {
        cursor.storeBytes(of: value, as: UInt8.self)
        cursor += 1
    }
    mutating func uint32(_ value: UInt32) {
        cursor.storeBytes(of: value.littleEndian, as: UInt32.self)
        cursor += 4
    }
    mutating func int64(_ value: Int64) {
        cursor.storeBytes(of: value.littleEndian, as: Int64.self)
        cursor += 8
    }
    mutating func double(_ value: Double) { int64(Int64(bitPattern: value.bitPattern)) }
    /// Little-endian words: one copy on little-endian hosts.
    mutating func int64s(_ words: UnsafeBufferPointer<UInt64>) {
        #if _endian(little)
        if let base = words.baseAddress { cursor.copyMemory(from: base, byteCount: words.count * 8) }
        cursor += words.count * 8
        #else
        for word in words { int64(Int64(bitPattern: word)) }
        #endif
    }
    mutating func string(_ value: String) {
        var value = value
        value.withUTF8 { utf8 in
            uint32(UInt32(utf8.count))
            if let base = utf8.baseAddress { cursor.copyMemory(from: base, byteCount: utf8.count) }
            cursor += utf8.count
        }
    }
}

/// Reads what `RawByteWriter` wrote; throws instead of trapping on short input.
struct ByteReader {
    struct Truncated: Error {}
    let bytes: [UInt8]
    var offset = 0
    init(_ bytes: [UInt8]) { self.bytes = bytes }
    var isAtEnd: Bool { offset == bytes.count }
    var remaining: Int { bytes.count - offset }

    mutating func take(_ count: Int) throws -> ArraySlice<UInt8> {
        guard count >= 0, bytes.count - offset >= count else { throw Truncated() }
        defer { offset += count }
        return bytes[offset..<offset + count]
    }
    mutating func byte() throws -> UInt8 { try take(1).first! }
    mutating func uint32() throws -> UInt32 {
        try take(4).reversed().reduce(0) { $0 << 8 | UInt32($1) }
    }
    mutating func int64() throws -> Int64 {
        Int64(bitPattern: try take(8).reversed().reduce(UInt64(0)) { $0 << 8 | UInt64($1) })
    }
    mutating func double() throws -> Double { Double(bitPattern: UInt64(bitPattern: try int64())) }
    mutating func string() throws -> String {
        let length = Int(try uint32())
        guard let text = String(validating: try take(length), as: UTF8.self) else { throw Truncated() }
        return text
    }
}
