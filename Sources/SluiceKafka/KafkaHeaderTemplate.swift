import CRdKafka

/// Record headers already in librdkafka's form, built once and copied into every record that
/// carries them: a batch's decisions share all their headers but the source offset, and
/// converting `[KafkaHeader]` per record (Swift arrays, C strings, retains) cost more than the
/// copy (docs/performance.md).
///
/// Threading: immutable after `init`; any thread may copy from it.
public final class KafkaHeaderTemplate: @unchecked Sendable {
    let handle: OpaquePointer

    public init(_ headers: [KafkaHeader]) {
        handle = rd_kafka_headers_new(max(headers.count, 1))
        for header in headers {
            KafkaHeaderList.add(to: handle, name: header.name, value: header.value)
        }
    }

    /// How many headers a record gets from this template.
    public var count: Int { rd_kafka_header_cnt(handle) }

    deinit { rd_kafka_headers_destroy(handle) }
}

/// The headers of one record being produced, appended piece by piece (`KafkaProducer.produce(
/// topic:key:value:buildingHeaders:)`), then owned by librdkafka once the record is queued.
public struct KafkaHeaderList: ~Copyable {
    let handle: OpaquePointer

    init(capacity: Int) { handle = rd_kafka_headers_new(max(capacity, 1)) }

    /// Appends a copy of every header of `template`, in order.
    public func append(_ template: KafkaHeaderTemplate) {
        sluice_headers_append_all(handle, template.handle)
    }

    /// Appends one header whose value is `value`'s decimal digits (no String is built).
    public func append(name: String, decimal value: Int64) {
        // 20 digits and a sign hold any Int64.
        withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 21) { buffer in
            var magnitude = value.magnitude
            var start = buffer.count
            repeat {
                start -= 1
                buffer[start] = UInt8(ascii: "0") + UInt8(magnitude % 10)
                magnitude /= 10
            } while magnitude > 0
            if value < 0 {
                start -= 1
                buffer[start] = UInt8(ascii: "-")
            }
            _ = rd_kafka_header_add(handle, name, -1, buffer.baseAddress! + start, buffer.count - start)
        }
    }

    public func append(_ header: KafkaHeader) {
        Self.add(to: handle, name: header.name, value: header.value)
    }

    static func add(to handle: OpaquePointer, name: String, value: [UInt8]?) {
        if let value {
            value.withUnsafeBytes { _ = rd_kafka_header_add(handle, name, -1, $0.baseAddress, $0.count) }
        } else {
            _ = rd_kafka_header_add(handle, name, -1, nil, 0)
        }
    }

    /// Hands the list to librdkafka (a queued record owns its headers).
    consuming func release() -> OpaquePointer {
        let handle = self.handle
        discard self
        return handle
    }

    deinit { rd_kafka_headers_destroy(handle) }
}
