import Dispatch

/// Maps `0..<count` through a pure `transform` on up to `ways` threads at once (the calling
/// thread and Dispatch's pool), results in index order.
///
/// For the per-record work of a batch that depends on nothing but the record (decoding input,
/// encoding decisions): the pipeline thread is the bottleneck while the other core still has
/// room (measured on 2 vCPUs: pipeline thread 89 %, everything else 70 % of the second core).
/// Small inputs run inline; ordering, state and I/O stay on the pipeline thread.
enum ParallelMap {
    /// Below this many items a batch is mapped inline: waking a worker costs more.
    static let minimumParallelCount = 256

    static func map<T>(count: Int, ways: Int, _ transform: @Sendable (Int) -> T) -> [T] {
        guard ways > 1, count >= minimumParallelCount else { return (0..<count).map(transform) }
        let chunks = min(ways, count)
        return [T](unsafeUninitializedCapacity: count) { buffer, initialized in
            let base = buffer.baseAddress!
            // Each chunk initializes its own disjoint slice of the buffer.
            nonisolated(unsafe) let target = base
            DispatchQueue.concurrentPerform(iterations: chunks) { chunk in
                let start = count * chunk / chunks
                let end = count * (chunk + 1) / chunks
                for index in start..<end { (target + index).initialize(to: transform(index)) }
            }
            initialized = count
        }
    }
}
