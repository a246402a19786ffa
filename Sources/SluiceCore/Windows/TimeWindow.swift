/// A sliding event-time window made of fixed buckets, e.g. 24h by 1h.
///
/// Immutable and validated at construction: the length must be a whole, positive number of
/// buckets. An event at time t sees buckets `bucket(t) - bucketCount + 1 ... bucket(t)`, where
/// `bucket(τ) = floor(τ / bucketMillis)`; there is no hidden lateness here: lateness is the
/// feature set's explicit `allowedLateness`.
public struct TimeWindow: Hashable, Sendable, CustomStringConvertible {
    public let lengthMillis: Int64
    public let bucketMillis: Int64

    public struct ValidationError: Error, Equatable, Sendable, CustomStringConvertible {
        public let description: String
    }

    public init(lengthMillis: Int64, bucketMillis: Int64) throws(ValidationError) {
        guard bucketMillis > 0 else { throw ValidationError(description: "window bucket must be positive") }
        guard lengthMillis > 0 else { throw ValidationError(description: "window length must be positive") }
        guard lengthMillis % bucketMillis == 0 else {
            throw ValidationError(
                description: "window length \(DurationText.format(lengthMillis)) is not a whole number of \(DurationText.format(bucketMillis)) buckets")
        }
        self.lengthMillis = lengthMillis
        self.bucketMillis = bucketMillis
    }

    /// Parses `length` and `bucket` duration texts such as `24h` and `1h`.
    public init(length: String, bucket: String) throws(ValidationError) {
        guard let lengthMillis = DurationText.milliseconds(length) else {
            throw ValidationError(description: "window length \"\(length)\" is not a duration like 30s, 1m, 1h or 7d")
        }
        guard let bucketMillis = DurationText.milliseconds(bucket) else {
            throw ValidationError(description: "window bucket \"\(bucket)\" is not a duration like 30s, 1m, 1h or 7d")
        }
        try self.init(lengthMillis: lengthMillis, bucketMillis: bucketMillis)
    }

    public var bucketCount: Int64 { lengthMillis / bucketMillis }

    @inlinable public func bucket(of millis: Int64) -> Int64 { floorDiv(millis, bucketMillis) }

    public var description: String { "\(DurationText.format(lengthMillis)) by \(DurationText.format(bucketMillis))" }
}
