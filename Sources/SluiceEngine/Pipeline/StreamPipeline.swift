import Foundation
import Logging
import SluiceCore
import SluiceKafka
import SluiceRedis

/// The pipeline loop: poll a batch → validate → load entity state → features and scores →
/// decisions, dead letters and late events → save state → wait for delivery → commit offsets.
///
/// Guarantee of this version: at-least-once. Offsets are committed only after every output of
/// the batch is acknowledged by the broker and its state is written to Redis, so a crash
/// re-processes the uncommitted batch rather than losing it (docs/exactly-once.md).
///
/// Threading: `run` blocks its calling thread until stopped; start it on a dedicated thread
/// (see `PipelineService`). Nothing else touches the consumer, producer or Redis connection.
public final class StreamPipeline: @unchecked Sendable {
    public struct Options: Sendable {
        /// Stop once every partition of the input topic is assigned here and read to its end.
        public var exitAtEnd = false
        /// Stop once at least this many input records are processed and committed.
        public var maxRecords: Int?
        /// Where outputs go; nil topics are not written (replay writes decisions only).
        public var decisionsTopic: String?
        public var writeDeadLetters = true
        public var writeLateEvents = true
        public init(exitAtEnd: Bool = false, maxRecords: Int? = nil) {
            self.exitAtEnd = exitAtEnd
            self.maxRecords = maxRecords
        }
    }

    public struct Failure: Error, CustomStringConvertible {
        public let description: String
    }

    private let topology: Topology
    private let config: RuntimeConfig
    private let options: Options
    private let logger: Logger
    private let consumer: KafkaConsumer
    private let producer: KafkaProducer
    private let store: RedisFeatureStore
    private let scorer: EventScorer
    private let decoder = EventDecoder()
    private var statistics = RunStatistics()
    private var inputPartitionCount = 0

    public var modelVersion: String { scorer.model.version }
    public var featureStore: RedisFeatureStore { store }
    private var decisionsTopic: String { options.decisionsTopic ?? topology.decisionsTopic }

    public init(topology: Topology, config: RuntimeConfig, options: Options = Options(), logger: Logger) throws {
        self.topology = topology
        self.config = config
        self.options = options
        self.logger = logger
        var kafka = config.kafka
        if kafka["group.id"] == nil { kafka["group.id"] = "sluice-\(topology.name)" }
        consumer = try KafkaConsumer(configuration: kafka, logger: logger)
        producer = try KafkaProducer(configuration: kafka, logger: logger)
        let redis = try RedisConnection(configuration: try RedisConfiguration(url: config.redisURL), logger: logger)
        store = RedisFeatureStore(connection: redis, topology: topology, keyPrefix: config.keyPrefix)
        scorer = EventScorer(topology: topology, model: try ScoringModel(topology: topology))
        consumer.rebalanceHandler = { [logger] event in
            // Batches complete before the next poll, so nothing is in flight when partitions move.
            switch event {
            case .assigned(let partitions): logger.info("assigned \(partitions.count) partitions")
            case .revoked(let partitions): logger.info("revoked \(partitions.count) partitions")
            }
        }
    }

    /// Runs until `stop` is set (finishing the batch in flight) or, with `exitAtEnd`, the input is consumed.
    public func run(stop: StopSignal) throws -> RunStatistics {
        statistics = RunStatistics()
        statistics.startedAtNanos = DispatchTime.now().uptimeNanoseconds
        inputPartitionCount = try consumer.partitionCount(topic: topology.inputTopic, timeoutMs: 10_000)
        try consumer.subscribe([topology.inputTopic])
        logger.info("pipeline started", metadata: [
            "topology": "\(topology.name)", "input": "\(topology.inputTopic)", "partitions": "\(inputPartitionCount)",
            "model": "\(scorer.model.version)", "librdkafka": "\(LibrdkafkaVersion.currentString)",
        ])
        while !stop.isStopped {
            let records = try consumer.poll(maxRecords: config.batchSize, timeoutMs: config.pollTimeoutMs)
            if records.isEmpty {
                producer.poll()
                if options.exitAtEnd && reachedEnd() { break }
                continue
            }
            try process(records, stop: stop)
            if let limit = options.maxRecords, statistics.recordsIn >= limit { break }
        }
        consumer.close()
        try producer.flush(timeoutMs: config.flushTimeoutMs)
        logger.info("pipeline stopped", metadata: ["records": "\(statistics.recordsIn)"])
        return statistics
    }

    /// Re-runs a range of a topic's history, outside any consumer group and committing nothing:
    /// every partition from `start` up to `end` (exclusive; a partition without an end runs to
    /// its current end). Records are processed exactly as the stream does, so with empty state
    /// under its own key prefix a replay reproduces the stream's features bit for bit.
    /// `progress` is called after each batch with the records processed so far.
    public func replay(start: [TopicPartitionOffset], end: [TopicPartition: Int64], stop: StopSignal,
                       progress: (Int) -> Void = { _ in }) throws -> RunStatistics {
        statistics = RunStatistics()
        statistics.startedAtNanos = DispatchTime.now().uptimeNanoseconds
        var remaining = Set(start.map { TopicPartition(topic: $0.topic, partition: $0.partition) })
        for entry in start where entry.offset >= (end[TopicPartition(topic: entry.topic, partition: entry.partition)] ?? .max) {
            remaining.remove(TopicPartition(topic: entry.topic, partition: entry.partition))
        }
        try consumer.assign(start)
        while !remaining.isEmpty && !stop.isStopped {
            var records = try consumer.poll(maxRecords: config.batchSize, timeoutMs: config.pollTimeoutMs)
            records.removeAll { record in
                let partition = TopicPartition(topic: record.topic, partition: record.partition)
                guard let limit = end[partition], record.offset >= limit else { return false }
                remaining.remove(partition)
                return true
            }
            // The end of a partition as it is now also ends its range (an end offset beyond it,
            // or one that falls on a transaction marker, is never reached by a record).
            for partition in remaining where consumer.partitionsAtEnd.contains(partition) {
                remaining.remove(partition)
            }
            for record in records {
                let partition = TopicPartition(topic: record.topic, partition: record.partition)
                if let limit = end[partition], record.offset + 1 >= limit { remaining.remove(partition) }
            }
            guard !records.isEmpty else { continue }
            try process(records, stop: stop, commit: false)
            progress(statistics.recordsIn)
        }
        consumer.close()
        try producer.flush(timeoutMs: config.flushTimeoutMs)
        return statistics
    }

    private func reachedEnd() -> Bool {
        let assigned = Set(consumer.assignment.filter { $0.topic == topology.inputTopic })
        return assigned.count == inputPartitionCount && assigned.isSubset(of: consumer.partitionsAtEnd)
    }

    /// Processes one polled batch (and, with `commit`, commits its offsets), timing it.
    private func process(_ records: [KafkaRecord], stop: StopSignal, commit: Bool = true) throws {
        let polledAt = DispatchTime.now().uptimeNanoseconds
        if statistics.firstRecordAtNanos == nil { statistics.firstRecordAtNanos = polledAt }
        try processBatch(records, stop: stop, commit: commit)
        statistics.batchProcessing.record(Int64((DispatchTime.now().uptimeNanoseconds - polledAt) / 1000))
    }

    private func processBatch(_ records: [KafkaRecord], stop: StopSignal, commit: Bool) throws {
        // 1. Validate in log order.
        var events: [Event] = []
        var outcomes: [Int] = []  // per record: index into `events`, or -1 when rejected
        var rejections: [Int: EventRejection] = [:]
        events.reserveCapacity(records.count)
        for (index, record) in records.enumerated() {
            guard let value = record.value else {
                rejections[index] = EventRejection(.notJSON, "record has no value (tombstone)")
                outcomes.append(-1)
                continue
            }
            switch decoder.decode(value) {
            case .success(let event):
                outcomes.append(events.count)
                events.append(event)
            case .failure(let rejection):
                rejections[index] = rejection
                outcomes.append(-1)
            }
        }

        // 2. Entity state before the batch, then features, state updates and scores.
        var seen = Set<String>()
        let users = events.compactMap { seen.insert($0.userID).inserted ? $0.userID : nil }
        var states = try withRedisRetry(stop: stop, "load state") { try store.load(users) }
        let batch = scorer.process(events, states: &states)

        // 3. Outputs, in input order.
        let decidedAt = Int64(Date().timeIntervalSince1970 * 1000)
        let names = topology.features.names
        for (index, record) in records.enumerated() {
            let source = SourcePosition(topic: record.topic, partition: record.partition, offset: record.offset)
            let eventIndex = outcomes[index]
            guard eventIndex >= 0 else {
                let rejection = rejections[index]!
                if options.writeDeadLetters {
                    try producer.produce(
                        topic: topology.deadLetterTopic, key: record.key, value: record.value ?? [],
                        headers: DeadLetter.headers(original: record.headers, rejection: rejection, source: source))
                }
                statistics.deadLettered += 1
                continue
            }
            let event = events[eventIndex]
            let late = batch.late[eventIndex]
            let score = batch.scores[eventIndex]
            let decision = topology.thresholds.decision(for: score)
            let value = batch.features.withUnsafeBufferPointer { all in
                DecisionRecord.encode(
                    event: event, score: score, margin: batch.margins[eventIndex], decision: decision, late: late,
                    modelVersion: scorer.model.version, featureNames: names,
                    features: UnsafeBufferPointer(rebasing: all[eventIndex * names.count..<(eventIndex + 1) * names.count]),
                    decidedAt: decidedAt, source: source)
            }
            try producer.produce(
                topic: decisionsTopic, key: record.key ?? Array(event.userID.utf8), value: value,
                headers: source.headers + [KafkaHeader(name: "sluice.schema_version", string: String(DecisionRecord.schemaVersion))])
            if late && options.writeLateEvents {
                try producer.produce(topic: topology.lateTopic, key: record.key, value: record.value ?? [], headers: record.headers + source.headers)
            }
            if late { statistics.late += 1 }
            statistics.decisions += 1
            statistics.byDecision[decision, default: 0] += 1
        }

        // 4. Durable state and outputs, then offsets.
        let touched = users.map { (userID: $0, state: states[$0]!) }
        try withRedisRetry(stop: stop, "save state") { try store.save(touched) }
        try producer.flush(timeoutMs: config.flushTimeoutMs)
        var next: [TopicPartition: Int64] = [:]
        for record in records {
            let partition = TopicPartition(topic: record.topic, partition: record.partition)
            next[partition] = max(next[partition] ?? 0, record.offset + 1)
        }
        if commit {
            try consumer.commit(next.map { TopicPartitionOffset(topic: $0.key.topic, partition: $0.key.partition, offset: $0.value) })
        }

        let now = DispatchTime.now().uptimeNanoseconds
        let wallNow = Int64(Date().timeIntervalSince1970 * 1_000_000)
        for record in records {
            if let timestamp = record.timestamp { statistics.eventToDecision.record(max(0, wallNow - timestamp * 1000)) }
        }
        statistics.recordsIn += records.count
        statistics.batches += 1
        statistics.lastCommitAtNanos = now
    }

    /// Runs a Redis operation, retrying connection failures with backoff until it succeeds or
    /// the pipeline is stopped (then the batch is abandoned uncommitted and will be re-read).
    private func withRedisRetry<T>(stop: StopSignal, _ what: String, _ body: () throws -> T) throws -> T {
        var delay = 0.05
        while true {
            do {
                return try body()
            } catch let error as RedisError where [.connectionFailed, .io, .timeout, .closed].contains(error.code) {
                if stop.isStopped { throw Failure(description: "stopped while Redis was unavailable (\(what)): \(error)") }
                logger.warning("Redis unavailable, retrying", metadata: ["operation": "\(what)", "error": "\(error)", "retry_in_s": "\(delay)"])
                Thread.sleep(forTimeInterval: delay)
                delay = min(delay * 2, 5)
            }
        }
    }
}
