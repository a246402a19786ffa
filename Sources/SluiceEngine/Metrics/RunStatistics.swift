import Foundation
import SluiceCore

/// Counters and latency of one pipeline run, for the summary the CLI prints.
/// Owned by the pipeline thread; read by others only after the run ends.
public struct RunStatistics: Sendable {
    public var recordsIn = 0
    public var decisions = 0
    public var deadLettered = 0
    public var late = 0
    public var batches = 0
    public var byDecision: [Topology.Decision: Int] = [:]
    /// Input record timestamp to the commit that made its decision durable, and its two parts
    /// (to the poll that returned the record, and from there: Sluice's own), in microseconds.
    public var eventToDecision = LatencyPartHistograms()
    /// From the poll that returned a batch to the commit of its offsets, in microseconds.
    public var batchProcessing = LatencyHistogram()
    public var startedAtNanos: UInt64 = 0
    public var firstRecordAtNanos: UInt64?
    public var lastCommitAtNanos: UInt64?
    // Exactly-once mode.
    public var transactionsCommitted = 0
    public var transactionsAborted = 0
    /// Records re-applied to Redis state after a crash or takeover (no outputs).
    public var recordsRecovered = 0
    /// Entity writes skipped because Redis already held them (a zombie's or a replay's).
    public var fencedWrites = 0
    public var redisOutages = 0

    public init() {}

    /// Records per second from the first consumed record to the last commit.
    public var recordsPerSecond: Double {
        guard let first = firstRecordAtNanos, let last = lastCommitAtNanos, last > first else { return 0 }
        return Double(recordsIn) / (Double(last - first) / 1e9)
    }

    public var summary: String {
        let classes = Topology.Decision.allCases.map { "\($0.rawValue)=\(byDecision[$0, default: 0])" }.joined(separator: " ")
        let e = eventToDecision.total, toPoll = eventToDecision.toPoll, sincePoll = eventToDecision.sincePoll
        return """
            events in:        \(recordsIn)
            decisions out:    \(decisions) (\(classes))
            late events:      \(late)
            dead-lettered:    \(deadLettered)
            batches:          \(batches)
            throughput:       \(Int(recordsPerSecond.rounded())) events/s
            event→decision:   p50 \(millis(e, 0.50)) ms, p95 \(millis(e, 0.95)) ms, p99 \(millis(e, 0.99)) ms, p99.9 \(millis(e, 0.999)) ms (record timestamp to commit; includes time queued in Kafka)
            event→poll:       p50 \(millis(toPoll, 0.50)) ms, p99 \(millis(toPoll, 0.99)) ms (record timestamp to the poll that returned it: producer, broker, fetch)
            poll→commit:      p50 \(millis(sincePoll, 0.50)) ms, p99 \(millis(sincePoll, 0.99)) ms (Sluice's own part: the poll that returned a record to the commit of its outputs)
            transactions:     \(transactionsCommitted) committed, \(transactionsAborted) aborted; \(recordsRecovered) records re-applied to state, \(fencedWrites) fenced writes, \(redisOutages) Redis outages
            batch latency:    p50 \(millis(batchProcessing, 0.50)) ms, p99 \(millis(batchProcessing, 0.99)) ms (poll to commit, \(recordsIn / max(batches, 1)) records per batch)
            """
    }

    /// The `quantile` of a histogram of microseconds, in milliseconds to one decimal.
    private func millis(_ histogram: LatencyHistogram, _ quantile: Double) -> String {
        formatMillis(Double(histogram.percentile(quantile)) / 1000)
    }

    private func formatMillis(_ value: Double) -> String {
        let scaled = (value * 10).rounded() / 10
        return String(scaled)
    }
}
