import Foundation

/// What one batch's outputs were, for the run statistics.
struct OutputCounts: Sendable {
    var decisions = 0
    var deadLettered = 0
    var late = 0
    var byDecision: [Topology.Decision: Int] = [:]

    mutating func add(_ other: OutputCounts) {
        decisions += other.decisions
        deadLettered += other.deadLettered
        late += other.late
        for (decision, count) in other.byDecision { byDecision[decision, default: 0] += count }
    }
}

extension RunStatistics {
    mutating func add(_ counts: OutputCounts) {
        decisions += counts.decisions
        deadLettered += counts.deadLettered
        late += counts.late
        for (decision, count) in counts.byDecision { byDecision[decision, default: 0] += count }
    }
}

/// Encodes and produces each batch's outputs on its own thread (exactly-once mode), so the
/// pipeline thread polls, decodes and scores the next batch meanwhile.
///
/// Exactly-once holds because nothing is committed or aborted while a batch is in flight: the
/// pipeline drains the emitter before `send_offsets_to_transaction`/commit and before an abort,
/// so a transaction holds exactly the outputs of the batches whose offsets it commits, produced
/// in batch order (one worker, FIFO). A produce failure is kept and thrown by the next `submit`
/// or `drain`, which the pipeline treats like a failure of its own produce call (abort, re-read);
/// batches queued behind a failed one are dropped, as the transaction they belong to aborts.
///
/// Threading: `submit`, `drain` and `shutdown` are called by the pipeline thread (also from
/// inside rebalance callbacks); jobs run on the worker thread only.
final class OutputEmitter: @unchecked Sendable {
    typealias Job = () throws -> OutputCounts

    private let condition = NSCondition()
    // Guarded by `condition`:
    private var queue: [Job] = []
    private var busy = false
    private var stopping = false
    private var failure: Error?
    private var counts = OutputCounts()
    /// Batches waiting (besides the one running) before `submit` blocks: the pipeline runs at
    /// most this many batches ahead of its outputs.
    let capacity: Int

    init(capacity: Int = 1) {
        self.capacity = capacity
        let thread = Thread { [self] in work() }
        thread.name = "sluice-output"
        thread.start()
    }

    /// Queues a batch's output job, waiting while `capacity` jobs wait; throws (and clears) the
    /// failure of an earlier job.
    func submit(_ job: @escaping Job) throws {
        try condition.withLock {
            while failure == nil && queue.count >= capacity { condition.wait() }
            if let failure {
                self.failure = nil
                throw failure
            }
            queue.append(job)
            condition.broadcast()
        }
    }

    /// Waits until every submitted job has run; returns their counts since the last drain, or
    /// throws (and clears) the first failure among them.
    func drain() throws -> OutputCounts {
        try condition.withLock {
            while !queue.isEmpty || busy { condition.wait() }
            let done = counts
            counts = OutputCounts()
            if let failure {
                self.failure = nil
                throw failure
            }
            return done
        }
    }

    /// Stops the worker once the queued jobs have run.
    func shutdown() {
        condition.withLock {
            stopping = true
            condition.broadcast()
        }
    }

    private func work() {
        while true {
            condition.lock()
            while queue.isEmpty && !stopping { condition.wait() }
            guard !queue.isEmpty else {
                condition.unlock()
                return
            }
            let job = queue.removeFirst()
            busy = true
            condition.unlock()
            let result = Result { try job() }
            condition.withLock {
                switch result {
                case .success(let batch): counts.add(batch)
                case .failure(let error):
                    failure = error
                    queue.removeAll()
                }
                busy = false
                condition.broadcast()
            }
        }
    }
}
