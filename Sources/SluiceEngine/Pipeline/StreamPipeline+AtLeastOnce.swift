import Foundation
import SluiceCore
import SluiceKafka

/// At-least-once bookkeeping of a `StreamPipeline`, also used by replay. Pipeline thread only
/// (rebalance callbacks run on it too, inside `poll`).
struct AtLeastOnceState {
    /// The latest state of the entities seen since the last rebalance, read instead of Redis,
    /// each with the input offsets applied to it (per partition, as exactly-once keeps them);
    /// those in `dirty` are not in Redis yet.
    var states: [String: StoredEntity] = [:]
    /// Entities changed since the last checkpoint.
    var dirty: Set<String> = []
    /// Per partition: the offset after the last record processed since the last checkpoint.
    var offsets: [TopicPartition: Int64] = [:]
    /// The last checkpoint's offsets: committed once the flusher has written its states, at the
    /// next checkpoint (at once by a final one).
    var awaitingCommit: [TopicPartition: Int64] = [:]
    /// The records processed since the last checkpoint.
    var awaiting = AwaitingCommit()
    var records = 0
    /// Offset commits so far (fault injection counts them).
    var commits = 0
    var lastCheckpointNanos: UInt64 = 0
    /// The running loop's stop signal, for Redis retries inside rebalance callbacks.
    var stop = StopSignal()
    /// The stream's writes are fenced by the entities' input offsets, as exactly-once's are: a
    /// write from an instance that lost the partitions (queued or retrying while the next owner
    /// wrote later offsets) is refused instead of overwriting newer state. A replay writes
    /// unfenced: it reads other topics, whose partitions are not the input's, under its own prefix.
    var fenced = false
}

/// At-least-once processing (docs/exactly-once.md): every `commit_interval_ms` (or
/// `commit_max_records` records) a checkpoint delivers the outputs produced since the last one,
/// hands each entity changed since then to the flusher (one Redis write per entity, on the
/// flusher's thread and connection while the next batches run), and commits the offsets of the
/// checkpoint before, whose states the flusher has written by then. So offsets are committed only
/// once their records' outputs are delivered and states written: a crash re-applies what was
/// processed since the last committed checkpoint (its decisions produced again and its events
/// counted twice in the features) and never skips any. Before partitions are revoked, and at the
/// end, a final checkpoint also waits for its own states and commits its offsets, so the next
/// owner starts where this instance stopped.
extension StreamPipeline {
    func runAtLeastOnce(stop: StopSignal) throws -> RunStatistics {
        defer {
            outputs.shutdown()
            // On an error exit, unwritten states go: their offsets are not committed either.
            flusher.shutdown(discard: true)
        }
        atLeastOnce = AtLeastOnceState()
        atLeastOnce.stop = stop
        atLeastOnce.fenced = true
        atLeastOnce.lastCheckpointNanos = DispatchTime.now().uptimeNanoseconds
        try consumer.subscribe([topology.inputTopic])
        while !stop.isStopped {
            let records = try metrics.timed(.poll) {
                try consumer.poll(maxRecords: config.batchSize, timeoutMs: pollTimeoutMs(pendingSince: checkpointPendingSince))
            }
            notePolled(records)
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
        try checkpoint(stop: stop, commit: true, final: true)
        consumer.close()
        try throwDeferredRebalanceError()
        try producer.flush(timeoutMs: config.flushTimeoutMs)
        // Refused writes: a late write of states another owner has since written, or states
        // re-processed after a crash that Redis already held (at-least-once).
        statistics.fencedWrites = flusher.fencedWrites
        logger.info("pipeline stopped", metadata: ["records": "\(statistics.recordsIn)", "fenced": "\(statistics.fencedWrites)"])
        return statistics
    }

    /// Before partitions move (revoked, or, with a cooperative assignor, assigned while others
    /// stay), what was processed is saved and committed, so a new owner starts where this instance
    /// stopped; then the states in memory are dropped, as another instance may change them while
    /// it owns their partitions.
    func handleAtLeastOnceRebalance(_ event: RebalanceEvent) {
        do {
            try checkpoint(stop: atLeastOnce.stop, commit: true, final: true)
        } catch {
            // Nothing of what is dropped below may be committed later: the run ends with the error.
            deferredRebalanceError = deferredRebalanceError ?? error
            atLeastOnce.offsets.removeAll()
            atLeastOnce.awaitingCommit.removeAll()
            atLeastOnce.records = 0
            // A state write still queued or retrying would be refused once the partitions' next
            // owner has written later offsets (fenced), but until then it lands and that owner
            // reads it: wait for it here, while the partitions are still this instance's, for a
            // bounded time.
            _ = try? flusher.drain(timeout: .seconds(10))
        }
        atLeastOnce.states.removeAll()
        atLeastOnce.dirty.removeAll()
        if case .assigned(let partitions) = event {
            do {
                try checkAppliedPositionsForAtLeastOnce(partitions)
            } catch {
                // The run ends with it, before any of these partitions' records is processed.
                deferredRebalanceError = deferredRebalanceError ?? error
            }
        }
        switch event {
        case .revoked(let partitions): logger.info("revoked \(partitions.count) partitions")
        case .assigned(let partitions): logger.info("assigned \(partitions.count) partitions")
        }
    }

    /// The checkpoint interval runs from the last checkpoint, while records wait for the next (or
    /// the last one's offsets wait for their commit).
    private var checkpointPendingSince: UInt64? {
        atLeastOnce.records > 0 || !atLeastOnce.awaitingCommit.isEmpty ? atLeastOnce.lastCheckpointNanos : nil
    }

    var checkpointDue: Bool { commitDue(pendingSince: checkpointPendingSince, records: atLeastOnce.records) }

    /// One polled batch: features from the states in memory (else Redis), outputs handed to the
    /// output thread; its states and offsets wait for the next checkpoint, which waits for them.
    func processBatch(_ records: [KafkaRecord], stop: StopSignal) throws {
        let decoded = metrics.timed(.decode) { decode(records) }
        var entities = try metrics.timed(.featureRead) { try loadStates(decoded.users, stop: stop) }
        // (A replay's applied offsets are never written: its checkpoints are unfenced.)
        var batch = computeFeatures(records, decoded, entities: &entities)
        metrics.timed(.score) { scorer.score(&batch) }
        // Produced by the output thread while this thread goes on with the next batch (as with
        // exactly-once); a produce failure comes back from a later submit or the checkpoint's drain.
        try metrics.timed(.outputWait) {
            try outputs.submit { [self] in try metrics.timed(.produce) { try emitOutputs(records, decoded, batch) } }
        }
        for (slot, userID) in decoded.users.enumerated() {
            atLeastOnce.states[userID] = entities[slot]
            atLeastOnce.dirty.insert(userID)
        }
        for record in records {
            let partition = TopicPartition(topic: record.topic, partition: record.partition)
            atLeastOnce.offsets[partition] = max(atLeastOnce.offsets[partition] ?? 0, record.offset + 1)
            atLeastOnce.awaiting.append(timestamp: record.timestamp, polledAtMicros: lastPollMicros)
        }
        atLeastOnce.records += records.count
        statistics.recordsIn += records.count
        metrics.eventsIn.increment(by: records.count)
        statistics.batches += 1
    }

    /// Waits for the output thread and delivers its outputs (the decisions are visible from here),
    /// waits for the last checkpoint's states to be written and, with `commit`, commits its
    /// offsets, then hands this checkpoint's changed states to the flusher. `final` also waits for
    /// those and commits their offsets. States beyond `state_cache_entries` are then dropped from
    /// memory (once Redis holds them).
    func checkpoint(stop: StopSignal, commit: Bool, final: Bool = false) throws {
        defer { atLeastOnce.lastCheckpointNanos = DispatchTime.now().uptimeNanoseconds }
        guard atLeastOnce.records > 0 || !atLeastOnce.awaitingCommit.isEmpty || final else { return }
        try metrics.timed(.outputWait) { try outputs.drain() }
        statistics.add(outputs.takeCounts())
        try producer.flush(timeoutMs: config.flushTimeoutMs)
        recordCommitted(atLeastOnce.awaiting)
        atLeastOnce.awaiting.removeAll()
        if final {
            // One commit, after this checkpoint's states too: of both checkpoints' offsets.
            atLeastOnce.awaitingCommit.merge(atLeastOnce.offsets, uniquingKeysWith: max)
        } else {
            try commitAwaitingOffsets(stop: stop, commit: commit)
            atLeastOnce.awaitingCommit = atLeastOnce.offsets
        }
        atLeastOnce.offsets.removeAll(keepingCapacity: true)
        atLeastOnce.records = 0
        let changed = atLeastOnce.dirty.map { (userID: $0, entity: atLeastOnce.states[$0]!) }
        atLeastOnce.dirty.removeAll(keepingCapacity: true)
        // At most the previous checkpoint's job is queued (capacity 2), so this never waits.
        if !changed.isEmpty {
            let job: StateFlusher.Job = atLeastOnce.fenced
                ? .committed(entities: changed, positions: [:])
                : .checkpoint(states: changed.map { (userID: $0.userID, state: $0.entity.state) })
            try flusher.enqueue(job) {}
        }
        if final { try commitAwaitingOffsets(stop: stop, commit: commit) }
        if atLeastOnce.states.count > config.stateCacheEntries {
            // Dropped states are read back from Redis, so Redis must hold them first.
            try drainStateWrites(stop: stop)
            atLeastOnce.states.removeAll()
        }
    }

    /// Waits until the flusher has written every checkpoint handed to it, then, with `commit`,
    /// commits the offsets waiting for that and raises exactly-once's applied positions to them.
    ///
    /// Why the applied positions: the states of every record below the committed offsets are in
    /// Redis by now, and an exactly-once run taking over the same group and key prefix later
    /// re-applies `[A, C)` to state. Left at an earlier exactly-once run's value, `A` would make
    /// it apply this run's records a second time. Raised after the commit, so `A ≤ C` holds even
    /// if this process dies in between (then that window is what is re-applied twice).
    private func commitAwaitingOffsets(stop: StopSignal, commit: Bool) throws {
        try drainStateWrites(stop: stop)
        if commit && !atLeastOnce.awaitingCommit.isEmpty {
            let offsets = atLeastOnce.awaitingCommit.map { TopicPartitionOffset(topic: $0.key.topic, partition: $0.key.partition, offset: $0.value) }
            try metrics.timed(.commit) { try consumer.commit(offsets) }
            atLeastOnce.commits += 1
            crashIfInjected(afterCommit: atLeastOnce.commits, "offset commit \(atLeastOnce.commits)")
            var positions: [Int32: Int64] = [:]
            for (partition, offset) in atLeastOnce.awaitingCommit where partition.topic == topology.inputTopic {
                positions[partition.partition] = offset
            }
            try withRedisRetry(stop: stop, "advance applied positions") {
                try store.advanceAppliedPositions(topic: topology.inputTopic, positions)
            }
        }
        atLeastOnce.awaitingCommit.removeAll(keepingCapacity: true)
    }

    /// Waits for the flusher (timed as `redis_flush`); while Redis is unavailable it retries, and
    /// this keeps waiting (not ready meanwhile) until Redis is back or the pipeline is stopped.
    private func drainStateWrites(stop: StopSignal) throws {
        var outage = false
        defer { if outage { setReady(true) } }
        _ = try metrics.timed(.redisFlush) {
            try flusher.drain {
                guard flusher.isRetrying else { return }
                noteRedisOutage(&outage)
                if stop.isStopped { throw Failure(description: "stopped while Redis was unavailable (saving state)") }
            }
        }
    }

    /// The states of `users` (in their order), with their applied offsets, from memory, else
    /// from Redis (one round trip for the rest), else empty. States are moved out, not copied,
    /// so the batch's updates do not copy their buffers; if the batch fails the run ends, and a
    /// restart reads Redis again.
    private func loadStates(_ users: [String], stop: StopSignal) throws -> [StoredEntity] {
        try Self.takeOrLoad(users, placeholder: StoredEntity(state: EntityState(aggregations: []))) { userID in
            atLeastOnce.states.removeValue(forKey: userID)
        } load: { misses in
            try withRedisRetry(stop: stop, "load state") { try store.loadStored(misses) }
        } empty: {
            StoredEntity(state: topology.engine.emptyState())
        }
    }
}
