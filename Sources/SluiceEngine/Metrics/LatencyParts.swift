/// One committed record's event-to-decision latency and its two parts, in µs: before Sluice had
/// the record (its producer timestamp to the poll that returned it) and Sluice's own (that poll
/// to the commit). The parts add up to the total (each is clamped at 0 against clock skew
/// between the producer and this host).
struct LatencyParts {
    let total: Int64
    let toPoll: Int64
    let sincePoll: Int64

    init(timestampMs: Int64, polledAtMicros: Int64, nowMicros: Int64) {
        let produced = timestampMs * 1000
        total = max(0, nowMicros - produced)
        toPoll = min(total, max(0, polledAtMicros - produced))
        sincePoll = total - toPoll
    }
}

/// Histograms (µs) of committed records' latency and of its two parts, `LatencyParts`.
public struct LatencyPartHistograms: Sendable {
    /// Record timestamp to the commit that made its outputs durable.
    public var total = LatencyHistogram()
    /// Record timestamp to the poll that returned it (producer, broker, fetch).
    public var toPoll = LatencyHistogram()
    /// That poll to the commit: Sluice's own part.
    public var sincePoll = LatencyHistogram()

    public init() {}

    mutating func record(_ latency: LatencyParts) {
        total.record(latency.total)
        toPoll.record(latency.toPoll)
        sincePoll.record(latency.sincePoll)
    }
}
