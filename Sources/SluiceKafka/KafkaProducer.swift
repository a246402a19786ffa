import CRdKafka
import Logging
import Synchronization

/// An idempotent (optionally transactional) producer whose delivery failures are never silent.
///
/// Every produced record is tracked until its delivery report arrives; `flush` waits for all
/// of them and throws if any failed, so the caller can refuse to commit input offsets.
///
/// Threading: `produce`, `flush` and the transaction calls block; keep them off the cooperative
/// pool. `produce` may run on another thread than the transaction calls (the exactly-once
/// pipeline produces from its output thread) provided the caller never produces while a
/// transaction begins, commits or aborts. Delivery reports run inside `poll`/`flush` on the
/// calling thread; their bookkeeping is locked.
public final class KafkaProducer: @unchecked Sendable {
    private let client: RDKafkaClient
    private let sink: ProducerSink
    public let logger: Logger
    public let isTransactional: Bool
    public let transactionalID: String?
    /// Topic handles by name (`rd_kafka_topic_t *` as bit patterns), so a record is not routed by
    /// name: librdkafka locks the client and searches its topics for every by-name produce.
    private let topicHandles = Mutex<[String: UInt]>([:])

    public static let enforcedProperties: [String: String] = [
        "enable.idempotence": "true",
    ]

    /// Properties that belong to consumers only; stripped so one configuration map can serve both.
    static let consumerOnlyProperties = [
        "group.id", "group.instance.id", "isolation.level", "auto.offset.reset", "session.timeout.ms", "heartbeat.interval.ms",
        "partition.assignment.strategy", "enable.partition.eof", "enable.auto.commit", "enable.auto.offset.store",
        "max.poll.interval.ms", "fetch.min.bytes", "fetch.wait.max.ms", "queued.min.messages",
    ]

    public init(configuration: KafkaConfiguration, logger: Logger) throws(KafkaError) {
        let sink = ProducerSink(logger: logger)
        var effective = configuration.overriding(Self.enforcedProperties)
        for key in Self.consumerOnlyProperties { effective.properties.removeValue(forKey: key) }
        client = try RDKafkaClient(kind: .producer, configuration: effective, logger: logger) { conf in
            RDKafkaClient.installLogging(on: conf)
            rd_kafka_conf_set_opaque(conf, Unmanaged.passUnretained(sink).toOpaque())
            rd_kafka_conf_set_dr_msg_cb(conf) { _, message, opaque in
                guard let message, let opaque else { return }
                Unmanaged<ProducerSink>.fromOpaque(opaque).takeUnretainedValue().delivered(message)
            }
        }
        self.sink = sink
        self.logger = logger
        self.transactionalID = configuration["transactional.id"]
        self.isTransactional = configuration["transactional.id"] != nil
    }

    deinit {
        // Give queued records a bounded chance; records still undelivered are reported by flush callers.
        rd_kafka_flush(client.handle, 2000)
        // Topic handles go before the client (`rd_kafka_destroy` waits for them otherwise).
        topicHandles.withLock { handles in
            for bits in handles.values { rd_kafka_topic_destroy(OpaquePointer(bitPattern: bits)) }
        }
    }

    /// Queues one record. Retries while librdkafka's queue is full (serving delivery reports).
    public func produce(topic: String, partition: Int32? = nil, key: [UInt8]?, value: [UInt8], headers: [KafkaHeader] = []) throws(KafkaError) {
        try produce(topic: topic, partition: partition, key: key, value: value, headerCount: headers.count) { list in
            for header in headers { list.append(header) }
        }
    }

    /// Queues one record whose headers `buildHeaders` appends to an empty list (sized for
    /// `headerCount`; none are built when it is 0). `buildHeaders` runs again for each retry
    /// while librdkafka's queue is full. The hot path of the pipeline's outputs: with
    /// `KafkaHeaderTemplate`s no Swift value is built per record.
    public func produce(topic: String, partition: Int32? = nil, key: [UInt8]?, value: [UInt8], headerCount: Int,
                        buildingHeaders buildHeaders: (borrowing KafkaHeaderList) -> Void) throws(KafkaError) {
        if let fatal = sink.fatalError { throw fatal }
        let topicHandle = try handle(ofTopic: topic)
        while true {
            var headerList: OpaquePointer?
            if headerCount > 0 {
                let list = KafkaHeaderList(capacity: headerCount)
                buildHeaders(list)
                headerList = list.release()
            }
            sink.willProduce()
            let result: rd_kafka_resp_err_t = value.withUnsafeBytes { valueBytes in
                let keyBytes = key ?? []
                return keyBytes.withUnsafeBytes { keyBuffer in
                    sluice_produce_rkt(
                        client.handle, topicHandle, partition ?? RD_KAFKA_PARTITION_UA,
                        key == nil ? nil : keyBuffer.baseAddress, key == nil ? 0 : keyBuffer.count,
                        valueBytes.baseAddress, valueBytes.count, headerList, nil)
                }
            }
            if result == RD_KAFKA_RESP_ERR_NO_ERROR { return }
            sink.didNotProduce()
            if let headerList { rd_kafka_headers_destroy(headerList) }
            if result == RD_KAFKA_RESP_ERR__QUEUE_FULL {
                client.poll(timeoutMs: 10)
                continue
            }
            throw KafkaError(.produce, "produce to \(topic)", response: result)
        }
    }

    /// The topic's librdkafka handle, created on first use and kept until the producer goes.
    private func handle(ofTopic name: String) throws(KafkaError) -> OpaquePointer {
        let bits: UInt? = topicHandles.withLock { handles in
            if let bits = handles[name] { return bits }
            guard let created = rd_kafka_topic_new(client.handle, name, nil) else { return nil }
            let bits = UInt(bitPattern: Int(bitPattern: UnsafeRawPointer(created)))
            handles[name] = bits
            return bits
        }
        guard let bits, let handle = OpaquePointer(bitPattern: bits) else {
            throw KafkaError(.produce, "topic handle for \(name)", response: rd_kafka_last_error())
        }
        return handle
    }

    /// Serves delivery reports without blocking.
    public func poll() { client.poll(timeoutMs: 0) }

    /// Waits until every queued record is delivered or failed; throws the first failure
    /// since the last `flush`, or a timeout naming how many records are still in flight.
    public func flush(timeoutMs: Int32) throws(KafkaError) {
        let result = rd_kafka_flush(client.handle, timeoutMs)
        if let failure = sink.takeFailure() { throw failure }
        if result != RD_KAFKA_RESP_ERR_NO_ERROR {
            throw KafkaError(.timeout, "flush: \(sink.inFlightCount) records undelivered after \(timeoutMs) ms", response: result)
        }
    }

    /// Records produced and not yet acknowledged or failed.
    public var inFlight: Int { sink.inFlightCount }
    public var deliveredCount: Int { sink.deliveredCount }

    // MARK: Transactions (requires `transactional.id`)

    public func initTransactions(timeoutMs: Int32) throws(KafkaError) {
        if let error = rd_kafka_init_transactions(client.handle, timeoutMs) {
            throw KafkaError(.transaction, "init_transactions", consuming: error)
        }
    }

    public func beginTransaction() throws(KafkaError) {
        if let error = rd_kafka_begin_transaction(client.handle) {
            throw KafkaError(.transaction, "begin_transaction", consuming: error)
        }
    }

    /// Adds the consumer's next offsets to the open transaction, fenced by its group metadata.
    public func sendOffsetsToTransaction(_ offsets: [TopicPartitionOffset], consumer: KafkaConsumer, timeoutMs: Int32) throws(KafkaError) {
        guard !offsets.isEmpty else { return }
        let list = PartitionList.make(offsets)
        defer { rd_kafka_topic_partition_list_destroy(list) }
        guard let metadata = consumer.groupMetadata() else { throw KafkaError(.transaction, "no consumer group metadata") }
        defer { rd_kafka_consumer_group_metadata_destroy(metadata) }
        if let error = rd_kafka_send_offsets_to_transaction(client.handle, list, metadata, timeoutMs) {
            throw KafkaError(.transaction, "send_offsets_to_transaction", consuming: error)
        }
    }

    public func commitTransaction(timeoutMs: Int32) throws(KafkaError) {
        if let error = rd_kafka_commit_transaction(client.handle, timeoutMs) {
            throw KafkaError(.transaction, "commit_transaction", consuming: error)
        }
        if let failure = sink.takeFailure() { throw failure }
    }

    public func abortTransaction(timeoutMs: Int32) throws(KafkaError) {
        if let error = rd_kafka_abort_transaction(client.handle, timeoutMs) {
            throw KafkaError(.transaction, "abort_transaction", consuming: error)
        }
        _ = sink.takeFailure()  // records of an aborted transaction are expected to fail
    }
}

/// Delivery-report bookkeeping shared with librdkafka's callback.
final class ProducerSink: CallbackSink, @unchecked Sendable {
    private let countLock = Mutex(())
    private var inFlight = 0
    private var delivered = 0
    private var failure: KafkaError?
    private var failedCount = 0

    func willProduce() { countLock.withLock { _ in inFlight += 1 } }
    func didNotProduce() { countLock.withLock { _ in inFlight -= 1 } }

    var inFlightCount: Int { countLock.withLock { _ in inFlight } }
    var deliveredCount: Int { countLock.withLock { _ in delivered } }

    func delivered(_ message: UnsafePointer<rd_kafka_message_t>) {
        let error = message.pointee.err
        // The topic's name only for a failure: a String per delivered record was an allocation each.
        let topic = error == RD_KAFKA_RESP_ERR_NO_ERROR ? "" : message.pointee.rkt.map { String(cString: rd_kafka_topic_name($0)) } ?? "?"
        countLock.withLock { _ in
            inFlight -= 1
            if error == RD_KAFKA_RESP_ERR_NO_ERROR {
                delivered += 1
            } else {
                failedCount += 1
                if failure == nil {
                    failure = KafkaError(.delivery, "delivery to \(topic) failed", response: error)
                }
            }
        }
    }

    /// The first delivery failure since the previous call, with the count of all of them.
    func takeFailure() -> KafkaError? {
        countLock.withLock { _ in
            defer {
                failure = nil
                failedCount = 0
            }
            guard let failure else { return nil }
            return KafkaError(.delivery, "\(failure.message) (\(failedCount) records failed)", librdkafkaCode: failure.librdkafkaCode)
        }
    }
}
