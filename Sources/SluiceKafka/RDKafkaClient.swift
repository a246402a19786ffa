import CRdKafka
import Logging
import Synchronization

/// Owns one `rd_kafka_t` handle. Internal: the public API is `KafkaConsumer`, `KafkaProducer`
/// and `KafkaAdmin`.
///
/// librdkafka handles are thread-safe, hence `@unchecked Sendable`; partition lists and
/// messages are not, and never leave the calling thread. Every method here may block: call
/// them from a dedicated thread, not from the Swift concurrency pool.
final class RDKafkaClient: @unchecked Sendable {
    enum Kind {
        case producer
        case consumer
        var raw: rd_kafka_type_t { self == .producer ? RD_KAFKA_PRODUCER : RD_KAFKA_CONSUMER }
    }

    let handle: OpaquePointer
    let logger: Logger

    /// Creates the handle. `configure` may install callbacks on the conf before it is consumed.
    init(kind: Kind, configuration: KafkaConfiguration, logger: Logger, configure: (OpaquePointer) -> Void = { _ in }) throws(KafkaError) {
        try LibrdkafkaVersion.requireSupported()
        let conf = try configuration.makeConf()
        configure(conf)
        var errorText = [CChar](repeating: 0, count: 512)
        guard let handle = rd_kafka_new(kind.raw, conf, &errorText, errorText.count) else {
            rd_kafka_conf_destroy(conf)
            let reason = errorText.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
            throw KafkaError(.clientCreation, reason)
        }
        self.handle = handle
        self.logger = logger
    }

    deinit {
        rd_kafka_destroy(handle)
    }

    var name: String { String(cString: rd_kafka_name(handle)) }

    /// Serves queued callbacks (delivery reports, errors, statistics).
    @discardableResult
    func poll(timeoutMs: Int32) -> Int32 { rd_kafka_poll(handle, timeoutMs) }

    /// Number of partitions of `topic`, from fresh metadata.
    func partitionCount(topic: String, timeoutMs: Int32) throws(KafkaError) -> Int {
        guard let topicHandle = rd_kafka_topic_new(handle, topic, nil) else {
            throw KafkaError(.metadata, "cannot create a handle for topic \(topic)")
        }
        defer { rd_kafka_topic_destroy(topicHandle) }
        var metadata: UnsafePointer<rd_kafka_metadata>?
        let result = rd_kafka_metadata(handle, 0, topicHandle, &metadata, timeoutMs)
        guard result == RD_KAFKA_RESP_ERR_NO_ERROR, let metadata else {
            throw KafkaError(.metadata, "metadata for \(topic)", response: result)
        }
        defer { rd_kafka_metadata_destroy(metadata) }
        guard metadata.pointee.topic_cnt > 0 else { throw KafkaError(.metadata, "no metadata for topic \(topic)") }
        let topicMetadata = metadata.pointee.topics[0]
        guard topicMetadata.err == RD_KAFKA_RESP_ERR_NO_ERROR else {
            throw KafkaError(.metadata, "metadata for \(topic)", response: topicMetadata.err)
        }
        return Int(topicMetadata.partition_cnt)
    }

    /// Low and high watermark offsets of one partition, asked of the broker.
    func watermarks(topic: String, partition: Int32, timeoutMs: Int32) throws(KafkaError) -> (low: Int64, high: Int64) {
        var low: Int64 = 0
        var high: Int64 = 0
        let result = rd_kafka_query_watermark_offsets(handle, topic, partition, &low, &high, timeoutMs)
        guard result == RD_KAFKA_RESP_ERR_NO_ERROR else {
            throw KafkaError(.metadata, "watermarks of \(topic)[\(partition)]", response: result)
        }
        return (low, high)
    }

    /// Routes librdkafka's log lines and error events into swift-log. Installed on every conf.
    static func installLogging(on conf: OpaquePointer) {
        rd_kafka_conf_set_log_cb(conf) { handle, level, facility, message in
            guard let handle, let opaque = rd_kafka_opaque(handle) else { return }
            let sink = Unmanaged<CallbackSink>.fromOpaque(opaque).takeUnretainedValue()
            let text = "\(facility.map { String(cString: $0) } ?? ""): \(message.map { String(cString: $0) } ?? "")"
            switch level {
            case 0...3: sink.logger.error("\(text)")
            case 4: sink.logger.warning("\(text)")
            case 5, 6: sink.logger.info("\(text)")
            default: sink.logger.debug("\(text)")
            }
        }
        rd_kafka_conf_set_error_cb(conf) { handle, code, reason, opaque in
            guard let opaque else { return }
            let sink = Unmanaged<CallbackSink>.fromOpaque(opaque).takeUnretainedValue()
            let error = rd_kafka_resp_err_t(rawValue: code)
            let text = reason.map { String(cString: $0) } ?? ""
            if error == RD_KAFKA_RESP_ERR__FATAL, let handle {
                var detail = [CChar](repeating: 0, count: 512)
                let original = rd_kafka_fatal_error(handle, &detail, detail.count)
                let detailText = detail.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
                sink.recordFatal(KafkaError(
                    original == RD_KAFKA_RESP_ERR__FENCED || original == RD_KAFKA_RESP_ERR_PRODUCER_FENCED ? .fenced : .transaction,
                    "fatal: \(detailText)", librdkafkaCode: original.rawValue, isFatal: true))
            }
            sink.logger.warning("librdkafka: \(String(cString: rd_kafka_err2name(error))): \(text)")
        }
    }
}

/// The Swift object reachable from librdkafka callbacks through the handle's opaque pointer.
/// It must outlive the handle; owners keep it in a stored property and destroy the handle first.
class CallbackSink: @unchecked Sendable {
    let logger: Logger
    private let lock = Mutex(())
    private var fatal: KafkaError?

    init(logger: Logger) { self.logger = logger }

    func recordFatal(_ error: KafkaError) {
        lock.withLock { _ in if fatal == nil { fatal = error } }
    }

    /// The first fatal error librdkafka reported, if any.
    var fatalError: KafkaError? { lock.withLock { _ in fatal } }
}
