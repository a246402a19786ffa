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
