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
        return [T](unsafeUninitializedCapacity: count) { buffer, initialized in
            fill(buffer.baseAddress!, count: count, ways: ways, transform)
            initialized = count
        }
    }

    /// As `map`, but hands each result to `body`, in index order, by moving it: nothing is
    /// copied out of an array and released with it (for a decoded event that was a retain and a
    /// release of each of its strings).
    static func forEach<T>(count: Int, ways: Int, _ transform: @Sendable (Int) -> T, _ body: (Int, consuming T) -> Void) {
        guard ways > 1, count >= minimumParallelCount else {
            for index in 0..<count { body(index, transform(index)) }
            return
        }
        let results = UnsafeMutablePointer<T>.allocate(capacity: count)
        defer { results.deallocate() }
        fill(results, count: count, ways: ways, transform)
        for index in 0..<count { body(index, (results + index).move()) }
    }

    /// Initializes `target[0..<count]` with `transform`, in `ways` chunks run concurrently.
    private static func fill<T>(_ target: UnsafeMutablePointer<T>, count: Int, ways: Int, _ transform: @Sendable (Int) -> T) {
        let chunks = min(ways, count)
        // Each chunk initializes its own disjoint slice of the buffer.
        nonisolated(unsafe) let target = target
        DispatchQueue.concurrentPerform(iterations: chunks) { chunk in
            let start = count * chunk / chunks
            let end = count * (chunk + 1) / chunks
            for index in start..<end { (target + index).initialize(to: transform(index)) }
        }
    }
}
