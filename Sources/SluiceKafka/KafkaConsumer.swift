import CRdKafka
import Logging
import Synchronization

/// A partition assignment change, delivered on the polling thread during `poll`.
public enum RebalanceEvent: Sendable {
    case assigned([TopicPartition])
    /// Called before the partitions are taken away: the handler must finish (or abandon)
    /// every piece of work for them and commit what it completed before returning.
    case revoked([TopicPartition])
}

/// A consumer-group member (`subscribe`) or a manually assigned reader (`assign`, for replay).
///
/// Offsets are never committed automatically: the owner commits after a batch's outputs are
/// delivered (`commit(_:)`), so a crash re-delivers rather than loses.
///
/// Threading: all methods block and must be called from one dedicated thread (the pipeline's);
/// the rebalance handler runs on that thread inside `poll`.
public final class KafkaConsumer: @unchecked Sendable {
    private let client: RDKafkaClient
    private let sink: ConsumerSink
    private let queue: OpaquePointer
    private var closed = false
    public let logger: Logger

    /// Properties Sluice's delivery guarantees depend on; they override user settings.
    public static let enforcedProperties: [String: String] = [
        "enable.auto.commit": "false",
        "enable.auto.offset.store": "false",
        "enable.partition.eof": "true",
    ]

    public static let defaultProperties: [String: String] = [
        "auto.offset.reset": "earliest",
        "isolation.level": "read_committed",
    ]

    public init(configuration: KafkaConfiguration, logger: Logger) throws(KafkaError) {
        guard configuration["group.id"] != nil else { throw KafkaError(.configuration, "group.id is required for a consumer") }
        let sink = ConsumerSink(logger: logger)
        let effective = configuration.withDefaults(Self.defaultProperties).overriding(Self.enforcedProperties)
        client = try RDKafkaClient(kind: .consumer, configuration: effective, logger: logger) { conf in
            RDKafkaClient.installLogging(on: conf)
            rd_kafka_conf_set_opaque(conf, Unmanaged.passUnretained(sink).toOpaque())
            rd_kafka_conf_set_rebalance_cb(conf) { handle, error, partitions, opaque in
                guard let handle, let partitions, let opaque else { return }
                Unmanaged<ConsumerSink>.fromOpaque(opaque).takeUnretainedValue().rebalance(handle: handle, error: error, partitions: partitions)
            }
        }
        self.sink = sink
        self.logger = logger
        // Route the main queue (errors, logs, rebalances) into the consumer queue polled below.
        rd_kafka_poll_set_consumer(client.handle)
        queue = rd_kafka_queue_get_consumer(client.handle)
    }

    deinit {
        if !closed { rd_kafka_consumer_close(client.handle) }
        rd_kafka_queue_destroy(queue)
    }

    /// Called on the polling thread for every assignment change.
    public var rebalanceHandler: (@Sendable (RebalanceEvent) -> Void)? {
        get { sink.handler }
        set { sink.handler = newValue }
    }

    /// Called on the polling thread when partitions are assigned, before they are: entries it
    /// returns replace the committed offset as the partition's start position (exactly-once
    /// recovery starts behind the committed offset to rebuild state; docs/exactly-once.md).
    public var startPositionProvider: (@Sendable ([TopicPartition]) -> [TopicPartition: Int64])? {
        get { sink.startPositions }
        set { sink.startPositions = newValue }
    }

    /// Joins the consumer group for `topics`.
    public func subscribe(_ topics: [String]) throws(KafkaError) {
        let list = PartitionList.make(topics.map { TopicPartitionOffset(topic: $0, partition: RD_KAFKA_PARTITION_UA, offset: Int64(RD_KAFKA_OFFSET_INVALID)) })
        defer { rd_kafka_topic_partition_list_destroy(list) }
        let result = rd_kafka_subscribe(client.handle, list)
        guard result == RD_KAFKA_RESP_ERR_NO_ERROR else { throw KafkaError(.consume, "subscribe \(topics)", response: result) }
    }

    /// Reads exactly these partitions from these offsets, outside any group rebalancing.
    public func assign(_ partitions: [TopicPartitionOffset]) throws(KafkaError) {
        let list = PartitionList.make(partitions)
        defer { rd_kafka_topic_partition_list_destroy(list) }
        let result = rd_kafka_assign(client.handle, list)
        guard result == RD_KAFKA_RESP_ERR_NO_ERROR else { throw KafkaError(.consume, "assign", response: result) }
        sink.setAssignment(partitions.map { TopicPartition(topic: $0.topic, partition: $0.partition) })
    }

    /// The partitions currently assigned to this member.
    public var assignment: [TopicPartition] { sink.currentAssignment }

    /// Partitions whose end was reached with nothing consumed since (needs `enable.partition.eof`).
    public var partitionsAtEnd: Set<TopicPartition> { sink.atEnd }

    /// Polls up to `maxRecords` records, waiting at most `timeoutMs` for the first one.
    /// Serves rebalance callbacks. Throws on consumer errors other than partition EOF.
    public func poll(maxRecords: Int, timeoutMs: Int32) throws(KafkaError) -> [KafkaRecord] {
        if let fatal = sink.fatalError { throw fatal }
        // Wait for the first message only, then take what is already queued: a batch call with a
        // timeout waits for a full batch, holding records (and their decisions) back at low rates.
        guard maxRecords > 0 else { return [] }
        guard let first = rd_kafka_consume_queue(queue, timeoutMs) else {
            let error = rd_kafka_last_error()
            if error == RD_KAFKA_RESP_ERR_NO_ERROR || error == RD_KAFKA_RESP_ERR__TIMED_OUT { return [] }
            throw KafkaError(.consume, "consume_queue", response: error)
        }
        var messages = [UnsafeMutablePointer<rd_kafka_message_t>?](repeating: nil, count: maxRecords)
        messages[0] = first
        let more = messages.withUnsafeMutableBufferPointer { rd_kafka_consume_batch_queue(queue, 0, $0.baseAddress! + 1, maxRecords - 1) }
        guard more >= 0 else {
            rd_kafka_message_destroy(first)
            throw KafkaError(.consume, "consume_batch_queue", response: rd_kafka_last_error())
        }
        let count = 1 + more
        var records: [KafkaRecord] = []
        records.reserveCapacity(count)
        var firstError: KafkaError?
        // Messages come in runs per partition: the topic name and the "consumed" mark (a lock and
        // a set removal) are done once per run instead of per record.
        var runTopic: (handle: OpaquePointer, name: String)?
        var runPartition: Int32 = -1
        for index in 0..<count {
            guard let message = messages[index] else { continue }
            defer { rd_kafka_message_destroy(message) }
            let error = message.pointee.err
            if error == RD_KAFKA_RESP_ERR_NO_ERROR {
                let handle = message.pointee.rkt!
                let sameTopic = runTopic?.handle == handle
                if !sameTopic { runTopic = (handle, String(cString: rd_kafka_topic_name(handle))) }
                let record = KafkaRecord(copying: message, topic: runTopic!.name)
                if !sameTopic || record.partition != runPartition {
                    sink.markConsumed(TopicPartition(topic: record.topic, partition: record.partition))
                    runPartition = record.partition
                }
                records.append(record)
            } else if error == RD_KAFKA_RESP_ERR__PARTITION_EOF {
                if let topic = message.pointee.rkt {
                    sink.markAtEnd(TopicPartition(topic: String(cString: rd_kafka_topic_name(topic)), partition: message.pointee.partition))
                }
            } else {
                let text = message.pointee.payload.map { String(decoding: UnsafeRawBufferPointer(start: $0, count: message.pointee.len), as: UTF8.self) } ?? ""
                let failure = KafkaError(.consume, "consume: \(text)", response: error)
                // Transient broker and topic errors are logged and retried by librdkafka itself.
                logger.warning("consumer error", metadata: ["error": "\(failure)"])
                if error == RD_KAFKA_RESP_ERR__FATAL, firstError == nil { firstError = failure }
            }
        }
        if let firstError { throw firstError }
        return records
    }

    /// Synchronously commits `offsets` (each the offset of the *next* record to read).
    public func commit(_ offsets: [TopicPartitionOffset]) throws(KafkaError) {
        guard !offsets.isEmpty else { return }
        let list = PartitionList.make(offsets)
        defer { rd_kafka_topic_partition_list_destroy(list) }
        let result = rd_kafka_commit(client.handle, list, 0)
        guard result == RD_KAFKA_RESP_ERR_NO_ERROR else { throw KafkaError(.commit, "commit", response: result) }
        if let (partition, error) = PartitionList.firstError(list) {
            throw KafkaError(.commit, "commit \(partition)", response: error)
        }
    }

    /// The group's committed offsets for `partitions` (negative when none is committed).
    public func committed(_ partitions: [TopicPartition], timeoutMs: Int32) throws(KafkaError) -> [TopicPartitionOffset] {
        let list = PartitionList.make(partitions.map { TopicPartitionOffset(topic: $0.topic, partition: $0.partition, offset: Int64(RD_KAFKA_OFFSET_INVALID)) })
        defer { rd_kafka_topic_partition_list_destroy(list) }
        let result = rd_kafka_committed(client.handle, list, timeoutMs)
        guard result == RD_KAFKA_RESP_ERR_NO_ERROR else { throw KafkaError(.commit, "committed", response: result) }
        return PartitionList.read(list)
    }

    /// For each partition, the earliest offset whose record timestamp is ≥ the given time (ms);
    /// -1 (`RD_KAFKA_OFFSET_END`) where no such record exists yet.
    public func offsets(forTimes times: [TopicPartitionOffset], timeoutMs: Int32) throws(KafkaError) -> [TopicPartitionOffset] {
        let list = PartitionList.make(times)
        defer { rd_kafka_topic_partition_list_destroy(list) }
        let result = rd_kafka_offsets_for_times(client.handle, list, timeoutMs)
        guard result == RD_KAFKA_RESP_ERR_NO_ERROR else { throw KafkaError(.metadata, "offsets_for_times", response: result) }
        if let (partition, error) = PartitionList.firstError(list) {
            throw KafkaError(.metadata, "offsets_for_times \(partition)", response: error)
        }
        return PartitionList.read(list)
    }

    public func watermarks(topic: String, partition: Int32, timeoutMs: Int32) throws(KafkaError) -> (low: Int64, high: Int64) {
        try client.watermarks(topic: topic, partition: partition, timeoutMs: timeoutMs)
    }

    public func partitionCount(topic: String, timeoutMs: Int32) throws(KafkaError) -> Int {
        try client.partitionCount(topic: topic, timeoutMs: timeoutMs)
    }

    /// Moves the fetch position of assigned partitions; records already fetched for them are
    /// discarded by librdkafka, so the next `poll` starts exactly at `offsets`.
    public func seek(_ offsets: [TopicPartitionOffset], timeoutMs: Int32) throws(KafkaError) {
        guard !offsets.isEmpty else { return }
        let list = PartitionList.make(offsets)
        defer { rd_kafka_topic_partition_list_destroy(list) }
        if let error = rd_kafka_seek_partitions(client.handle, list, timeoutMs) {
            throw KafkaError(.consume, "seek", consuming: error)
        }
        if let (partition, error) = PartitionList.firstError(list) {
            throw KafkaError(.consume, "seek \(partition)", response: error)
        }
        sink.clearAtEnd(Set(offsets.map { TopicPartition(topic: $0.topic, partition: $0.partition) }))
    }

    /// Stops fetching `partitions` while the group membership stays alive (`poll` keeps serving
    /// rebalances and returns no records of paused partitions); `resume` continues from the
    /// position after the last record returned.
    public func pause(_ partitions: [TopicPartition]) throws(KafkaError) {
        try pauseOrResume(partitions, pause: true)
    }

    public func resume(_ partitions: [TopicPartition]) throws(KafkaError) {
        try pauseOrResume(partitions, pause: false)
    }

    private func pauseOrResume(_ partitions: [TopicPartition], pause: Bool) throws(KafkaError) {
        guard !partitions.isEmpty else { return }
        let list = PartitionList.make(partitions.map { TopicPartitionOffset(topic: $0.topic, partition: $0.partition, offset: Int64(RD_KAFKA_OFFSET_INVALID)) })
        defer { rd_kafka_topic_partition_list_destroy(list) }
        let result = pause ? rd_kafka_pause_partitions(client.handle, list) : rd_kafka_resume_partitions(client.handle, list)
        guard result == RD_KAFKA_RESP_ERR_NO_ERROR else { throw KafkaError(.consume, pause ? "pause" : "resume", response: result) }
    }

    /// Records between this consumer's position and the high watermark of each assigned
    /// partition, from librdkafka's cached fetch state (no broker round trip); partitions
    /// without a known position or watermark yet are left out.
    public func lag() -> [TopicPartition: Int64] {
        let assigned = assignment
        guard !assigned.isEmpty else { return [:] }
        let list = PartitionList.make(assigned.map { TopicPartitionOffset(topic: $0.topic, partition: $0.partition, offset: Int64(RD_KAFKA_OFFSET_INVALID)) })
        defer { rd_kafka_topic_partition_list_destroy(list) }
        guard rd_kafka_position(client.handle, list) == RD_KAFKA_RESP_ERR_NO_ERROR else { return [:] }
        var result: [TopicPartition: Int64] = [:]
        for entry in PartitionList.read(list) where entry.offset >= 0 {
            var low: Int64 = -1
            var high: Int64 = -1
            guard rd_kafka_get_watermark_offsets(client.handle, entry.topic, entry.partition, &low, &high) == RD_KAFKA_RESP_ERR_NO_ERROR, high >= 0 else { continue }
            result[TopicPartition(topic: entry.topic, partition: entry.partition)] = max(0, high - entry.offset)
        }
        return result
    }

    /// The consumer group metadata, for `KafkaProducer.sendOffsetsToTransaction`. Caller destroys.
    func groupMetadata() -> OpaquePointer? { rd_kafka_consumer_group_metadata(client.handle) }

    /// Leaves the group (running the revocation handler) and stops fetching. Idempotent.
    public func close() {
        guard !closed else { return }
        closed = true
        let result = rd_kafka_consumer_close(client.handle)
        if result != RD_KAFKA_RESP_ERR_NO_ERROR {
            logger.warning("consumer close: \(String(cString: rd_kafka_err2str(result)))")
        }
    }
}

/// Consumer callback state: rebalance handling and per-partition end-of-log tracking.
final class ConsumerSink: CallbackSink, @unchecked Sendable {
    private let stateLock = Mutex(())
    private var _handler: (@Sendable (RebalanceEvent) -> Void)?
    private var _startPositions: (@Sendable ([TopicPartition]) -> [TopicPartition: Int64])?
    private var assigned: [TopicPartition] = []
    private var ended: Set<TopicPartition> = []

    var handler: (@Sendable (RebalanceEvent) -> Void)? {
        get { stateLock.withLock { _ in _handler } }
        set { stateLock.withLock { _ in _handler = newValue } }
    }

    var startPositions: (@Sendable ([TopicPartition]) -> [TopicPartition: Int64])? {
        get { stateLock.withLock { _ in _startPositions } }
        set { stateLock.withLock { _ in _startPositions = newValue } }
    }

    func clearAtEnd(_ partitions: Set<TopicPartition>) {
        stateLock.withLock { _ in ended.subtract(partitions) }
    }

    var currentAssignment: [TopicPartition] { stateLock.withLock { _ in assigned } }
    var atEnd: Set<TopicPartition> { stateLock.withLock { _ in ended } }

    func setAssignment(_ partitions: [TopicPartition]) {
        stateLock.withLock { _ in
            assigned = partitions
            ended = []
        }
    }

    func markConsumed(_ partition: TopicPartition) {
        stateLock.withLock { _ in _ = ended.remove(partition) }
    }

    func markAtEnd(_ partition: TopicPartition) {
        stateLock.withLock { _ in _ = ended.insert(partition) }
    }

    func rebalance(handle: OpaquePointer, error: rd_kafka_resp_err_t, partitions: UnsafeMutablePointer<rd_kafka_topic_partition_list_t>) {
        let changed = PartitionList.read(partitions).map { TopicPartition(topic: $0.topic, partition: $0.partition) }
        let cooperative = String(cString: rd_kafka_rebalance_protocol(handle)) == "COOPERATIVE"
        switch error {
        case RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS:
            logger.info("partitions assigned", metadata: ["partitions": "\(changed)"])
            if let positions = startPositions?(changed), !positions.isEmpty {
                for i in 0..<Int(partitions.pointee.cnt) {
                    let element = partitions.pointee.elems[i]
                    if let offset = positions[TopicPartition(topic: String(cString: element.topic), partition: element.partition)] {
                        partitions.pointee.elems[i].offset = offset
                    }
                }
            }
            if cooperative {
                if let failure = rd_kafka_incremental_assign(handle, partitions) {
                    recordFatal(KafkaError(.consume, "incremental_assign", consuming: failure))
                }
            } else {
                rd_kafka_assign(handle, partitions)
            }
            stateLock.withLock { _ in
                assigned = cooperative ? assigned + changed : changed
                ended.subtract(changed)
            }
            handler?(.assigned(changed))
        case RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS:
            logger.info("partitions revoked", metadata: ["partitions": "\(changed)"])
            handler?(.revoked(changed))
            if cooperative {
                if let failure = rd_kafka_incremental_unassign(handle, partitions) {
                    recordFatal(KafkaError(.consume, "incremental_unassign", consuming: failure))
                }
            } else {
                rd_kafka_assign(handle, nil)
            }
            stateLock.withLock { _ in
                let gone = Set(changed)
                assigned.removeAll { gone.contains($0) }
                ended.subtract(gone)
            }
        default:
            logger.error("rebalance error: \(String(cString: rd_kafka_err2str(error)))")
            handler?(.revoked(currentAssignment))
            rd_kafka_assign(handle, nil)
            setAssignment([])
        }
    }
}
