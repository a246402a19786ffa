/// The records whose outputs wait for the next commit (a transaction, or an at-least-once
/// checkpoint), for the latency they will have once it is durable: each record's producer
/// timestamp (ms) and when the poll that returned it came back (uptime ns). Records without a
/// timestamp are left out.
///
/// Threading: pipeline thread only.
struct AwaitingCommit {
    private(set) var timestamps: [Int64] = []
    private(set) var polledAtNanos: [UInt64] = []

    mutating func append(timestamp: Int64?, polledAtNanos polled: UInt64) {
        guard let timestamp else { return }
        timestamps.append(timestamp)
        polledAtNanos.append(polled)
    }

    mutating func removeAll() {
        timestamps.removeAll(keepingCapacity: true)
        polledAtNanos.removeAll(keepingCapacity: true)
    }
}
