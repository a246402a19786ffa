import Foundation
import Logging
import SluiceCore
import SluiceKafka
import SluiceRedis

/// Exactly-once bookkeeping of a `StreamPipeline`. Pipeline thread only (rebalance callbacks
/// run on it too, inside `poll`).
struct TransactionState {
    /// Entity states changed since the last Redis flush: by the open transaction, or re-applied
    /// from records an earlier owner committed. Dropping it is always safe if a resync follows.
    var pending: [String: StoredEntity] = [:]
    /// Committed state of entities of partitions owned since the last resync: what Redis holds
    /// once the flusher's queue is written. Read before Redis, so hot entities are only written.
    var committed: [String: StoredEntity] = [:]
    /// Entities committed since the last hand-over to the flusher (their state is in
    /// `committed`), written together at most every `state_flush_interval_ms`: a hot entity
    /// changed by ten commits is written once, not ten times.
    var unflushed: Set<String> = []
    /// `positions` at the last commit: what Redis will have applied once `unflushed` is written.
    var committedPositions: [Int32: Int64] = [:]
    var lastHandOverNanos: UInt64 = 0
    var isOpen = false
    var openedAtNanos: UInt64 = 0
    var recordCount = 0
    /// Per partition: first offset and next offset of the records in the open transaction.
    var ranges: [Int32: (first: Int64, next: Int64)] = [:]
    var awaiting = AwaitingCommit()
    /// Per partition: records below this offset were committed by an earlier owner (or an
    /// earlier incarnation) and are only re-applied to state, without outputs.
    var recoveryEnd: [Int32: Int64] = [:]
    /// Per partition: the offset after the last record applied to `pending` or Redis.
    var positions: [Int32: Int64] = [:]
    /// Re-position every assigned partition before processing more records.
    var needsResync = false
    var sequence = 0
    /// Start offsets chosen at the last assignment (for the log).
    var lastStarts: [Int32: Int64] = [:]
    /// Distinguishes this process's transactions from an earlier incarnation's in the audit log.
    let session = String(UInt64.random(in: 0...UInt64.max), radix: 36)
}

/// Exactly-once processing (docs/exactly-once.md).
///
/// - Outputs of every record and the consumed offsets commit in one Kafka transaction
///   (`send_offsets_to_transaction` with the group metadata, so a zombie is fenced).
/// - Kafka's committed offset is the only commit record. Entity state is written to Redis after
///   the commit, each entity's write fenced by the input offsets it includes (a Lua script skips
///   a write whose offsets Redis already holds), then the per-partition applied position `A`.
/// - Taking over a partition (start, restart, rebalance, after an abort or a Redis outage), the
///   instance starts reading at `A`, not at the committed offset `C`: records in `[A, C)` are
///   re-applied to state without outputs, skipping per entity what Redis already holds.
extension StreamPipeline {
    var transactionalID: String { producer.transactionalID ?? "sluice-\(topology.name)-\(config.instanceID)" }

    func installTransactionalRebalanceHandling() {
        // Weak: the consumer outlives the pipeline during deinit (closing it may call back).
        consumer.startPositionProvider = { [weak self] partitions in
            self?.startPositionsOnAssignment(partitions) ?? [:]
        }
        consumer.rebalanceHandler = { [weak self] event in
            guard let self else { return }
            switch event {
            case .assigned(let partitions):
                self.logger.info("assigned \(partitions.count) partitions", metadata: [
                    "starts": "\(self.transaction.lastStarts.sorted { $0.key < $1.key })", "recovering": "\(self.transaction.recoveryEnd)",
                ])
            case .revoked(let partitions):
                self.handleRevocation(partitions)
            }
        }
    }

    func runTransactional(stop: StopSignal) throws -> RunStatistics {
        // On an error exit, queued writes are dropped: the next start re-applies them from the log.
        defer {
            flusher.shutdown(discard: true)
            outputs.shutdown()
        }
        try producer.initTransactions(timeoutMs: config.flushTimeoutMs)
        try consumer.subscribe([topology.inputTopic])
        while !stop.isStopped {
            try throwDeferredRebalanceError()
            if transaction.needsResync { try resync(stop: stop) }
            let records = try metrics.timed(.poll) {
                try consumer.poll(maxRecords: config.batchSize, timeoutMs: pollTimeoutMs(pendingSince: openSince))
            }
            notePolled(records)
            try throwDeferredRebalanceError()
            sampleOperationalMetrics(batchSize: records.count)
            // Records fetched before a pending re-positioning are read again after it.
            if transaction.needsResync { continue }
            if records.isEmpty {
                producer.poll()
                if commitDue { try commit(stop: stop) }
                // An idle stream still gets its last commits into Redis.
                if !transaction.isOpen { try handOverUnflushed(stop: stop, force: false) }
                if options.exitAtEnd && reachedEnd() {
                    try commit(stop: stop)
                    if !transaction.needsResync { break }
                }
                continue
            }
            try timingBatch { try processTransactional(records, stop: stop) }
            if commitDue || (!transaction.isOpen && !transaction.pending.isEmpty) { try commit(stop: stop) }
            if let limit = options.maxRecords, statistics.recordsIn >= limit {
                try commit(stop: stop)
                if !transaction.needsResync { break }
            }
        }
        try commit(stop: stop)
        try drainFlusher(stop: stop)
        setReady(false)
        consumer.close()
        try throwDeferredRebalanceError()
        statistics.fencedWrites = flusher.fencedWrites
        logger.info("pipeline stopped", metadata: [
            "records": "\(statistics.recordsIn)", "transactions": "\(statistics.transactionsCommitted)",
            "aborted": "\(statistics.transactionsAborted)", "recovered": "\(statistics.recordsRecovered)",
        ])
        return statistics
    }

    /// When the open transaction began; nil when none is open.
    private var openSince: UInt64? { transaction.isOpen ? transaction.openedAtNanos : nil }

    private var commitDue: Bool { commitDue(pendingSince: openSince, records: transaction.recordCount) }

    // MARK: One poll batch

    private func processTransactional(_ records: [KafkaRecord], stop: StopSignal) throws {
        var live: [KafkaRecord] = []
        var replayed: [KafkaRecord] = []
        if transaction.recoveryEnd.isEmpty {
            live = records
        } else {
            for record in records {
                let end: Int64 = transaction.recoveryEnd[record.partition] ?? 0
                if record.offset < end { replayed.append(record) } else { live.append(record) }
            }
        }
        let (decodedLive, decodedReplayed) = metrics.timed(.decode) { (decode(live), decode(replayed)) }

        // The batch's entities by number: the live users as decoded (so `userSlots` index them),
        // then replayed users that are not live. Numbered once, so no event hashes its user again.
        var ids = decodedLive.users
        var replayedSlots: [Int32] = []
        if !replayed.isEmpty {
            var all = EntitySlots(minimumCapacity: decodedLive.users.count + decodedReplayed.users.count)
            for user in decodedLive.users { _ = all.slot(of: user) }
            replayedSlots = decodedReplayed.userSlots.map { all.slot(of: decodedReplayed.users[Int($0)]) }
            ids = all.ids
        }

        // Entities move out of the transaction's maps (they return below), so each state has one
        // owner while it changes and is updated in place instead of copied (copy-on-write). If
        // the batch fails, the abort's resync drops both maps anyway.
        var entities: [StoredEntity]
        do {
            entities = try Self.takeOrLoad(ids, placeholder: StoredEntity(state: EntityState(aggregations: []))) { user in
                transaction.pending.removeValue(forKey: user) ?? transaction.committed.removeValue(forKey: user)
            } load: { missing in
                try metrics.timed(.featureRead) { try store.loadStored(missing) }
            } empty: {
                StoredEntity(state: topology.engine.emptyState())
            }
        } catch let error as RedisError where error.isTransient {
            logger.warning("Redis unavailable while loading state: aborting and pausing", metadata: ["error": "\(error)"])
            try abort(reason: "Redis unavailable")
            try waitForRedis(stop: stop)
            return
        }

        // Records an earlier owner committed: state only, skipping what Redis already holds.
        for (index, record) in replayed.enumerated() {
            let eventIndex = decodedReplayed.outcomes[index]
            guard eventIndex >= 0 else { continue }
            let slot = Int(replayedSlots[eventIndex])
            guard record.offset > (entities[slot].applied[record.partition] ?? -1) else { continue }
            _ = topology.engine.apply(decodedReplayed.events[eventIndex], to: &entities[slot].state)
            entities[slot].applied[record.partition] = record.offset
            statistics.recordsRecovered += 1
            metrics.recovered.increment()
        }

        if !live.isEmpty {
            // Live users come first in `entities` (then those only replayed).
            var batch = computeFeatures(live, decodedLive, entities: &entities)
            metrics.timed(.score) { scorer.score(&batch) }
            do {
                if !transaction.isOpen { try beginTransaction() }
                let header = KafkaHeader(name: "sluice.txn", string: currentTransactionName)
                // Produced by the output thread while this thread goes on with the next batch;
                // commit and abort drain it first.
                try metrics.timed(.outputWait) {
                    try outputs.submit { [self] in
                        try metrics.timed(.produce) { try emitOutputs(live, decodedLive, batch, extraHeaders: [header]) }
                    }
                }
            } catch let error as KafkaError {
                try handleTransactionFailure(error, inCallback: false)
                return
            }
            for index in live.indices {
                let partition = live[index].partition
                let offset = live[index].offset
                let first: Int64 = transaction.ranges[partition]?.first ?? offset
                transaction.ranges[partition] = (first: first, next: offset + 1)
                transaction.awaiting.append(timestamp: live[index].timestamp, polledAtMicros: lastPollMicros)
            }
            transaction.recordCount += live.count
            statistics.recordsIn += live.count
            metrics.eventsIn.increment(by: live.count)
        }
        // Swapped in, leaving empty values behind: a copy would retain every buffer of the state
        // here and release it again with the array.
        for (slot, user) in ids.enumerated() {
            swap(&transaction.pending[user, default: StoredEntity(state: EntityState(aggregations: []))], &entities[slot])
        }
        for index in records.indices {
            let partition = records[index].partition
            let next = records[index].offset + 1
            transaction.positions[partition] = max(transaction.positions[partition] ?? 0, next)
            if let end = transaction.recoveryEnd[partition], next >= end {
                transaction.recoveryEnd[partition] = nil
            }
        }
        statistics.batches += 1
    }

    private var currentTransactionName: String { "\(transactionalID)#\(transaction.session)#\(transaction.sequence)" }

    private func beginTransaction() throws {
        try producer.beginTransaction()
        transaction.isOpen = true
        transaction.sequence += 1
        transaction.openedAtNanos = DispatchTime.now().uptimeNanoseconds
        transaction.ranges = [:]
        transaction.recordCount = 0
        transaction.awaiting.removeAll()
    }

    // MARK: Commit, abort, Redis flush

    /// Commits the open transaction (if any), then hands the pending state to the flusher.
    /// `stop` nil: called from a rebalance callback, where nothing may wait for Redis.
    func commit(stop: StopSignal?) throws {
        if transaction.isOpen {
            do {
                try metrics.timed(.outputWait) { try outputs.drain() }
            } catch let error as KafkaError {
                try handleTransactionFailure(error, inCallback: stop == nil)
                return
            }
            statistics.add(outputs.takeCounts())
            if config.transactionLogLength > 0 {
                do {
                    try store.appendTransactionLog(transactionLogEntry(), keep: config.transactionLogLength)
                } catch let error as RedisError where error.isTransient {
                    logger.warning("Redis unavailable before commit: aborting", metadata: ["error": "\(error)"])
                    try abort(reason: "Redis unavailable")
                    if let stop { try waitForRedis(stop: stop) }
                    return
                }
            }
            let offsets = transaction.ranges.map { TopicPartitionOffset(topic: topology.inputTopic, partition: $0.key, offset: $0.value.next) }
            do {
                try metrics.timed(.commit) {
                    try retrying("send_offsets_to_transaction") {
                        try producer.sendOffsetsToTransaction(offsets, consumer: consumer, timeoutMs: config.flushTimeoutMs)
                    }
                    try retrying("commit_transaction") { try producer.commitTransaction(timeoutMs: config.flushTimeoutMs) }
                }
            } catch let error as KafkaError {
                try handleTransactionFailure(error, inCallback: stop == nil)
                return
            }
            transaction.isOpen = false
            statistics.transactionsCommitted += 1
            logger.debug("transaction committed", metadata: [
                "txn": "\(currentTransactionName)",
                "offsets": "\(offsets.sorted { $0.partition < $1.partition }.map { "\($0.partition):\($0.offset)" }.joined(separator: " "))",
            ])
            metrics.committed.increment()
            recordCommitted(transaction.awaiting)
            crashIfInjected(afterCommit: statistics.transactionsCommitted,
                            "commit \(statistics.transactionsCommitted), before the Redis write")
        }
        try handOverToFlusher(stop: stop)
    }

    /// Retries an operation librdkafka calls retriable (e.g. coordinator moving), a few times.
    private func retrying(_ what: String, _ body: () throws -> Void) throws {
        var attempt = 0
        while true {
            do {
                try body()
                return
            } catch let error as KafkaError where error.isRetriable && !error.requiresAbort && !error.isFatal && attempt < 5 {
                attempt += 1
                logger.warning("\(what) failed, retrying", metadata: ["error": "\(error)", "attempt": "\(attempt)"])
                Thread.sleep(forTimeInterval: 0.1 * Double(attempt))
            }
        }
    }

    /// Fatal errors (fenced by a newer incarnation, or the producer unusable) end the process so a
    /// supervisor restarts it; anything else aborts the transaction and re-reads from the committed state.
    private func handleTransactionFailure(_ error: KafkaError, inCallback: Bool) throws {
        if error.isFatal || error.code == .fenced {
            logger.error("fatal transaction error: exiting", metadata: ["error": "\(error)"])
            throw error
        }
        logger.warning("transaction failed: aborting", metadata: ["error": "\(error)"])
        try abort(reason: error.description)
    }

    /// Aborts the open transaction and drops uncommitted state; partitions are re-positioned at
    /// their committed state before more records are processed.
    func abort(reason: String) throws {
        if transaction.isOpen {
            // Nothing may be produced into the transaction while it aborts; a produce failure
            // there is what this abort handles.
            try? metrics.timed(.outputWait) { try outputs.drain() }
            statistics.add(outputs.takeCounts())
            do {
                try producer.abortTransaction(timeoutMs: min(config.flushTimeoutMs, 10_000))
            } catch {
                // After fencing, abort can only time out: the broker has already aborted it.
                logger.error("abort_transaction failed: exiting", metadata: ["error": "\(error)", "reason": "\(reason)"])
                throw error
            }
            transaction.isOpen = false
            statistics.transactionsAborted += 1
            metrics.aborted.increment()
        }
        transaction.pending.removeAll()
        transaction.ranges = [:]
        transaction.recordCount = 0
        transaction.needsResync = true
    }

    /// Moves the (now committed) pending state into the in-memory cache and, when the flush
    /// interval has passed (always inside a rebalance callback), queues the Redis write of every
    /// entity committed since the last one. Inside a rebalance callback (`stop` nil) nothing may
    /// wait for Redis: if the queue is full of a failing write, the state is dropped and a resync
    /// rebuilds it from the log.
    private func handOverToFlusher(stop: StopSignal?) throws {
        if !transaction.pending.isEmpty {
            for (user, entity) in transaction.pending {
                transaction.committed[user] = entity
                transaction.unflushed.insert(user)
            }
            transaction.pending.removeAll(keepingCapacity: true)
            transaction.committedPositions = transaction.positions
        }
        try handOverUnflushed(stop: stop, force: stop == nil)
        if transaction.committed.count > config.stateCacheEntries {
            // Evicted entries are read back from Redis, so Redis must hold them first.
            try drainFlusher(stop: stop)
            transaction.committed.removeAll()
        }
    }

    /// Queues the Redis write of the entities committed since the last hand-over, if the flush
    /// interval has passed or `force`. Call only with nothing pending (`committed` then holds the
    /// latest state of every unflushed entity, and `committedPositions` what it includes).
    func handOverUnflushed(stop: StopSignal?, force: Bool) throws {
        guard !transaction.unflushed.isEmpty, transaction.pending.isEmpty else { return }
        let now = DispatchTime.now().uptimeNanoseconds
        guard force || now &- transaction.lastHandOverNanos >= UInt64(config.stateFlushIntervalMs) &* 1_000_000 else { return }
        transaction.lastHandOverNanos = now
        var entities: [(userID: String, entity: StoredEntity)] = []
        entities.reserveCapacity(transaction.unflushed.count)
        for user in transaction.unflushed {
            // Missing when a later transaction moved it out of the cache to change it and then
            // aborted (the resync after every abort hands over first). Advancing the applied
            // positions without that state would lose it: leave them, and the resync re-applies
            // the gap from the log.
            guard let entity = transaction.committed[user] else {
                logger.info("committed state of \(user) went with an aborted transaction before its Redis write: re-applying from the log")
                transaction.unflushed.removeAll()
                transaction.committed.removeAll()
                transaction.needsResync = true
                return
            }
            entities.append((userID: user, entity: entity))
        }
        transaction.unflushed.removeAll(keepingCapacity: true)
        let job = StateFlusher.Job.committed(entities: entities, positions: transaction.committedPositions)
        do {
            // Timed as `redis_flush`: non-zero only when the writes fall behind the commits.
            try metrics.timed(.redisFlush) {
                try flusher.enqueue(job) {
                    guard flusher.isRetrying else { return }
                    guard let stop else { throw RedisError(.connectionFailed, "Redis unavailable during a rebalance") }
                    try waitForRedis(stop: stop)
                }
            }
        } catch let error as RedisError where stop == nil {
            logger.warning("state write dropped during rebalance: it is re-applied from the log", metadata: ["error": "\(error)"])
            transaction.committed.removeAll()
            transaction.needsResync = true
        }
    }

    /// Waits until Redis holds every committed state (pausing and polling during an outage).
    func drainFlusher(stop: StopSignal?) throws {
        try handOverUnflushed(stop: stop, force: true)
        try flusher.drain {
            guard flusher.isRetrying, let stop else { return }
            try waitForRedis(stop: stop)
        }
    }

    /// Pauses every assigned partition and keeps polling (so the group membership and
    /// rebalances stay served) until Redis answers again; partitions are re-positioned after.
    private func waitForRedis(stop: StopSignal) throws {
        statistics.redisOutages += 1
        metrics.redisOutages.increment()
        setReady(false)
        try consumer.pause(consumer.assignment)
        var delay = 0.05
        while !redisAnswers() {
            guard !stop.isStopped else { throw Failure(description: "stopped while Redis was unavailable") }
            _ = try consumer.poll(maxRecords: 100, timeoutMs: Int32(delay * 1000))
            try throwDeferredRebalanceError()
            delay = min(delay * 2, 2)
        }
        try consumer.resume(consumer.assignment)
        transaction.needsResync = true
        setReady(true)
        logger.info("Redis is back: resuming")
    }

    private func redisAnswers() -> Bool {
        do {
            _ = try store.connection.execute(["PING"])
            return true
        } catch {
            logger.warning("Redis still unavailable", metadata: ["error": "\(error)"])
            return false
        }
    }

    private func transactionLogEntry() -> [UInt8] {
        var json = JSONWriter(capacity: 256)
        json.beginObject()
        json.key("txn"); json.string(currentTransactionName)
        json.key("instance"); json.string(config.instanceID)
        json.key("topic"); json.string(topology.inputTopic)
        json.key("records"); json.integer(Int64(transaction.recordCount))
        json.key("partitions")
        json.beginObject()
        for (partition, range) in transaction.ranges.sorted(by: { $0.key < $1.key }) {
            json.key(String(partition))
            json.beginArray()
            json.integer(range.first)
            json.integer(range.next)
            json.endArray()
        }
        json.endObject()
        json.endObject()
        return json.bytes
    }

    // MARK: Positions

    /// Aborts what is open and starts every assigned partition again from its state in Redis.
    private func resync(stop: StopSignal) throws {
        if transaction.isOpen || !transaction.pending.isEmpty { try abort(reason: "re-positioning partitions") }
        try drainFlusher(stop: stop)
        transaction.committed.removeAll()
        let assigned = consumer.assignment.filter { $0.topic == topology.inputTopic }
        var starts: [TopicPartition: Int64]? = nil
        while starts == nil {
            do {
                starts = try computeStartPositions(assigned)
            } catch let error as RedisError where error.isTransient {
                try waitForRedis(stop: stop)
            }
        }
        let positions = starts ?? [:]
        let earliest = ["earliest", "smallest", "beginning"].contains(config.kafka["auto.offset.reset"] ?? "earliest")
        let fallback = earliest ? Int64(-2) : Int64(-1)  // RD_KAFKA_OFFSET_BEGINNING / _END
        try consumer.seek(assigned.map { TopicPartitionOffset(topic: $0.topic, partition: $0.partition, offset: positions[$0] ?? fallback) }, timeoutMs: 10_000)
        transaction.needsResync = false
        let startText: String = positions.map { (key: TopicPartition, value: Int64) -> String in "\(key.partition)@\(value)" }.sorted().joined(separator: " ")
        logger.info("partitions re-positioned", metadata: ["starts": .string(startText), "recovering": .string("\(transaction.recoveryEnd)")])
    }

    /// In the assignment callback: where each new partition starts (nothing may throw here).
    private func startPositionsOnAssignment(_ partitions: [TopicPartition]) -> [TopicPartition: Int64] {
        do {
            let starts = try computeStartPositions(partitions.filter { $0.topic == topology.inputTopic })
            transaction.lastStarts = Dictionary(uniqueKeysWithValues: starts.map { ($0.key.partition, $0.value) })
            return starts
        } catch let error as RedisError where error.isTransient {
            logger.warning("Redis unavailable during assignment: re-positioning later", metadata: ["error": "\(error)"])
            transaction.needsResync = true
        } catch {
            deferredRebalanceError = error
        }
        return [:]
    }

    /// Compares the group's committed offset `C` with Redis's applied position `A` per partition:
    /// start at `A` and re-apply `[A, C)` without outputs. Refuses states it cannot reconcile.
    private func computeStartPositions(_ partitions: [TopicPartition]) throws -> [TopicPartition: Int64] {
        guard !partitions.isEmpty else { return [:] }
        let committed = try consumer.committed(partitions, timeoutMs: 10_000)
        let applied = try store.appliedPositions(topic: topology.inputTopic)
        var starts: [TopicPartition: Int64] = [:]
        for entry in committed {
            let partition = TopicPartition(topic: entry.topic, partition: entry.partition)
            let c: Int64? = entry.offset >= 0 ? entry.offset : nil
            transaction.recoveryEnd[entry.partition] = nil
            transaction.positions[entry.partition] = nil
            switch (applied[entry.partition], c) {
            case (nil, nil):
                continue
            case (let a?, nil):
                throw Self.appliedWithoutCommit(partition, applied: a)
            case (nil, let c?):
                let low = try consumer.watermarks(topic: entry.topic, partition: entry.partition, timeoutMs: 10_000).low
                guard low == 0 else {
                    throw Failure(description: """
                        \(partition): Redis has no applied position (state lost?) and the log now starts at \(low), \
                        so the state up to committed offset \(c) cannot be rebuilt: restore Redis from its AOF/snapshot
                        """)
                }
                logger.warning("\(partition): no state position in Redis; rebuilding state from offset 0 to \(c)")
                starts[partition] = 0
                if c > 0 { transaction.recoveryEnd[entry.partition] = c }
            case (let a?, let c?):
                guard a <= c else { throw Self.appliedBeyondCommit(partition, applied: a, committed: c) }
                starts[partition] = a
                if a < c { transaction.recoveryEnd[entry.partition] = c }
            }
        }
        return starts
    }

    /// Before partitions go: commit what is open (the group generation is still valid here),
    /// then forget their state, which the next owner rebuilds from Redis and the log.
    private func handleRevocation(_ partitions: [TopicPartition]) {
        logger.info("revoked \(partitions.count) partitions")
        do {
            if transaction.isOpen || !transaction.pending.isEmpty { try commit(stop: nil) }
            // Also after a failed commit: what earlier commits left unwritten goes now, before
            // the revoked partitions' entities leave the cache.
            try handOverUnflushed(stop: nil, force: true)
        } catch {
            deferredRebalanceError = error
        }
        let revoked = Set(partitions.filter { $0.topic == topology.inputTopic }.map(\.partition))
        for partition in revoked {
            transaction.recoveryEnd[partition] = nil
            transaction.positions[partition] = nil
            transaction.committedPositions[partition] = nil
        }
        // Their next owner may change them: never read them from memory again.
        transaction.committed = transaction.committed.filter { $0.value.applied.keys.allSatisfy { !revoked.contains($0) } }
        // Not required for correctness (late writes are fenced), but spares the next owner a replay.
        _ = try? flusher.drain(timeout: .seconds(5))
    }
}
