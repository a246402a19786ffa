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
        var meta = ByteWriter()
        meta.byte(Self.formatVersion)
        meta.byte(state.maxEventTime == nil ? 0 : 1)
        meta.int64(state.maxEventTime ?? 0)
        meta.int64(state.appliedCount)
        result.append((Self.metaField, meta.bytes))
        for slot in names.indices {
            result.append((names[slot], encodeWindow(state.windows[slot], aggregation: aggregations[slot])))
        }
        return result
    }

    private func encodeWindow(_ window: WindowState, aggregation: Aggregation) -> [UInt8] {
        var out = ByteWriter()
        out.uint32(UInt32(window.buckets.count))
        for bucket in window.buckets {
            out.int64(bucket.index)
            out.int64(bucket.count)
            switch aggregation {
            case .count: break
            case .sum, .mean: out.double(bucket.sum)
            case .min: out.double(bucket.min)
            case .max: out.double(bucket.max)
            case .distinctCount:
                out.uint32(UInt32(bucket.distinct.count))
                for value in bucket.distinct { out.string(value) }
            case .last, .secondsSinceLast:
                out.int64(bucket.lastSequence)
                out.double(bucket.lastValue)
                out.int64(bucket.lastTime)
            }
        }
        return out.bytes
    }

    /// Decodes the hash fields read back from Redis; an empty dictionary is an empty state.
    public func decode(_ fields: [String: [UInt8]]) throws(DecodingError) -> EntityState {
        var state = EntityState(windowCount: names.count)
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
                state.windows[slot] = try decodeWindow(bytes, aggregation: aggregations[slot])
            } catch {
                throw DecodingError(field: names[slot], reason: "truncated or corrupt")
            }
        }
        return state
    }

    private func decodeWindow(_ bytes: [UInt8], aggregation: Aggregation) throws -> WindowState {
        var reader = ByteReader(bytes)
        let count = Int(try reader.uint32())
        var window = WindowState()
        // The count comes from stored bytes: never trust it for an allocation larger than they can hold.
        window.buckets.reserveCapacity(min(count, reader.remaining / 16))
        for _ in 0..<count {
            var bucket = BucketAggregate(index: try reader.int64())
            bucket.count = try reader.int64()
            switch aggregation {
            case .count: break
            case .sum, .mean: bucket.sum = try reader.double()
            case .min: bucket.min = try reader.double()
            case .max: bucket.max = try reader.double()
            case .distinctCount:
                let distinctCount = Int(try reader.uint32())
                for _ in 0..<distinctCount { bucket.distinct.append(try reader.string()) }
            case .last, .secondsSinceLast:
                bucket.lastSequence = try reader.int64()
                bucket.lastValue = try reader.double()
                bucket.lastTime = try reader.int64()
            }
            window.buckets.append(bucket)
        }
        guard reader.isAtEnd else { throw ByteReader.Truncated() }
        return window
    }
}

/// Little-endian fixed-width writer.
struct ByteWriter {
    var bytes: [UInt8] = []
    mutating func byte(_ value: UInt8) { bytes.append(value) }
    mutating func uint32(_ value: UInt32) { withUnsafeBytes(of: value.littleEndian) { bytes.append(contentsOf: $0) } }
    mutating func int64(_ value: Int64) { withUnsafeBytes(of: value.littleEndian) { bytes.append(contentsOf: $0) } }
    mutating func double(_ value: Double) { int64(Int64(bitPattern: value.bitPattern)) }
    mutating func string(_ value: String) {
        uint32(UInt32(value.utf8.count))
        bytes.append(contentsOf: value.utf8)
    }
}

/// Reads what `ByteWriter` wrote; throws instead of trapping on short input.
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
