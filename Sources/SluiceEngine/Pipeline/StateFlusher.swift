import Foundation
import Logging
import SluiceCore
import SluiceRedis

/// Writes entity state to Redis on its own thread and connection, so the pipeline thread goes on
/// with the next batches while Redis applies the last ones: with exactly-once the committed
/// state of earlier transactions, with at-least-once each checkpoint's changed states (whose
/// offsets are committed once the job is written, at the next checkpoint).
///
/// Jobs run in order. Each is idempotent (fenced writes and monotonic applied positions, or
/// plain overwrites of a state that no later job has yet replaced), so a job that hits a
/// transient Redis error is retried as is until it succeeds. With exactly-once a crash with jobs
/// queued loses nothing, since the next owner re-applies `[A, C)` from the log; with
/// at-least-once their records' offsets are not committed yet, so they are processed again.
///
/// Threading: `enqueue`, `drain`, `shutdown` and the accessors may be called from any thread
/// (the pipeline's); the worker thread only touches its own store.
final class StateFlusher: @unchecked Sendable {
    enum Job {
        /// The stream's states, each fenced by the input offsets it includes, then the
        /// partitions' applied positions (exactly-once: committed states and their positions;
        /// at-least-once: a checkpoint's states and no positions, which it raises itself after
        /// its offset commit).
        case committed(entities: [(userID: String, entity: StoredEntity)], positions: [Int32: Int64])
        /// A replay's checkpoint: its changed states, written as they are (its own key prefix;
        /// the topics it reads are not the input's, so their offsets fence nothing).
        case checkpoint(states: [(userID: String, state: EntityState)])
    }

    private let store: RedisFeatureStore
    private let topic: String
    private let logger: Logger
    private let condition = NSCondition()
    // Guarded by `condition`:
    private var queue: [Job] = []
    private var busy = false
    private var stopping = false
    private var discarding = false
    private var retrying: RedisError?
    private var failure: Error?
    private var fenced = 0
    /// Jobs waiting or running at most; `enqueue` blocks beyond (backpressure: bounded memory
    /// and a bounded gap to re-apply after a crash).
    let capacity: Int

    init(store: RedisFeatureStore, topic: String, capacity: Int = 2, logger: Logger) {
        self.store = store
        self.topic = topic
        self.capacity = capacity
        self.logger = logger
        startNamedThread("sluice-flusher") { [self] in work() }
    }

    /// Reconnections of the flusher's own Redis connection (any thread).
    var reconnectCount: Int { store.connection.reconnectCount }

    /// True while a job keeps failing on a transient Redis error.
    var isRetrying: Bool { condition.withLock { retrying != nil } }
    var fencedWrites: Int { condition.withLock { fenced } }

    /// Queues a job, waiting while `capacity` jobs are queued; `whileFull` runs (outside the lock)
    /// each 100 ms of waiting, e.g. to keep the consumer polled during a Redis outage.
    func enqueue(_ job: Job, whileFull: () throws -> Void) throws {
        while true {
            // The job is appended, or the wait times out and we come back: a wait that ends with
            // room must loop to append, never return (that silently dropped the job once).
            let appended: Bool = try condition.withLock {
                if let failure { throw failure }
                if queue.count < capacity {
                    queue.append(job)
                    condition.broadcast()
                    return true
                }
                _ = condition.wait(until: Date(timeIntervalSinceNow: 0.1))
                return false
            }
            if appended { return }
            try whileFull()
        }
    }

    /// Waits until every queued job is written, or `timeout` passes (returns false then).
    /// `whileWaiting` runs each 100 ms of waiting.
    @discardableResult
    func drain(timeout: Duration? = nil, whileWaiting: () throws -> Void = {}) throws -> Bool {
        let deadline = timeout.map { ContinuousClock.now + $0 }
        while true {
            let done: Bool = try condition.withLock {
                if let failure { throw failure }
                if queue.isEmpty && !busy { return true }
                _ = condition.wait(until: Date(timeIntervalSinceNow: 0.1))
                return queue.isEmpty && !busy
            }
            if done { return true }
            if let deadline, ContinuousClock.now >= deadline { return false }
            try whileWaiting()
        }
    }

    /// Stops the worker after the queued jobs (or at once, dropping them, with `discard`).
    func shutdown(discard: Bool) {
        condition.withLock {
            stopping = true
            discarding = discard
            if discard { queue.removeAll() }
            condition.broadcast()
        }
    }

    private func work() {
        while true {
            condition.lock()
            while queue.isEmpty && !stopping { condition.wait() }
            guard let job = queue.first else {
                condition.unlock()
                return
            }
            busy = true
            condition.unlock()
            write(job)
            condition.withLock {
                if !queue.isEmpty && !discarding { queue.removeFirst() }
                busy = false
                condition.broadcast()
            }
        }
    }

    private func write(_ job: Job) {
        var delay = 0.05
        while true {
            do {
                var skipped = 0
                switch job {
                case .committed(let entities, let positions):
                    skipped = try store.saveFenced(entities)
                    try store.advanceAppliedPositions(topic: topic, positions)
                    if skipped > 0 {
                        logger.notice("state writes refused by their fences", metadata: [
                            "refused": "\(skipped)", "of": "\(entities.count)",
                            "why": "Redis holds later input offsets for these entities (another instance wrote them since) or already holds these records' changes (processed again after a crash or takeover)",
                        ])
                    }
                    logger.debug("state written", metadata: [
                        "entities": "\(entities.count)", "fenced": "\(skipped)",
                        "positions": "\(positions.sorted { $0.key < $1.key }.map { "\($0.key):\($0.value)" }.joined(separator: " "))",
                    ])
                case .checkpoint(let states):
                    try store.save(states)
                    logger.debug("checkpoint state written", metadata: ["entities": "\(states.count)"])
                }
                condition.withLock {
                    fenced += skipped
                    retrying = nil
                }
                return
            } catch let error as RedisError where error.isTransient {
                let giveUp = condition.withLock { () -> Bool in
                    retrying = error
                    return discarding
                }
                if giveUp {
                    logger.warning("state flusher stopping with a job unwritten: it is re-applied from the log on the next start", metadata: ["error": "\(error)"])
                    return
                }
                logger.warning("Redis unavailable for the state flush, retrying", metadata: ["error": "\(error)", "retry_in_s": "\(delay)"])
                Thread.sleep(forTimeInterval: delay)
                delay = min(delay * 2, 2)
            } catch {
                // Not transient: later jobs must not advance applied positions past this one's
                // unwritten state, so everything queued is dropped (the log re-applies it) and
                // the pipeline fails at its next enqueue or drain.
                logger.error("state flush failed: stopping the flusher", metadata: ["error": "\(error)"])
                condition.withLock {
                    failure = error
                    stopping = true
                    discarding = true
                    queue.removeAll()
                }
                return
            }
        }
    }
}
