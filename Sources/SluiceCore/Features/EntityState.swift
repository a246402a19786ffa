/// The aggregate of one feature's contributing events within one time bucket: the readable form
/// of a bucket (inspection, tests, building a state by hand). `EntityState` stores buckets packed.
public struct BucketAggregate: Equatable, Sendable {
    public var index: Int64
    /// Contributing events applied in this bucket.
    public var count: Int64 = 0
    /// Sum of the field's values in log order (0 for fieldless features).
    public var sum: Double = 0
    public var min: Double = .infinity
    public var max: Double = -.infinity
    /// Entity-local sequence number of the most recently applied contributing event.
    public var lastSequence: Int64 = 0
    public var lastValue: Double = .nan
    public var lastTime: Int64 = 0
    /// Distinct field values, sorted (only for distinct_count).
    public var distinct: [String] = []

    public init(index: Int64) { self.index = index }

    /// Doubles compare by bit pattern: a bucket equals its own copy even when it holds NaN.
    public static func == (a: BucketAggregate, b: BucketAggregate) -> Bool {
        a.index == b.index && a.count == b.count && a.sum.bitPattern == b.sum.bitPattern && a.min.bitPattern == b.min.bitPattern
            && a.max.bitPattern == b.max.bitPattern && a.lastSequence == b.lastSequence
            && a.lastValue.bitPattern == b.lastValue.bitPattern && a.lastTime == b.lastTime && a.distinct == b.distinct
    }
}

/// One windowed feature's buckets for one entity, oldest first: the readable form of a window
/// (inspection, tests, building a state by hand, Redis decoding). `EntityState` stores it packed.
public struct WindowState: Equatable, Sendable {
    public var buckets: [BucketAggregate] = []

    public init(buckets: [BucketAggregate] = []) { self.buckets = buckets }
}

/// Everything the feature engine remembers about one entity (one user).
///
/// A plain value: operators take it `inout` and the caller decides where it lives
/// (Redis, an in-process cache, a backfill's dictionary). This is the explicit snapshot.
///
/// Every window lives in **one buffer** (`words`), each a region of fixed-stride buckets holding
/// only the numbers its aggregation needs (`PackedWindowLayout`): a count bucket is 16 bytes, not
/// the 72 of a `BucketAggregate`, and reaching an entity's windows is one allocation streamed by
/// the hardware prefetcher instead of a dozen arrays, a cache miss each (measured: the first touch
/// of each window's array was most of the feature stage). Distinct counts keep their strings
/// beside it in `distinctWindows`. `windows` gives the readable form.
public struct EntityState: Sendable {
    /// Maximum event time of the entity's applied events (M in docs/features.md); nil before the first.
    public var maxEventTime: Int64?
    /// Number of events applied so far; orders "most recently applied" independent of offsets.
    public var appliedCount: Int64 = 0
    /// Two header words per window (`PackedWindowLayout`), then the packed windows' regions in
    /// window order.
    var words: ContiguousArray<UInt64>
    var distinctWindows: [DistinctValues]
    /// Number of windows (header pairs at the start of `words`).
    public private(set) var windowCount: Int

    /// An empty state for windows with these aggregations (`FeatureSet.windowedIndices` order).
    public init(aggregations: [Aggregation]) {
        var words = ContiguousArray<UInt64>(repeating: 0, count: 2 * aggregations.count)
        var distinct = 0
        for (slot, aggregation) in aggregations.enumerated() {
            words[2 * slot] = PackedWindowLayout.header(start: words.count, aggregation: aggregation, side: distinct)
            if aggregation == .distinctCount { distinct += 1 }
        }
        self.words = words
        self.distinctWindows = Array(repeating: DistinctValues(), count: distinct)
        self.windowCount = aggregations.count
    }

    /// A state holding `windows` (readable form, one per aggregation); a window keeps only the
    /// numbers its aggregation stores.
    public init(maxEventTime: Int64?, appliedCount: Int64, windows: [WindowState], aggregations: [Aggregation]) {
        precondition(windows.count == aggregations.count, "one window per aggregation")
        self.init(aggregations: aggregations)
        self.maxEventTime = maxEventTime
        self.appliedCount = appliedCount
        for slot in windows.indices { replaceWindow(slot, with: windows[slot]) }
    }

    public var isEmpty: Bool { maxEventTime == nil }

    /// The readable form of every window, in `FeatureSet.windowedIndices` order.
    public var windows: [WindowState] { (0..<windowCount).map(window) }

    /// The readable form of window `slot`.
    public func window(_ slot: Int) -> WindowState {
        let header = words[2 * slot]
        let stride = PackedWindowLayout.stride(header)
        let start = PackedWindowLayout.start(header)
        let aggregation = PackedWindowLayout.aggregation(header)
        let count = PackedWindowLayout.count(words[2 * slot + 1])
        return WindowState(buckets: (0..<count).map { k in
            var bucket = PackedWindowLayout.bucket(words[(start + k * stride)...], aggregation: aggregation)
            if aggregation == .distinctCount { bucket.distinct = distinctWindows[PackedWindowLayout.side(header)].perBucket[k] }
            return bucket
        })
    }

    /// Replaces window `slot`'s buckets with `window`'s.
    mutating func replaceWindow(_ slot: Int, with window: WindowState) {
        let header = words[2 * slot]
        let stride = PackedWindowLayout.stride(header)
        let aggregation = PackedWindowLayout.aggregation(header)
        let count = window.buckets.count
        if PackedWindowLayout.capacity(words[2 * slot + 1]) < count { growRegion(slot, toCapacity: count) }
        let start = PackedWindowLayout.start(words[2 * slot])
        for (k, bucket) in window.buckets.enumerated() {
            PackedWindowLayout.store(bucket, aggregation: aggregation, into: &words, at: start + k * stride)
        }
        setCount(slot, count)
        guard aggregation == .distinctCount else { return }
        let indices = window.buckets.map(\.index)
        let values = DistinctValues(perBucket: window.buckets.map(\.distinct), indices: indices)
        // Each bucket's tally: how many values have it as their newest bucket.
        for k in indices.indices { words[start + k * stride + 2] = 0 }
        for entry in values.newest {
            let k = indices.lastIndex(of: entry.bucket)!
            words[start + k * stride + 2] += 1
        }
        distinctWindows[PackedWindowLayout.side(header)] = values
    }

    /// Grows packed window `slot`'s region to `capacity` buckets, moving the later regions.
    mutating func growRegion(_ slot: Int, toCapacity capacity: Int) {
        let header = words[2 * slot]
        let stride = PackedWindowLayout.stride(header)
        let oldCapacity = PackedWindowLayout.capacity(words[2 * slot + 1])
        let extra = (capacity - oldCapacity) * stride
        guard extra > 0 else { return }
        words.insert(contentsOf: repeatElement(0, count: extra), at: PackedWindowLayout.start(header) + oldCapacity * stride)
        // Regions are in window order, so exactly the later windows' regions moved.
        for later in (slot + 1)..<windowCount { words[2 * later] += UInt64(extra) }
        let count = PackedWindowLayout.count(words[2 * slot + 1])
        words[2 * slot + 1] = PackedWindowLayout.sizes(count: count, capacity: capacity)
    }

    mutating func setCount(_ slot: Int, _ count: Int) {
        words[2 * slot + 1] = PackedWindowLayout.sizes(count: count, capacity: PackedWindowLayout.capacity(words[2 * slot + 1]))
    }
}

extension EntityState: Equatable {
    /// Same times, counts and buckets; doubles by bit pattern. Spare capacity does not count.
    public static func == (a: EntityState, b: EntityState) -> Bool {
        guard a.maxEventTime == b.maxEventTime, a.appliedCount == b.appliedCount, a.windowCount == b.windowCount,
              a.distinctWindows == b.distinctWindows else { return false }
        for slot in 0..<a.windowCount {
            let (ha, hb) = (a.words[2 * slot], b.words[2 * slot])
            let stride = PackedWindowLayout.stride(ha)
            guard PackedWindowLayout.stride(hb) == stride, PackedWindowLayout.aggregation(ha) == PackedWindowLayout.aggregation(hb) else { return false }
            let count = PackedWindowLayout.count(a.words[2 * slot + 1])
            guard PackedWindowLayout.count(b.words[2 * slot + 1]) == count else { return false }
            let (sa, sb) = (PackedWindowLayout.start(ha), PackedWindowLayout.start(hb))
            guard a.words[sa..<sa + count * stride].elementsEqual(b.words[sb..<sb + count * stride]) else { return false }
        }
        return true
    }
}
