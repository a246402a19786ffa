import Foundation
import Logging
import Synchronization
import SluiceCore
import SluiceKafka
import SluiceRedis

/// The pipeline loop: poll a batch → validate → load entity state → features and scores →
/// decisions, dead letters and late events → commit.
///
/// Two guarantees (`RuntimeConfig.delivery`, docs/exactly-once.md):
/// - exactly-once (default): outputs and consumed offsets commit in one Kafka transaction every
///   `commitIntervalMs`; entity state goes to Redis after the commit, each write fenced by the
///   input offsets it includes, and an instance taking over a partition first re-applies what
///   Redis lacks (StreamPipeline+Transactions.swift);
/// - at-least-once: entity states kept in memory; every `commitIntervalMs` and before partitions
///   move, changed states written, outputs delivered, then offsets committed
///   (StreamPipeline+AtLeastOnce.swift).
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
        /// Write a per-second time series and a latency summary here (`TimelineRecorder`).
        public var timelinePath: String?
        /// Seconds after the first record whose latencies the timeline's summary leaves out.
        public var timelineWarmupSeconds = 0.0
        public init(exitAtEnd: Bool = false, maxRecords: Int? = nil, timelinePath: String? = nil) {
            self.exitAtEnd = exitAtEnd
            self.maxRecords = maxRecords
            self.timelinePath = timelinePath
        }
    }

    public struct Failure: Error, CustomStringConvertible {
        public let description: String
    }

    let topology: Topology
    let config: RuntimeConfig
    let options: Options
    let logger: Logger
    let consumer: KafkaConsumer
    let producer: KafkaProducer
    let store: RedisFeatureStore
    let scorer: EventScorer
    let metrics: PipelineMetrics
    /// Writes entity state to Redis off the pipeline thread (own connection): committed state
    /// (exactly-once) or each checkpoint's changes (at-least-once).
    let flusher: StateFlusher
    private let decoder = EventDecoder()
    /// Threads that decode a batch's records and encode its decisions (`ParallelMap`): the
    /// machine's cores up to 4, or `SLUICE_PARALLELISM` (1 = all on the pipeline thread).
    static let parallelism = ProcessInfo.processInfo.environment["SLUICE_PARALLELISM"].flatMap { Int($0) }
        ?? min(4, ProcessInfo.processInfo.activeProcessorCount)
    private let featureKeys: DecisionRecord.FeatureKeys
    /// Produces each batch's outputs off the pipeline thread (both delivery modes). Created after
    /// everything that can fail in `init`: its thread would outlive a pipeline that never was.
    let outputs: OutputEmitter
    private let ready = Atomic<Bool>(false)
    private var lastLagSample: UInt64 = 0
    private var reconnectsSeen = 0
    private var lagPartitions: Set<TopicPartition> = []
    private var lastLagTotal: Int64 = 0
    private var timeline: TimelineRecorder?

    /// True while partitions are assigned and Redis answers (the `/readyz` probe). Any thread.
    public var isReady: Bool { ready.load(ordering: .relaxed) }
    func setReady(_ value: Bool) { ready.store(value, ordering: .relaxed) }
    var statistics = RunStatistics()
    /// When the last poll that returned records came back (wall clock, µs: compared with the
    /// records' producer timestamps).
    var lastPollMicros: Int64 = 0
    private var inputPartitionCount = 0
    /// Exactly-once bookkeeping (StreamPipeline+Transactions.swift); unused in at-least-once mode.
    var transaction = TransactionState()
    /// At-least-once and replay bookkeeping (StreamPipeline+AtLeastOnce.swift).
    var atLeastOnce = AtLeastOnceState()
    /// An error raised inside a rebalance callback (which cannot throw), thrown by the run loop
    /// once `poll` returns. Pipeline thread only.
    var deferredRebalanceError: Error?

    public var modelVersion: String { scorer.model.version }
    public var featureStore: RedisFeatureStore { store }
    private var decisionsTopic: String { options.decisionsTopic ?? topology.decisionsTopic }

    public init(topology: Topology, config: RuntimeConfig, options: Options = Options(), logger: Logger) throws {
        self.topology = topology
        featureKeys = DecisionRecord.FeatureKeys(topology.features.names)
        self.config = config
        self.options = options
        self.logger = logger
        var kafka = config.kafka
        if kafka["group.id"] == nil { kafka["group.id"] = "sluice-\(topology.name)" }
        consumer = try KafkaConsumer(configuration: kafka, logger: logger)
        producer = try KafkaProducer(
            configuration: Self.producerConfiguration(kafka, topologyName: topology.name, config: config), logger: logger)
        let redis = try RedisConnection(configuration: try RedisConfiguration(url: config.redisURL), logger: logger)
        store = RedisFeatureStore(connection: redis, topology: topology, keyPrefix: config.keyPrefix)
        scorer = EventScorer(topology: topology, model: try ScoringModel(topology: topology))
        metrics = PipelineMetrics(topologyName: topology.name, modelVersion: scorer.model.version)
        let connection = try RedisConnection(configuration: try RedisConfiguration(url: config.redisURL), logger: logger)
        flusher = StateFlusher(
            store: RedisFeatureStore(connection: connection, topology: topology, keyPrefix: config.keyPrefix),
            topic: topology.inputTopic, logger: logger)
        outputs = OutputEmitter()
        if config.delivery == .exactlyOnce {
            installTransactionalRebalanceHandling()
        } else {
            // Weak: the consumer outlives the pipeline during deinit (closing it may call back).
            consumer.rebalanceHandler = { [weak self] event in self?.handleAtLeastOnceRebalance(event) }
        }
    }

    /// The producer's properties: the consumer's, plus a `transactional.id` per instance with
    /// exactly-once (none otherwise), and with exactly-once a default `linger.ms` of a fifth of the
    /// commit interval, at most 20 ms, where the user set neither it nor `queue.buffering.max.ms`.
    ///
    /// Why the linger: a transaction's decisions become visible only when it commits, and the
    /// commit's flush sends what is still lingering at once (librdkafka ignores `linger.ms` while
    /// flushing), so lingering costs no visibility while it makes produce requests bigger. With
    /// librdkafka's 5 ms default the producer's broker thread was a quarter of Sluice's CPU
    /// (measured: 3.9-4.5 s against 2.5-2.6 s per 1M events with 20 ms; p99 latency at 50 % load
    /// 623 / 582 / 477 ms against 494 / 449 / 463 ms in alternating runs; docs/kafka.md). Kafka
    /// Streams lingers 100 ms by default for the same reason.
    static func producerConfiguration(_ kafka: KafkaConfiguration, topologyName: String, config: RuntimeConfig) -> KafkaConfiguration {
        var producer = kafka
        guard config.delivery == .exactlyOnce else {
            producer.properties.removeValue(forKey: "transactional.id")
            return producer
        }
        if producer["transactional.id"] == nil {
            producer["transactional.id"] = "sluice-\(topologyName)-\(config.instanceID)"
        }
        if producer["linger.ms"] == nil && producer["queue.buffering.max.ms"] == nil {
            producer["linger.ms"] = String(min(20, config.commitIntervalMs / 5))
        }
        return producer
    }

    deinit {
        flusher.shutdown(discard: true)
        // Its worker thread holds it: a pipeline that never ran (or failed before its loop) must stop it.
        outputs.shutdown(timeout: .zero)
        consumer.rebalanceHandler = nil
        consumer.startPositionProvider = nil
    }

    /// Runs until `stop` is set (finishing the batch in flight) or, with `exitAtEnd`, the input is consumed.
    public func run(stop: StopSignal) throws -> RunStatistics {
        statistics = RunStatistics()
        statistics.startedAtNanos = DispatchTime.now().uptimeNanoseconds
        if let path = options.timelinePath {
            timeline = try TimelineRecorder(path: path, startedAtNanos: statistics.startedAtNanos, warmupSeconds: options.timelineWarmupSeconds)
        }
        defer {
            timeline?.finish(statistics: statistics)
            timeline = nil
        }
        inputPartitionCount = try consumer.partitionCount(topic: topology.inputTopic, timeoutMs: 10_000)
        logger.info("pipeline started", metadata: [
            "topology": "\(topology.name)", "input": "\(topology.inputTopic)", "partitions": "\(inputPartitionCount)",
            "model": "\(scorer.model.version)", "librdkafka": "\(LibrdkafkaVersion.currentString)",
            "delivery": "\(config.delivery.rawValue)",
        ])
        if config.delivery == .exactlyOnce { return try runTransactional(stop: stop) }
        return try runAtLeastOnce(stop: stop)
    }

    /// Re-runs a range of a topic's history, outside any consumer group and committing nothing:
    /// every partition from `start` up to `end` (exclusive; a partition without an end runs to
    /// its current end). Records are processed exactly as the stream does, so with empty state
    /// under its own key prefix a replay reproduces the stream's features bit for bit.
    /// `progress` is called after each batch with the records processed so far.
    public func replay(start: [TopicPartitionOffset], end: [TopicPartition: Int64], stop: StopSignal,
                       progress: (Int) -> Void = { _ in }) throws -> RunStatistics {
        guard !producer.isTransactional else {
            throw Failure(description: "replay commits nothing and runs without transactions: construct the pipeline with delivery at_least_once")
        }
        statistics = RunStatistics()
        statistics.startedAtNanos = DispatchTime.now().uptimeNanoseconds
        atLeastOnce = AtLeastOnceState()
        atLeastOnce.lastCheckpointNanos = statistics.startedAtNanos
        var remaining = Set(start.map { TopicPartition(topic: $0.topic, partition: $0.partition) })
        for entry in start where entry.offset >= (end[TopicPartition(topic: entry.topic, partition: entry.partition)] ?? .max) {
            remaining.remove(TopicPartition(topic: entry.topic, partition: entry.partition))
        }
        try consumer.assign(start)
        while !remaining.isEmpty && !stop.isStopped {
            var records = try consumer.poll(maxRecords: config.batchSize, timeoutMs: config.pollTimeoutMs)
            notePolled(records)
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
            try timingBatch { try processBatch(records, stop: stop) }
            if checkpointDue { try checkpoint(stop: stop, commit: false) }
            progress(statistics.recordsIn)
        }
        try checkpoint(stop: stop, commit: false, final: true)
        consumer.close()
        try producer.flush(timeoutMs: config.flushTimeoutMs)
        return statistics
    }

    func reachedEnd() -> Bool {
        let assigned = Set(consumer.assignment.filter { $0.topic == topology.inputTopic })
        return assigned.count == inputPartitionCount && assigned.isSubset(of: consumer.partitionsAtEnd)
    }

    func throwDeferredRebalanceError() throws {
        if let error = deferredRebalanceError {
            deferredRebalanceError = nil
            throw error
        }
    }

    /// The commit schedule of both delivery modes: work pending since `pendingSince` (nil: none)
    /// is due `commit_interval_ms` later, or once it holds `commit_max_records` records.
    func commitDue(pendingSince: UInt64?, records: Int) -> Bool {
        guard let pendingSince else { return false }
        return Self.ageMs(since: pendingSince) >= Int64(config.commitIntervalMs) || records >= config.commitMaxRecords
    }

    /// The poll timeout, no longer than until pending work is due: an idle poll must not delay it.
    func pollTimeoutMs(pendingSince: UInt64?) -> Int32 {
        guard let pendingSince else { return config.pollTimeoutMs }
        return Int32(max(0, min(Int64(config.pollTimeoutMs), Int64(config.commitIntervalMs) - Self.ageMs(since: pendingSince))))
    }

    private static func ageMs(since nanos: UInt64) -> Int64 {
        Int64((DispatchTime.now().uptimeNanoseconds - nanos) / 1_000_000)
    }

    /// Notes when a poll came back, called right after it (before lag sampling, Redis probes or
    /// anything else), so a record's latency splits into what came before Sluice had it and what
    /// Sluice took (`recordCommitted`).
    func notePolled(_ records: [KafkaRecord]) {
        if !records.isEmpty { lastPollMicros = Int64(Date().timeIntervalSince1970 * 1_000_000) }
    }

    /// Runs `process` on one polled batch (either delivery mode, and replay), timing it into the
    /// run statistics; the first batch also marks when records started to flow.
    func timingBatch(_ process: () throws -> Void) throws {
        let polledAt = DispatchTime.now().uptimeNanoseconds
        if statistics.firstRecordAtNanos == nil { statistics.firstRecordAtNanos = polledAt }
        try process()
        statistics.batchProcessing.record(Int64((DispatchTime.now().uptimeNanoseconds - polledAt) / 1000))
    }

    /// After each poll: consumer lag (at most once a second), Redis reconnects, readiness.
    func sampleOperationalMetrics(batchSize: Int) {
        if batchSize > 0 { metrics.batchRecords.record(batchSize) }
        let now = DispatchTime.now().uptimeNanoseconds
        if now - lastLagSample >= 1_000_000_000 {
            lastLagSample = now
            let lag = consumer.lag()
            lagPartitions = metrics.recordLag(lag, previous: lagPartitions)
            lastLagTotal = lag.values.reduce(0, +)
            // An idle pipeline would not notice Redis going away: probe it once a second.
            let redisAnswers = (try? store.connection.execute(["PING"])) != nil
            setReady(redisAnswers && !consumer.assignment.isEmpty)
        }
        timeline?.sampleIfDue(now: now, statistics: statistics, lag: lastLagTotal)
        // Both connections: the pipeline's reads and the flusher's state writes.
        let reconnects = store.connection.reconnectCount + flusher.reconnectCount
        if reconnects > reconnectsSeen {
            metrics.redisReconnects.increment(by: reconnects - reconnectsSeen)
            reconnectsSeen = reconnects
        }
    }

    /// Validated events of one polled batch, index-aligned with the records.
    struct DecodedBatch {
        var events: [Event] = []
        /// Per record: index into `events`, or -1 when rejected.
        var outcomes: [Int] = []
        var rejections: [Int: EventRejection] = [:]
        /// Distinct users in first-seen order.
        var users: [String] = []
        /// Per event: its user's index in `users`.
        var userSlots: [Int32] = []
    }

    /// The features of a decoded batch, over the entities of its users (`entities[slot]` for
    /// `decoded.users[slot]`; entities beyond them are left alone), changing their states and
    /// raising their applied offsets (per partition, never lowering one) to the records whose
    /// events they took. States move out and back (swapped, not copied), so copy-on-write never
    /// copies a state's buffers. Both delivery modes.
    func computeFeatures(_ records: [KafkaRecord], _ decoded: DecodedBatch, entities: inout [StoredEntity]) -> FeatureBatch {
        var states: [EntityState] = []
        states.reserveCapacity(decoded.users.count)
        for slot in decoded.users.indices {
            var state = EntityState(aggregations: [])
            swap(&state, &entities[slot].state)
            states.append(state)
        }
        let batch = metrics.timed(.features) {
            topology.computeFeatures(decoded.events, userSlots: decoded.userSlots, states: &states)
        }
        for slot in states.indices { swap(&entities[slot].state, &states[slot]) }
        // Index loops: iterating records by value copies each (five retains and releases). The
        // highest offset wins: a record processed again (at-least-once, after a crash) lies below
        // what Redis may already hold for its entity.
        for index in records.indices where decoded.outcomes[index] >= 0 {
            let slot = Int(decoded.userSlots[decoded.outcomes[index]])
            let partition = records[index].partition
            entities[slot].applied[partition] = max(entities[slot].applied[partition] ?? -1, records[index].offset)
        }
        return batch
    }

    func decode(_ records: [KafkaRecord]) -> DecodedBatch {
        let decoder = self.decoder
        var decoded = DecodedBatch()
        decoded.events.reserveCapacity(records.count)
        decoded.outcomes.reserveCapacity(records.count)
        ParallelMap.forEach(count: records.count, ways: Self.parallelism) { index -> Result<Event, EventRejection> in
            guard let value = records[index].value else { return .failure(EventRejection(.notJSON, "record has no value (tombstone)")) }
            return decoder.decode(value)
        } _: { index, result in
            switch result {
            case .success(let event):
                decoded.outcomes.append(decoded.events.count)
                decoded.events.append(event)
            case .failure(let rejection):
                decoded.rejections[index] = rejection
                decoded.outcomes.append(-1)
            }
        }
        var users = EntitySlots(minimumCapacity: decoded.events.count)
        decoded.userSlots = decoded.events.map { users.slot(of: $0.userID) }
        decoded.users = users.ids
        return decoded
    }

    /// Produces the outputs of `records` in input order: a decision per valid event, the
    /// record itself to the dead-letter topic when rejected, and to the late topic when late.
    /// Decision values depend only on the log (no wall-clock field), so a transaction retried
    /// after an abort produces byte-identical decisions.
    /// Produces a batch's decisions, dead letters and late copies. Touches no pipeline state but
    /// the producer (thread-safe), so `OutputEmitter` may run it on its own thread.
    func emitOutputs(_ records: [KafkaRecord], _ decoded: DecodedBatch, _ batch: FeatureBatch, extraHeaders: [KafkaHeader] = []) throws -> OutputCounts {
        var counts = OutputCounts()
        let keys = featureKeys
        let schemaHeader = KafkaHeader(name: "sluice.schema_version", string: String(DecisionRecord.schemaVersion))
        // Decision headers are topic, partition, offset, schema version, then `extraHeaders`: all
        // but the offset repeat within a batch, so they are converted for librdkafka once (per
        // partition: one input topic) and copied into each decision.
        var partitionHeaders: [Int32: KafkaHeaderTemplate] = [:]
        let trailingHeaders = KafkaHeaderTemplate([schemaHeader] + extraHeaders)
        let thresholds = topology.thresholds
        let modelVersion = scorer.model.version
        let width = keys.count
        let values = batch.features.withUnsafeBufferPointer { all in
            nonisolated(unsafe) let all = all
            return ParallelMap.map(count: records.count, ways: Self.parallelism) { index -> [UInt8] in
                let eventIndex = decoded.outcomes[index]
                guard eventIndex >= 0 else { return [] }
                return DecisionRecord.encode(
                    event: decoded.events[eventIndex], score: batch.scores[eventIndex], margin: batch.margins[eventIndex],
                    decision: thresholds.decision(for: batch.scores[eventIndex]), late: batch.late[eventIndex],
                    modelVersion: modelVersion, featureKeys: keys,
                    features: UnsafeBufferPointer(rebasing: all[eventIndex * width..<(eventIndex + 1) * width]),
                    source: SourcePosition(topic: records[index].topic, partition: records[index].partition, offset: records[index].offset))
            }
        }
        // By index: a record or event copied per iteration costs a retain and release per field.
        for index in records.indices {
            let source = SourcePosition(topic: records[index].topic, partition: records[index].partition, offset: records[index].offset)
            let eventIndex = decoded.outcomes[index]
            guard eventIndex >= 0 else {
                let rejection = decoded.rejections[index]!
                if options.writeDeadLetters {
                    try producer.produce(
                        topic: topology.deadLetterTopic, key: records[index].key, value: records[index].value ?? [],
                        headers: DeadLetter.headers(original: records[index].headers, rejection: rejection, source: source) + extraHeaders)
                }
                counts.deadLettered += 1
                metrics.deadLettered.increment()
                continue
            }
            let late = batch.late[eventIndex]
            let decision = topology.thresholds.decision(for: batch.scores[eventIndex])
            let leading = partitionHeaders[source.partition] ?? {
                let headers = KafkaHeaderTemplate(source.partitionHeaders)
                partitionHeaders[source.partition] = headers
                return headers
            }()
            try producer.produce(
                topic: decisionsTopic, key: records[index].key ?? Array(decoded.events[eventIndex].userID.utf8), value: values[index],
                headerCount: leading.count + 1 + trailingHeaders.count
            ) { list in
                list.append(leading)
                list.append(name: SourcePosition.offsetHeaderName, decimal: source.offset)
                list.append(trailingHeaders)
            }
            if late && options.writeLateEvents {
                try producer.produce(
                    topic: topology.lateTopic, key: records[index].key, value: records[index].value ?? [],
                    headers: records[index].headers + source.headers + extraHeaders)
            }
            if late {
                counts.late += 1
                metrics.late.increment()
            }
            counts.decisions += 1
            counts.byDecision[decision, default: 0] += 1
            metrics.decided[decision]!.increment()
        }
        return counts
    }

    /// The outputs of these records are durable now: their latency into the run summary, the
    /// timeline and the `sluice_event_to_decision_seconds` histogram, and its two parts (timestamp
    /// to poll, poll to now: they add up to it) into the summary and the timeline. Only committed
    /// records count, once each: records re-read after an abort, or re-applied to state without
    /// outputs, are not in `awaiting`.
    func recordCommitted(_ awaiting: AwaitingCommit) {
        let wallNow = Int64(Date().timeIntervalSince1970 * 1_000_000)
        let now = DispatchTime.now().uptimeNanoseconds
        statistics.lastCommitAtNanos = now
        let pastWarmup = timeline?.isPastWarmup(now: now, firstRecordAt: statistics.firstRecordAtNanos ?? now) ?? false
        for (timestamp, polled) in zip(awaiting.timestamps, awaiting.polledAtMicros) {
            let latency = LatencyParts(timestampMs: timestamp, polledAtMicros: polled, nowMicros: wallNow)
            statistics.eventToDecision.record(latency)
            metrics.eventToDecision.recordMicroseconds(latency.total)
            timeline?.recordCommitted(latency, pastWarmup: pastWarmup)
        }
    }

    /// The entity values of `ids`, in their order, for one batch (both delivery modes): each taken
    /// out of memory by `take` (moved, so the batch updates it in place), the others from one
    /// `load` call (called even when nothing is missing; loading no IDs costs no I/O), and IDs
    /// that `load` does not know start as `empty()`. `placeholder` only holds a miss's place until
    /// the load, so it should own no buffers.
    static func takeOrLoad<Value>(_ ids: [String], placeholder: Value, take: (String) -> Value?,
                                  load: ([String]) throws -> [String: Value], empty: () -> Value) rethrows -> [Value] {
        var values: [Value] = []
        values.reserveCapacity(ids.count)
        var misses: [Int] = []
        for (slot, id) in ids.enumerated() {
            if let value = take(id) {
                values.append(value)
            } else {
                misses.append(slot)
                values.append(placeholder)
            }
        }
        let loaded = try load(misses.map { ids[$0] })
        for slot in misses { values[slot] = loaded[ids[slot]] ?? empty() }
        return values
    }

    /// Test-only fault injection (`RuntimeConfig.crashAfterCommit`): SIGKILL right after the
    /// `count`-th commit (`what`: what was committed and what it leaves undone), both modes.
    func crashIfInjected(afterCommit count: Int, _ what: String) {
        guard count == config.crashAfterCommit else { return }
        logger.warning("fault injection: SIGKILL after \(what)")
        kill(getpid(), SIGKILL)
    }

    /// The first time in a wait that Redis is found unavailable (`outage` still false): counts the
    /// outage and reports not ready until the caller sets it ready again.
    func noteRedisOutage(_ outage: inout Bool) {
        guard !outage else { return }
        outage = true
        statistics.redisOutages += 1
        metrics.redisOutages.increment()
        setReady(false)
    }

    /// Runs a Redis operation, retrying connection failures with backoff until it succeeds or
    /// the pipeline is stopped (then the batch is abandoned uncommitted and will be re-read).
    func withRedisRetry<T>(stop: StopSignal, _ what: String, _ body: () throws -> T) throws -> T {
        var delay = 0.05
        var outage = false
        defer { if outage { setReady(true) } }
        while true {
            do {
                return try body()
            } catch let error as RedisError where error.isTransient {
                noteRedisOutage(&outage)
                if stop.isStopped { throw Failure(description: "stopped while Redis was unavailable (\(what)): \(error)") }
                logger.warning("Redis unavailable, retrying", metadata: ["operation": "\(what)", "error": "\(error)", "retry_in_s": "\(delay)"])
                Thread.sleep(forTimeInterval: delay)
                delay = min(delay * 2, 5)
            }
        }
    }
}
