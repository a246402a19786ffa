/// Computes feature vectors and applies events to entity state, following docs/features.md.
///
/// Pure and deterministic: the same events in the same log order give bit-identical results,
/// whichever path (stream, replay, backfill, API) drives it. For each event the caller asks
/// for its features first (from the state *before* the event), then applies it.
public struct FeatureEngine: Sendable {
    public let featureSet: FeatureSet
    private let windowed: [WindowedFeature]

    public init(featureSet: FeatureSet) {
        self.featureSet = featureSet
        self.windowed = featureSet.windowedIndices.map { index in
            guard case .windowed(let feature) = featureSet.features[index].kind else { preconditionFailure() }
            return feature
        }
    }

    public var featureCount: Int { featureSet.features.count }

    public func emptyState() -> EntityState { EntityState(windowCount: windowed.count) }

    /// True when `event` is older than the entity's maximum event time minus the allowed lateness.
    public func isLate(_ event: Event, state: EntityState) -> Bool {
        guard let maxTime = state.maxEventTime else { return false }
        return event.eventTime < maxTime - featureSet.allowedLatenessMillis
    }

    /// The features of `event` given the entity's state before it; NaN marks a missing value.
    public func features(of event: Event, state: EntityState) -> [Double] {
        var values = [Double](repeating: .nan, count: featureCount)
        values.withUnsafeMutableBufferPointer { computeFeatures(of: event, state: state, into: $0) }
        return values
    }

    /// As `features(of:state:)`, writing into a caller-owned row of `featureCount` values.
    public func computeFeatures(of event: Event, state: EntityState, into row: UnsafeMutableBufferPointer<Double>) {
        precondition(row.count >= featureCount)
        let features = featureSet.features
        // Windows and their definitions are read in place: subscripting the arrays copied each
        // WindowState (a retain and release of its buckets) per event and feature.
        windowed.withUnsafeBufferPointer { definitions in
            state.windows.withUnsafeBufferPointer { windows in
                var windowSlot = 0
                for index in features.indices {
                    switch features[index].kind {
                    case .windowed:
                        row[index] = value(of: definitions[windowSlot], window: windows[windowSlot], event: event,
                                           maxEventTime: state.maxEventTime)
                        windowSlot += 1
                    case .eventField(let field):
                        row[index] = event.number(field) ?? .nan
                    case .derived(let derived):
                        row[index] = Self.derivedValue(derived, event: event)
                    case .ratio:
                        break
                    }
                }
            }
        }
        for index in features.indices {
            if case .ratio(let numerator, let denominator) = features[index].kind {
                let n = row[numerator]
                let d = row[denominator]
                row[index] = (d.isNaN || d == 0 || n.isNaN) ? .nan : n / d
            }
        }
    }

    static func derivedValue(_ derived: EventDerivedFeature, event: Event) -> Double {
        switch derived {
        case .addressMismatch:
            guard let shipping = event.shippingCountry, let billing = event.billingCountry else { return .nan }
            return shipping == billing ? 0 : 1
        case .hourOfDay: return Double(EventTime.hourOfDay(event.eventTime))
        case .dayOfWeek: return Double(EventTime.dayOfWeek(event.eventTime))
        }
    }

    /// The lowest bucket index still visible to any event, given the entity's maximum event time.
    private func retentionFloor(_ feature: WindowedFeature, maxEventTime: Int64) -> Int64 {
        feature.window.bucket(of: maxEventTime - featureSet.allowedLatenessMillis) - feature.window.bucketCount + 1
    }

    private func value(of feature: borrowing WindowedFeature, window: borrowing WindowState, event: Event, maxEventTime: Int64?) -> Double {
        let high = feature.window.bucket(of: event.eventTime)
        var low = high - feature.window.bucketCount + 1
        if let maxTime = maxEventTime { low = Swift.max(low, retentionFloor(feature, maxEventTime: maxTime)) }

        // Reads fields in place: iterating `window.buckets` by value would copy every bucket
        // (and retain its `distinct` array) per event and feature.
        return window.buckets.withUnsafeBufferPointer { buckets in
            var first = 0
            while first < buckets.count && buckets[first].index < low { first += 1 }
            var end = first
            while end < buckets.count && buckets[end].index <= high { end += 1 }
            let range = first..<end
            var count: Int64 = 0
            for i in range { count += buckets[i].count }
            guard count > 0 else {
                switch feature.aggregation {
                case .count, .distinctCount, .sum: return 0
                case .mean, .min, .max, .last, .secondsSinceLast: return .nan
                }
            }
            switch feature.aggregation {
            case .count:
                return Double(count)
            case .sum, .mean:
                var sum = 0.0
                for i in range where buckets[i].count > 0 { sum += buckets[i].sum }
                return feature.aggregation == .sum ? sum : sum / Double(count)
            case .min:
                var minimum = Double.infinity
                for i in range where buckets[i].count > 0 { minimum = Swift.min(minimum, buckets[i].min) }
                return minimum
            case .max:
                var maximum = -Double.infinity
                for i in range where buckets[i].count > 0 { maximum = Swift.max(maximum, buckets[i].max) }
                return maximum
            case .distinctCount:
                // Nothing newer than the event's bucket: every value held at or after `low` counts.
                if let newest = buckets.last?.index, newest <= high {
                    var distinct = 0
                    for entry in window.newestBucketByValue where entry.bucket >= low { distinct += 1 }
                    return Double(distinct)
                }
                return Double(Self.distinctCount(buckets, range))
            case .last, .secondsSinceLast:
                var lastSequence: Int64 = 0
                var lastValue = Double.nan
                var lastTime: Int64 = 0
                for i in range where buckets[i].count > 0 && buckets[i].lastSequence > lastSequence {
                    lastSequence = buckets[i].lastSequence
                    lastValue = buckets[i].lastValue
                    lastTime = buckets[i].lastTime
                }
                return feature.aggregation == .last ? lastValue : Double(event.eventTime - lastTime) / 1000
            }
        }
    }

    /// Distinct values across the buckets in `range`. Entities mostly have a handful (cards,
    /// devices): those are deduplicated by comparing with the few seen so far (small strings
    /// compare as two words), kept in a stack buffer (an array here cost a heap allocation per
    /// event and feature), and only beyond 16 through a hash set, which hashes every value.
    private static func distinctCount(_ buckets: UnsafeBufferPointer<BucketAggregate>, _ range: Range<Int>) -> Int {
        let capacity = 16
        return withUnsafeTemporaryAllocation(of: String.self, capacity: capacity) { few in
            var count = 0
            defer { few.baseAddress!.deinitialize(count: count) }
            for i in range where buckets[i].count > 0 {
                for value in buckets[i].distinct where !UnsafeBufferPointer(rebasing: few[..<count]).contains(value) {
                    guard count < capacity else {
                        var all = Set(few[..<count])
                        for j in i..<range.upperBound where buckets[j].count > 0 { all.formUnion(buckets[j].distinct) }
                        return all.count
                    }
                    (few.baseAddress! + count).initialize(to: value)
                    count += 1
                }
            }
            return count
        }
    }

    /// Applies a non-late `event` to `state` and discards buckets no event can see any more.
    /// Returns false (and leaves the state alone) when the event is late.
    @discardableResult
    public func apply(_ event: Event, to state: inout EntityState) -> Bool {
        if isLate(event, state: state) { return false }
        state.appliedCount += 1
        let sequence = state.appliedCount
        let maxTime = Swift.max(state.maxEventTime ?? event.eventTime, event.eventTime)
        state.maxEventTime = maxTime
        windowed.withUnsafeBufferPointer { definitions in
            for slot in definitions.indices {
                if definitions[slot].accepts(event) {
                    add(event, sequence: sequence, feature: definitions[slot], to: &state.windows[slot])
                }
                let floor = retentionFloor(definitions[slot], maxEventTime: maxTime)
                if let first = state.windows[slot].buckets.first?.index, first < floor {
                    state.windows[slot].removeBuckets(below: floor)
                }
            }
        }
        return true
    }

    private func add(_ event: Event, sequence: Int64, feature: borrowing WindowedFeature, to window: inout WindowState) {
        let index = feature.window.bucket(of: event.eventTime)
        let position: Int
        if let last = window.buckets.last, last.index == index {
            position = window.buckets.count - 1
        } else if let found = window.buckets.firstIndex(where: { $0.index >= index }) {
            if window.buckets[found].index != index { window.buckets.insert(BucketAggregate(index: index), at: found) }
            position = found
        } else {
            window.buckets.append(BucketAggregate(index: index))
            position = window.buckets.count - 1
        }
        // Mutated in place: a copy of the bucket retained its `distinct` array, and writing it
        // back released it again.
        if let key = Self.fold(event, sequence: sequence, feature: feature, into: &window.buckets[position]) {
            window.noteDistinct(key, bucket: index)
        }
    }

    /// Returns the value a distinct count added to the bucket (nil for other aggregations).
    private static func fold(_ event: Event, sequence: Int64, feature: borrowing WindowedFeature, into bucket: inout BucketAggregate) -> String? {
        bucket.count += 1
        let number = feature.field.flatMap { event.number($0) }
        switch feature.aggregation {
        case .count: break
        case .sum, .mean: bucket.sum += number ?? 0
        case .min: bucket.min = Swift.min(bucket.min, number ?? .infinity)
        case .max: bucket.max = Swift.max(bucket.max, number ?? -.infinity)
        case .distinctCount:
            if let key = feature.field.flatMap({ event.key($0) }) {
                let at = bucket.distinct.partitioningIndex { $0 >= key }
                if at == bucket.distinct.count || bucket.distinct[at] != key { bucket.distinct.insert(key, at: at) }
                return key
            }
        case .last, .secondsSinceLast:
            bucket.lastSequence = sequence
            bucket.lastValue = number ?? .nan
            bucket.lastTime = event.eventTime
        }
        return nil
    }
}

extension Array {
    /// The first index whose element satisfies `predicate`, for a predicate that is false then true over the array.
    func partitioningIndex(where predicate: (Element) -> Bool) -> Int {
        var low = 0
        var high = count
        while low < high {
            let mid = (low + high) / 2
            if predicate(self[mid]) { high = mid } else { low = mid + 1 }
        }
        return low
    }
}
