/// The strings of one distinct-count window of one entity; its buckets' index, count and
/// newest-bucket tally are packed in `EntityState.words` like every other window.
///
/// `perBucket[k]` holds the values of the window's k-th packed bucket, sorted. `newest` lists
/// every value held, once, with the highest bucket index holding it. Each packed bucket counts
/// the values whose newest bucket it is, so an event in the newest bucket or later sums that
/// tally over its window's buckets, the packed words alone (no string is read), and an event
/// that repeats a value in that value's newest bucket (the common case: the same card or device
/// again) reads only `newest`. Only out-of-order events read `perBucket`.
struct DistinctValues: Sendable {
    var perBucket: [[String]] = []
    /// Unordered; derived from `perBucket` (rebuilt by `init(perBucket:indices:)`).
    var newest: [(value: String, bucket: Int64)] = []

    init() {}

    /// Rebuilds `newest` from the buckets' values; `indices[k]` is bucket k's index.
    init(perBucket: [[String]], indices: [Int64]) {
        self.perBucket = perBucket
        for (k, values) in perBucket.enumerated() {
            for value in values {
                if let j = newest.firstIndex(where: { $0.value == value }) {
                    newest[j].bucket = Swift.max(newest[j].bucket, indices[k])
                } else {
                    newest.append((value, indices[k]))
                }
            }
        }
    }

    /// Records `value` in the bucket at `position` (index `bucket`). Returns the bucket index whose
    /// newest-value tally loses one (nil for none) and whether this bucket's gains one.
    mutating func add(_ value: String, position: Int, bucket: Int64) -> (previousNewest: Int64?, gained: Bool) {
        if let k = newest.firstIndex(where: { $0.value == value }) {
            let previous = newest[k].bucket
            if previous == bucket { return (nil, false) }  // already among this bucket's values
            insert(value, at: position)
            guard previous < bucket else { return (nil, false) }
            newest[k].bucket = bucket
            return (previous, true)
        }
        newest.append((value, bucket))
        insert(value, at: position)
        return (nil, true)
    }

    private mutating func insert(_ value: String, at position: Int) {
        let at = perBucket[position].partitioningIndex { $0 >= value }
        if at == perBucket[position].count || perBucket[position][at] != value { perBucket[position].insert(value, at: at) }
    }

    /// Drops the first `count` buckets (those below `floor`) and the values only they held.
    mutating func removeFirstBuckets(_ count: Int, floor: Int64) {
        perBucket.removeFirst(count)
        newest.removeAll { $0.bucket < floor }
    }

    /// Distinct values over the buckets at `positions` for which `hasEvents` is true (a positive
    /// event count in the packed words).
    /// Entities mostly have a handful (cards, devices): those are deduplicated by comparing with
    /// the few seen so far (small strings compare as two words), kept in a stack buffer, and only
    /// beyond 16 through a hash set, which hashes every value.
    func distinctCount(_ positions: Range<Int>, hasEvents: (Int) -> Bool) -> Int {
        let capacity = 16
        return withUnsafeTemporaryAllocation(of: String.self, capacity: capacity) { few in
            var count = 0
            defer { few.baseAddress!.deinitialize(count: count) }
            for k in positions where hasEvents(k) {
                for value in perBucket[k] where !UnsafeBufferPointer(rebasing: few[..<count]).contains(value) {
                    guard count < capacity else {
                        var all = Set(few[..<count])
                        for j in k..<positions.upperBound where hasEvents(j) { all.formUnion(perBucket[j]) }
                        return all.count
                    }
                    (few.baseAddress! + count).initialize(to: value)
                    count += 1
                }
            }
            return count
        }
    }
}

extension DistinctValues: Equatable {
    /// `newest` follows from `perBucket`.
    static func == (a: DistinctValues, b: DistinctValues) -> Bool { a.perBucket == b.perBucket }
}
