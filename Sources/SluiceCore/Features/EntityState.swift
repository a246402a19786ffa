/// The aggregate of one feature's contributing events within one time bucket.
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
}

/// One windowed feature's buckets for one entity, oldest first.
///
/// For distinct counts it also keeps, per distinct value, the newest bucket holding it
/// (`newestBucketByValue`): an event in the newest bucket or later asks only which values occur at
/// or after its window's first bucket, and that list answers it without visiting every bucket's
/// values (separate arrays, a cache miss each). It is derived from the buckets (kept in step by
/// the feature engine, rebuilt by `init(buckets:)`), so it is neither stored nor compared.
public struct WindowState: Equatable, Sendable {
    public internal(set) var buckets: [BucketAggregate] = []
    /// Every value in `buckets`' distinct lists, once, with the highest bucket index holding it.
    /// Unordered.
    var newestBucketByValue: [(value: String, bucket: Int64)] = []

    public init(buckets: [BucketAggregate] = []) {
        self.buckets = buckets
        for bucket in buckets {
            for value in bucket.distinct { noteDistinct(value, bucket: bucket.index) }
        }
    }

    /// Records that bucket `index` holds `value` (buckets may arrive in any order).
    mutating func noteDistinct(_ value: String, bucket index: Int64) {
        for k in newestBucketByValue.indices where newestBucketByValue[k].value == value {
            if newestBucketByValue[k].bucket < index { newestBucketByValue[k].bucket = index }
            return
        }
        newestBucketByValue.append((value, index))
    }

    /// Removes the buckets below `floor` (the oldest ones) and the values only they held.
    mutating func removeBuckets(below floor: Int64) {
        buckets.removeAll { $0.index < floor }
        if !newestBucketByValue.isEmpty { newestBucketByValue.removeAll { $0.bucket < floor } }
    }

    public static func == (a: WindowState, b: WindowState) -> Bool { a.buckets == b.buckets }
}

/// Everything the feature engine remembers about one entity (one user).
///
/// A plain value: operators take it `inout` and the caller decides where it lives
/// (Redis, an in-process cache, a backfill's dictionary). This is the explicit snapshot.
public struct EntityState: Equatable, Sendable {
    /// Maximum event time of the entity's applied events (M in docs/features.md); nil before the first.
    public var maxEventTime: Int64?
    /// Number of events applied so far; orders "most recently applied" independent of offsets.
    public var appliedCount: Int64 = 0
    /// One per windowed feature, in `FeatureSet.windowedIndices` order.
    public var windows: [WindowState]

    public init(windowCount: Int) {
        self.windows = Array(repeating: WindowState(), count: windowCount)
    }

    public init(maxEventTime: Int64?, appliedCount: Int64, windows: [WindowState]) {
        self.maxEventTime = maxEventTime
        self.appliedCount = appliedCount
        self.windows = windows
    }

    public var isEmpty: Bool { maxEventTime == nil }
}
