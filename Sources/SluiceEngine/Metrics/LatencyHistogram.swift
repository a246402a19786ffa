/// A log-linear histogram of non-negative durations (microseconds), HDR-style: exact below
/// 256, within 0.8 % above, in a fixed array of counters. Not thread-safe.
public struct LatencyHistogram: Sendable {
    // Values below 256 are exact; above, 128 sub-buckets per power of two (< 0.8 % error).
    private static let linear = 256
    private static let subBuckets = 128
    private static let magnitudes = 40
    private var counts = [UInt64](repeating: 0, count: linear + subBuckets * magnitudes)
    public private(set) var count: UInt64 = 0
    public private(set) var max: Int64 = 0

    public init() {}

    static func index(of value: Int64) -> Int {
        let v = UInt64(Swift.max(value, 0))
        if v < UInt64(linear) { return Int(v) }
        let shift = 64 - v.leadingZeroBitCount - 8
        let sub = Int(v >> UInt64(shift)) - subBuckets
        return Swift.min(linear + (shift - 1) * subBuckets + sub, linear + subBuckets * magnitudes - 1)
    }

    static func lowerBound(ofIndex index: Int) -> Int64 {
        if index < linear { return Int64(index) }
        let shift = (index - linear) / subBuckets + 1
        let sub = (index - linear) % subBuckets + subBuckets
        return Int64(sub) << Int64(shift)
    }

    public mutating func record(_ micros: Int64) {
        counts[Self.index(of: micros)] += 1
        count += 1
        max = Swift.max(max, micros)
    }

    public mutating func merge(_ other: LatencyHistogram) {
        for i in counts.indices { counts[i] += other.counts[i] }
        count += other.count
        max = Swift.max(max, other.max)
    }

    /// (value, fraction of recorded values at or below it) for every non-empty bucket, in
    /// increasing order: the cumulative distribution, for latency plots. The value is the
    /// bucket's upper end (the maximum for the last one), so the curve ends at (max, 1).
    public func distribution() -> [(value: Int64, quantile: Double)] {
        var seen: UInt64 = 0
        var points: [(value: Int64, quantile: Double)] = []
        for (index, c) in counts.enumerated() where c > 0 {
            seen += c
            points.append((Swift.min(Self.lowerBound(ofIndex: index + 1) - 1, max), Double(seen) / Double(count)))
        }
        return points
    }

    /// The smallest recorded bucket value at or above quantile `q` (0...1); 0 when empty.
    public func percentile(_ q: Double) -> Int64 {
        guard count > 0 else { return 0 }
        let rank = UInt64((q * Double(count)).rounded(.up))
        var seen: UInt64 = 0
        for (index, c) in counts.enumerated() where c > 0 {
            seen += c
            if seen >= Swift.max(rank, 1) { return Swift.min(Self.lowerBound(ofIndex: index), max) }
        }
        return max
    }
}
