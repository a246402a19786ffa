import Dispatch
import SluiceCore
import SluiceKafka

/// At-least-once bookkeeping of a `StreamPipeline`, also used by replay. Pipeline thread only
/// (rebalance callbacks run on it too, inside `poll`).
struct AtLeastOnceState {
    /// The latest state of the entities seen since the last rebalance, read instead of Redis;
    /// those in `dirty` are not in Redis yet.
    var states: [String: EntityState] = [:]
    /// Entities changed since the last checkpoint.
    var dirty: Set<String> = []
    /// Per partition: the offset after the last record processed since the last checkpoint.
    var offsets: [TopicPartition: Int64] = [:]
    /// Producer timestamps (ms) of the records processed since the last checkpoint.
    var timestamps: [Int64] = []
    var records = 0
    var lastCheckpointNanos: UInt64 = 0
    /// The running loop's stop signal, for Redis retries inside rebalance callbacks.
    var stop = StopSignal()
}

/// At-least-once processing (docs/exactly-once.md): every `commit_interval_ms` (or
/// `commit_max_records` records) a checkpoint writes each entity changed since the last one to
/// Redis once, flushes the producer, then commits the consumed offsets. A crash re-applies what
/// was processed since the last checkpoint: its decisions are produced again and its events
/// counted twice in the features. Partitions are checkpointed before they are revoked, so the
/// next owner starts where this instance stopped.
extension StreamPipeline {
    func runAtLeastOnce(stop: StopSignal) throws -> RunStatistics {
        atLeastOnce = AtLeastOnceState()
        atLeastOnce.stop = stop
        atLeastOnce.lastCheckpointNanos = DispatchTime.now().uptimeNanoseconds
        try consumer.subscribe([topology.inputTopic])
        while !stop.isStopped {
            let records = try metrics.timed(.poll) {
                try consumer.poll(maxRecords: config.batchSize, timeoutMs: pollTimeoutMs(pendingSince: checkpointPendingSince))
            }
            try throwDeferredRebalanceError()
            sampleOperationalMetrics(batchSize: records.count)
            if records.isEmpty {
                producer.poll()
            } else {
                try timingBatch { try processBatch(records, stop: stop) }
            }
            if checkpointDue { try checkpoint(stop: stop, commit: true) }
            if records.isEmpty && options.exitAtEnd && reachedEnd() { break }
            if let limit = options.maxRecords, statistics.recordsIn >= limit { break }
        }
        try checkpoint(stop: stop, commit: true)
        consumer.close()
        try throwDeferredRebalanceError()
        try producer.flush(timeoutMs: config.flushTimeoutMs)
        logger.info("pipeline stopped", metadata: ["records": "\(statistics.recordsIn)"])
        return statistics
    }

    /// Before partitions move (revoked, or, with a cooperative assignor, assigned while others
    /// stay), what was processed is saved and committed, so a new owner starts where this instance
    /// stopped; then the states in memory are dropped, as another instance may change them while
    /// it owns their partitions.
    func handleAtLeastOnceRebalance(_ event: RebalanceEvent) {
        do {
            try checkpoint(stop: atLeastOnce.stop, commit: true)
        } catch {
            // Nothing of what is dropped below may be committed later: the run ends with the error.
            deferredRebalanceError = deferredRebalanceError ?? error
            atLeastOnce.offsets.removeAll()
            atLeastOnce.records = 0
        }
        atLeastOnce.states.removeAll()
        atLeastOnce.dirty.removeAll()
        switch event {
        case .revoked(let partitions): logger.info("revoked \(partitions.count) partitions")
        case .assigned(let partitions): logger.info("assigned \(partitions.count) partitions")
        }
    }

    /// The checkpoint interval runs from the last checkpoint, while records wait for the next.
    private var checkpointPendingSince: UInt64? { atLeastOnce.records > 0 ? atLeastOnce.lastCheckpointNanos : nil }

    var checkpointDue: Bool { commitDue(pendingSince: checkpointPendingSince, records: atLeastOnce.records) }

    /// One polled batch: features from the states in memory (else Redis), outputs produced; its
    /// states and offsets wait for the next checkpoint.
    func processBatch(_ records: [KafkaRecord], stop: StopSignal) throws {
        let decoded = metrics.timed(.decode) { decode(records) }
        var states = try metrics.timed(.featureRead) { try loadStates(decoded.users, stop: stop) }
        var batch = metrics.timed(.features) {
            topology.computeFeatures(decoded.events, userSlots: decoded.userSlots, states: &states)
        }
        metrics.timed(.score) { scorer.score(&batch) }
        statistics.add(try metrics.timed(.produce) { try emitOutputs(records, decoded, batch) })
        for (slot, userID) in decoded.users.enumerated() {
            atLeastOnce.states[userID] = states[slot]
            atLeastOnce.dirty.insert(userID)
        }
        for record in records {
            let partition = TopicPartition(topic: record.topic, partition: record.partition)
            atLeastOnce.offsets[partition] = max(atLeastOnce.offsets[partition] ?? 0, record.offset + 1)
            if let timestamp = record.timestamp { atLeastOnce.timestamps.append(timestamp) }
        }
        atLeastOnce.records += records.count
        statistics.recordsIn += records.count
        metrics.eventsIn.increment(by: records.count)
        statistics.batches += 1
    }

    /// Writes the changed states to Redis (one write per entity), waits for every output to be
    /// delivered, then, with `commit`, commits the offsets. States beyond `state_cache_entries`
    /// are then dropped from memory.
    func checkpoint(stop: StopSignal, commit: Bool) throws {
        defer { atLeastOnce.lastCheckpointNanos = DispatchTime.now().uptimeNanoseconds }
        guard atLeastOnce.records > 0 else { return }
        let changed = atLeastOnce.dirty.map { (userID: $0, state: atLeastOnce.states[$0]!) }
        try metrics.timed(.redisFlush) { try withRedisRetry(stop: stop, "save state") { try store.save(changed) } }
        atLeastOnce.dirty.removeAll(keepingCapacity: true)
        try producer.flush(timeoutMs: config.flushTimeoutMs)
        if commit {
            let offsets = atLeastOnce.offsets.map { TopicPartitionOffset(topic: $0.key.topic, partition: $0.key.partition, offset: $0.value) }
            try metrics.timed(.commit) { try consumer.commit(offsets) }
        }
        recordCommitted(timestamps: atLeastOnce.timestamps)
        atLeastOnce.offsets.removeAll(keepingCapacity: true)
        atLeastOnce.timestamps.removeAll(keepingCapacity: true)
        atLeastOnce.records = 0
        if atLeastOnce.states.count > config.stateCacheEntries { atLeastOnce.states.removeAll() }
    }

    /// The states of `users` (in their order) from memory, else from Redis (one round trip for
    /// the rest), else empty. States are moved out, not copied, so the batch's updates do not
    /// copy their buffers; if the batch fails the run ends, and a restart reads Redis again.
    private func loadStates(_ users: [String], stop: StopSignal) throws -> [EntityState] {
        try Self.takeOrLoad(users, placeholder: EntityState(aggregations: [])) { userID in
            atLeastOnce.states.removeValue(forKey: userID)
        } load: { misses in
            try withRedisRetry(stop: stop, "load state") { try store.load(misses) }
        } empty: {
            topology.engine.emptyState()
        }
    }
}
