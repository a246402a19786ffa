/// Computes feature vectors and applies events to entity state, following docs/features.md.
///
/// Pure and deterministic: the same events in the same log order give bit-identical results,
/// whichever path (stream, replay, backfill, API) drives it. For each event the caller asks
/// for its features first (from the state *before* the event), then applies it.
public struct FeatureEngine: Sendable {
    public let featureSet: FeatureSet
    private let windowed: [WindowedFeature]
    /// An entity with no events (copied: its buffer is shared until first written).
    private let empty: EntityState

    public init(featureSet: FeatureSet) {
        self.featureSet = featureSet
        self.windowed = featureSet.windowedIndices.map { index in
            guard case .windowed(let feature) = featureSet.features[index].kind else { preconditionFailure() }
            return feature
        }
        self.empty = EntityState(aggregations: windowed.map(\.aggregation))
    }

    /// The aggregation of each window of `EntityState`, in `FeatureSet.windowedIndices` order.
    public var windowAggregations: [Aggregation] { windowed.map(\.aggregation) }

    public var featureCount: Int { featureSet.features.count }

    public func emptyState() -> EntityState { empty }

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
        // definition (a retain and release of its type set) per event and feature.
        windowed.withUnsafeBufferPointer { definitions in
            state.words.withUnsafeBufferPointer { words in
                state.distinctWindows.withUnsafeBufferPointer { distinctWindows in
                    var windowSlot = 0
                    for index in features.indices {
                        switch features[index].kind {
                        case .windowed:
                            let header = words[2 * windowSlot]
                            let buckets = words.baseAddress! + PackedWindowLayout.start(header)
                            let count = PackedWindowLayout.count(words[2 * windowSlot + 1])
                            if definitions[windowSlot].aggregation == .distinctCount {
                                row[index] = distinctValue(of: definitions[windowSlot], buckets: buckets, count: count,
                                                           values: distinctWindows, side: PackedWindowLayout.side(header), event: event,
                                                           maxEventTime: state.maxEventTime)
                            } else {
                                row[index] = packedValue(of: definitions[windowSlot], buckets: buckets, count: count, event: event,
                                                         maxEventTime: state.maxEventTime)
                            }
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

    /// The first bucket index `event` sees in `feature`'s window.
    @inline(__always)
    private func lowestVisibleBucket(_ feature: borrowing WindowedFeature, high: Int64, maxEventTime: Int64?) -> Int64 {
        let low = high - feature.window.bucketCount + 1
        guard let maxTime = maxEventTime else { return low }
        return Swift.max(low, retentionFloor(feature, maxEventTime: maxTime))
    }

    /// A packed window's value: one pass over its buckets (`PackedWindowLayout`), which lie in
    /// one run of words.
    @inline(__always)
    private func packedValue(of feature: borrowing WindowedFeature, buckets: UnsafePointer<UInt64>, count n: Int, event: Event,
                             maxEventTime: Int64?) -> Double {
        let high = feature.window.bucket(of: event.eventTime)
        let low = lowestVisibleBucket(feature, high: high, maxEventTime: maxEventTime)
        let aggregation = feature.aggregation
        let stride = PackedWindowLayout.stride(aggregation)
        var p = buckets
        let end = buckets + n * stride
        while p < end && Int64(bitPattern: p[0]) < low { p += stride }
        var total: Int64 = 0
        switch aggregation {
        case .count:
            while p < end && Int64(bitPattern: p[0]) <= high {
                total &+= Int64(bitPattern: p[1])
                p += stride
            }
            return Double(total)
        case .sum, .mean:
            var sum = 0.0
            while p < end && Int64(bitPattern: p[0]) <= high {
                let count = Int64(bitPattern: p[1])
                if count > 0 {
                    total &+= count
                    sum += Double(bitPattern: p[2])
                }
                p += stride
            }
            if aggregation == .sum { return sum }
            return total > 0 ? sum / Double(total) : .nan
        case .min, .max:
            var extreme = aggregation == .min ? Double.infinity : -Double.infinity
            while p < end && Int64(bitPattern: p[0]) <= high {
                if Int64(bitPattern: p[1]) > 0 {
                    total &+= 1
                    let value = Double(bitPattern: p[2])
                    extreme = aggregation == .min ? Swift.min(extreme, value) : Swift.max(extreme, value)
                }
                p += stride
            }
            return total > 0 ? extreme : .nan
        case .last, .secondsSinceLast:
            var lastSequence: Int64 = 0
            var lastValue = Double.nan
            var lastTime: Int64 = 0
            while p < end && Int64(bitPattern: p[0]) <= high {
                if Int64(bitPattern: p[1]) > 0 {
                    total &+= 1
                    let sequence = Int64(bitPattern: p[2])
                    if sequence > lastSequence {
                        lastSequence = sequence
                        lastValue = Double(bitPattern: p[3])
                        lastTime = Int64(bitPattern: p[4])
                    }
                }
                p += stride
            }
            guard total > 0 else { return .nan }
            return aggregation == .last ? lastValue : Double(event.eventTime - lastTime) / 1000
        case .distinctCount:
            preconditionFailure("distinct counts are read by distinctValue, which also needs their strings")
        }
    }

    /// A distinct count's value: the packed buckets' newest-value tallies when no bucket is newer
    /// than the event's, else the values of the buckets in range (`DistinctValues`).
    @inline(__always)
    private func distinctValue(of feature: borrowing WindowedFeature, buckets: UnsafePointer<UInt64>, count n: Int,
                               values: UnsafeBufferPointer<DistinctValues>, side: Int, event: Event, maxEventTime: Int64?) -> Double {
        let high = feature.window.bucket(of: event.eventTime)
        let low = lowestVisibleBucket(feature, high: high, maxEventTime: maxEventTime)
        let stride = PackedWindowLayout.stride(.distinctCount)
        var first = 0
        while first < n && Int64(bitPattern: buckets[first * stride]) < low { first += 1 }
        var end = first
        var total: Int64 = 0
        var newestHere: UInt64 = 0
        while end < n && Int64(bitPattern: buckets[end * stride]) <= high {
            total &+= Int64(bitPattern: buckets[end * stride + 1])
            newestHere &+= buckets[end * stride + 2]
            end += 1
        }
        guard total > 0 else { return 0 }
        // Nothing newer than the event's bucket: every value whose newest bucket is at or after
        // `low` is in the window, once.
        if end == n { return Double(newestHere) }
        return Double(values[side].distinctCount(first..<end) { Int64(bitPattern: buckets[$0 * stride + 1]) > 0 })
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
                let floor = retentionFloor(definitions[slot], maxEventTime: maxTime)
                if definitions[slot].accepts(event) {
                    let (position, created) = addPacked(event, sequence: sequence, feature: definitions[slot], slot: slot, to: &state)
                    if definitions[slot].aggregation == .distinctCount {
                        noteDistinct(event, feature: definitions[slot], slot: slot, position: position, created: created, in: &state)
                    }
                }
                let dropped = removePackedBuckets(slot: slot, below: floor, in: &state)
                if dropped > 0 && definitions[slot].aggregation == .distinctCount {
                    state.distinctWindows[PackedWindowLayout.side(state.words[2 * slot])].removeFirstBuckets(dropped, floor: floor)
                }
            }
        }
        return true
    }

    /// Folds `event` into its bucket of packed window `slot`, creating the bucket if needed.
    /// Returns the bucket's position in the window and whether it was created.
    private func addPacked(_ event: Event, sequence: Int64, feature: borrowing WindowedFeature, slot: Int,
                           to state: inout EntityState) -> (position: Int, created: Bool) {
        let index = feature.window.bucket(of: event.eventTime)
        let aggregation = feature.aggregation
        let stride = PackedWindowLayout.stride(aggregation)
        var sizes = state.words[2 * slot + 1]
        let count = PackedWindowLayout.count(sizes)
        // Events come mostly in order: search from the newest bucket back.
        var position = count
        var exists = false
        state.words.withUnsafeBufferPointer { words in
            let buckets = words.baseAddress! + PackedWindowLayout.start(words[2 * slot])
            while position > 0 && Int64(bitPattern: buckets[(position - 1) * stride]) > index { position -= 1 }
            if position > 0 && Int64(bitPattern: buckets[(position - 1) * stride]) == index {
                position -= 1
                exists = true
            }
        }
        if !exists && count == PackedWindowLayout.capacity(sizes) {
            // Doubling keeps the moves of later regions rare; a window never needs more buckets
            // than it can see plus the lateness allowance.
            state.growRegion(slot, toCapacity: Swift.max(4, 2 * count))
            sizes = state.words[2 * slot + 1]
        }
        let number = feature.field.flatMap { event.number($0) }
        state.words.withUnsafeMutableBufferPointer { words in
            let bucket = words.baseAddress! + PackedWindowLayout.start(words[2 * slot]) + position * stride
            if !exists {
                (bucket + stride).update(from: bucket, count: (count - position) * stride)
                PackedWindowLayout.initialize(bucket, index: index, aggregation: aggregation)
                words[2 * slot + 1] = PackedWindowLayout.sizes(count: count + 1, capacity: PackedWindowLayout.capacity(sizes))
            }
            bucket[1] = UInt64(bitPattern: Int64(bitPattern: bucket[1]) &+ 1)
            switch aggregation {
            case .count, .distinctCount: break
            case .sum, .mean: bucket[2] = (Double(bitPattern: bucket[2]) + (number ?? 0)).bitPattern
            case .min: bucket[2] = Swift.min(Double(bitPattern: bucket[2]), number ?? .infinity).bitPattern
            case .max: bucket[2] = Swift.max(Double(bitPattern: bucket[2]), number ?? -.infinity).bitPattern
            case .last, .secondsSinceLast:
                bucket[2] = UInt64(bitPattern: sequence)
                bucket[3] = (number ?? .nan).bitPattern
                bucket[4] = UInt64(bitPattern: event.eventTime)
            }
        }
        return (position, !exists)
    }

    /// Adds a distinct count's value to its bucket's strings and moves the newest-value tally.
    private func noteDistinct(_ event: Event, feature: borrowing WindowedFeature, slot: Int, position: Int, created: Bool,
                              in state: inout EntityState) {
        let header = state.words[2 * slot]
        let side = PackedWindowLayout.side(header)
        if created { state.distinctWindows[side].perBucket.insert([], at: position) }
        guard let value = feature.field.flatMap({ event.key($0) }) else { return }
        let stride = PackedWindowLayout.stride(.distinctCount)
        let bucket = feature.window.bucket(of: event.eventTime)
        let (previous, gained) = state.distinctWindows[side].add(value, position: position, bucket: bucket)
        guard gained else { return }
        state.words.withUnsafeMutableBufferPointer { words in
            let buckets = words.baseAddress! + PackedWindowLayout.start(header)
            buckets[position * stride + 2] &+= 1
            if let previous {
                var k = position - 1
                while Int64(bitPattern: buckets[k * stride]) != previous { k -= 1 }
                buckets[k * stride + 2] &-= 1
            }
        }
    }

    /// Drops packed window `slot`'s buckets below `floor` (the oldest ones); returns how many.
    private func removePackedBuckets(slot: Int, below floor: Int64, in state: inout EntityState) -> Int {
        let sizes = state.words[2 * slot + 1]
        let count = PackedWindowLayout.count(sizes)
        guard count > 0 else { return 0 }
        let header = state.words[2 * slot]
        let start = PackedWindowLayout.start(header)
        let stride = PackedWindowLayout.stride(header)
        guard Int64(bitPattern: state.words[start]) < floor else { return 0 }
        return state.words.withUnsafeMutableBufferPointer { words in
            let buckets = words.baseAddress! + start
            var dropped = 1
            while dropped < count && Int64(bitPattern: buckets[dropped * stride]) < floor { dropped += 1 }
            buckets.update(from: buckets + dropped * stride, count: (count - dropped) * stride)
            words[2 * slot + 1] = PackedWindowLayout.sizes(count: count - dropped, capacity: PackedWindowLayout.capacity(sizes))
            return dropped
        }
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
