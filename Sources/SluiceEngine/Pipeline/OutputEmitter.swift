import Foundation

/// What one batch's outputs were, for the run statistics.
struct OutputCounts: Sendable {
    var decisions = 0
    var deadLettered = 0
    var late = 0
    var byDecision: [Topology.Decision: Int] = [:]
}

extension RunStatistics {
    mutating func add(_ counts: some Sequence<OutputCounts>) {
        for batch in counts {
            decisions += batch.decisions
            deadLettered += batch.deadLettered
            late += batch.late
            for (decision, count) in batch.byDecision { byDecision[decision, default: 0] += count }
        }
    }

    mutating func add(_ counts: OutputCounts) { add(CollectionOfOne(counts)) }
}

/// Encodes and produces each batch's outputs on its own thread, so the pipeline thread polls,
/// decodes and scores the next batch meanwhile (both delivery modes; at-least-once drains it at
/// every checkpoint, before the offsets that cover its batches are committed).
///
/// Exactly-once holds because nothing is committed or aborted while a batch is in flight: the
/// pipeline drains the emitter before `send_offsets_to_transaction`/commit and before an abort,
/// so a transaction holds exactly the outputs of the batches whose offsets it commits, produced
/// in batch order (one worker, FIFO). A produce failure is kept and thrown by the next `submit`
/// or `drain`, which the pipeline treats like a failure of its own produce call (abort, re-read);
/// batches queued behind a failed one are dropped, as the transaction they belong to aborts.
///
/// Counts cover every job that ran to completion, committed or not (like the pipeline's
/// counters: they count work; see docs/operations.md).
///
/// Threading: `submit`, `drain`, `takeCounts` and `shutdown` are called by the pipeline thread
/// (also from inside rebalance callbacks); jobs run on the worker thread only.
final class OutputEmitter: @unchecked Sendable {
    typealias Job = () throws -> OutputCounts

    struct Stopped: Error, CustomStringConvertible {
        var description: String { "the output thread has stopped" }
    }

    private let condition = NSCondition()
    // Guarded by `condition`:
    private var queue: [Job] = []
    private var busy = false
    private var stopping = false
    private var failure: Error?
    private var completed: [OutputCounts] = []
    private let finished = DispatchSemaphore(value: 0)
    /// Batches waiting (besides the one running) before `submit` blocks: the pipeline runs at
    /// most this many batches ahead of its outputs.
    let capacity: Int

    init(capacity: Int = 1) {
        self.capacity = capacity
        startNamedThread("sluice-output") { [self] in
            work()
            finished.signal()
        }
    }

    /// Queues a batch's output job, waiting while `capacity` jobs wait; throws (and clears) the
    /// failure of an earlier job.
    func submit(_ job: @escaping Job) throws {
        try condition.withLock {
            while failure == nil && !stopping && queue.count >= capacity { condition.wait() }
            if stopping { throw Stopped() }
            if let failure {
                self.failure = nil
                throw failure
            }
            queue.append(job)
            condition.broadcast()
        }
    }

    /// Waits until every submitted job has run; throws (and clears) the first failure among them.
    func drain() throws {
        try condition.withLock {
            while !queue.isEmpty || busy { condition.wait() }
            if let failure {
                self.failure = nil
                throw failure
            }
        }
    }

    /// The counts of the jobs completed since the last call, one per job.
    func takeCounts() -> [OutputCounts] {
        condition.withLock {
            defer { completed.removeAll(keepingCapacity: true) }
            return completed
        }
    }

    /// Stops the worker: jobs not yet started are dropped (after a drain there are none), and the
    /// call waits up to `timeout` for a running one, so nothing is produced after the pipeline's
    /// run has returned. Later submits throw `Stopped`.
    func shutdown(timeout: Duration = .seconds(30)) {
        let first: Bool = condition.withLock {
            defer { stopping = true }
            queue.removeAll()
            condition.broadcast()
            return !stopping
        }
        guard first else { return }
        let nanos = timeout.components.seconds * 1_000_000_000 + timeout.components.attoseconds / 1_000_000_000
        if finished.wait(timeout: .now() + .nanoseconds(Int(nanos))) == .timedOut {
            finished.signal()  // let a later shutdown return at once
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
            // Room in the queue: a submit waiting for it goes on now, not when this job ends.
            condition.broadcast()
            condition.unlock()
            let result = Result { try job() }
            condition.withLock {
                switch result {
                case .success(let batch): completed.append(batch)
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
