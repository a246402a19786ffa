/// The records whose outputs wait for the next commit (a transaction, or an at-least-once
/// checkpoint), for the latency they will have once it is durable: each record's producer
/// timestamp (ms) and when the poll that returned it came back (wall clock, µs). Records without
/// a timestamp are left out.
///
/// Threading: pipeline thread only.
struct AwaitingCommit {
    private(set) var timestamps: [Int64] = []
    private(set) var polledAtMicros: [Int64] = []

    mutating func append(timestamp: Int64?, polledAtMicros polled: Int64) {
        guard let timestamp else { return }
        timestamps.append(timestamp)
        polledAtMicros.append(polled)
    }

    mutating func removeAll() {
        timestamps.removeAll(keepingCapacity: true)
        polledAtMicros.removeAll(keepingCapacity: true)
    }
}
