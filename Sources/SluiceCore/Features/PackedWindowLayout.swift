/// How `EntityState` packs a window's buckets into 8-byte words, and the bits of the two header
/// words each window has at the start of the buffer.
///
/// A bucket is `index, count`, then its aggregation's numbers, in the order of its Redis field
/// (docs/features.md), so encoding a window copies its words:
/// count: nothing more; sum and mean: the sum; min: the minimum; max: the maximum; last and
/// seconds_since_last: sequence, value, time. A distinct count's bucket holds how many values have
/// it as their newest bucket (derived, not stored in Redis); its strings are in `DistinctValues`.
///
/// Header word 0: region start in words | stride << 32 | aggregation ordinal << 40 | index in
/// `EntityState.distinctWindows` << 48 (distinct counts). Header word 1: bucket count | capacity << 32.
enum PackedWindowLayout {
    /// Words per bucket.
    static func stride(_ aggregation: Aggregation) -> Int {
        switch aggregation {
        case .count: 2
        case .sum, .mean, .min, .max, .distinctCount: 3
        case .last, .secondsSinceLast: 5
        }
    }

    static func header(start: Int, aggregation: Aggregation, side: Int = 0) -> UInt64 {
        UInt64(start) | UInt64(stride(aggregation)) << 32 | UInt64(Aggregation.allCases.firstIndex(of: aggregation)!) << 40
            | UInt64(side) << 48
    }

    /// A distinct count's index in `EntityState.distinctWindows`.
    @inline(__always) static func side(_ header: UInt64) -> Int { Int(truncatingIfNeeded: header >> 48) }

    @inline(__always) static func start(_ header: UInt64) -> Int { Int(truncatingIfNeeded: header & 0xFFFF_FFFF) }
    @inline(__always) static func stride(_ header: UInt64) -> Int { Int(truncatingIfNeeded: (header >> 32) & 0xFF) }
    static func aggregation(_ header: UInt64) -> Aggregation { Aggregation.allCases[Int((header >> 40) & 0xFF)] }

    @inline(__always) static func count(_ sizes: UInt64) -> Int { Int(truncatingIfNeeded: sizes & 0xFFFF_FFFF) }
    @inline(__always) static func capacity(_ sizes: UInt64) -> Int { Int(truncatingIfNeeded: sizes >> 32) }
    @inline(__always) static func sizes(count: Int, capacity: Int) -> UInt64 { UInt64(count) | UInt64(capacity) << 32 }

    /// Writes a new bucket `index` with no events (the numbers `BucketAggregate(index:)` starts from).
    @inline(__always)
    static func initialize(_ bucket: UnsafeMutablePointer<UInt64>, index: Int64, aggregation: Aggregation) {
        bucket[0] = UInt64(bitPattern: index)
        bucket[1] = 0
        switch aggregation {
        case .count: break
        case .distinctCount: bucket[2] = 0
        case .sum, .mean: bucket[2] = 0.0.bitPattern
        case .min: bucket[2] = Double.infinity.bitPattern
        case .max: bucket[2] = (-Double.infinity).bitPattern
        case .last, .secondsSinceLast:
            bucket[2] = 0
            bucket[3] = Double.nan.bitPattern
            bucket[4] = 0
        }
    }

    /// The readable form of the bucket whose words start `words` (a distinct count's values are
    /// not in the words).
    static func bucket(_ words: ArraySlice<UInt64>, aggregation: Aggregation) -> BucketAggregate {
        let w = Array(words.prefix(stride(aggregation)))
        var bucket = BucketAggregate(index: Int64(bitPattern: w[0]))
        bucket.count = Int64(bitPattern: w[1])
        switch aggregation {
        case .count, .distinctCount: break
        case .sum, .mean: bucket.sum = Double(bitPattern: w[2])
        case .min: bucket.min = Double(bitPattern: w[2])
        case .max: bucket.max = Double(bitPattern: w[2])
        case .last, .secondsSinceLast:
            bucket.lastSequence = Int64(bitPattern: w[2])
            bucket.lastValue = Double(bitPattern: w[3])
            bucket.lastTime = Int64(bitPattern: w[4])
        }
        return bucket
    }

    /// Stores the numbers of `bucket` that `aggregation` keeps at `position` (a distinct count's
    /// newest-bucket tally is left to the caller).
    static func store(_ bucket: BucketAggregate, aggregation: Aggregation, into words: inout ContiguousArray<UInt64>, at position: Int) {
        words[position] = UInt64(bitPattern: bucket.index)
        words[position + 1] = UInt64(bitPattern: bucket.count)
        switch aggregation {
        case .count, .distinctCount: break
        case .sum, .mean: words[position + 2] = bucket.sum.bitPattern
        case .min: words[position + 2] = bucket.min.bitPattern
        case .max: words[position + 2] = bucket.max.bitPattern
        case .last, .secondsSinceLast:
            words[position + 2] = UInt64(bitPattern: bucket.lastSequence)
            words[position + 3] = bucket.lastValue.bitPattern
            words[position + 4] = UInt64(bitPattern: bucket.lastTime)
        }
    }
}
