import SluiceCore
import SluiceEngine

/// A deliberately naive re-statement of docs/features.md, independent of `FeatureEngine`:
/// it keeps every applied event and folds the window from scratch for each query.
struct ReferenceFeatures {
    let topology: Topology

    /// The user's maximum event time and applied events (in log order), skipping late ones.
    func applied(_ events: [Event]) -> (maxTime: Int64, applied: [Event]) {
        var maxTime = Int64.min
        var applied: [Event] = []
        for event in events {
            if maxTime != Int64.min && event.eventTime < maxTime - topology.features.allowedLatenessMillis { continue }
            maxTime = max(maxTime, event.eventTime)
            applied.append(event)
        }
        return (maxTime, applied)
    }

    func windowedValue(featureIndex: Int, at time: Int64, applied: [Event]) -> Double {
        guard case .windowed(let feature) = topology.features.features[featureIndex].kind else { fatalError("not windowed") }
        let g = feature.window.bucketMillis
        let n = feature.window.lengthMillis / g
        func bucket(_ t: Int64) -> Int64 { t >= 0 ? t / g : (t - g + 1) / g }
        let high = bucket(time)
        let inWindow = applied.filter { event in
            guard bucket(event.eventTime) >= high - n + 1, bucket(event.eventTime) <= high else { return false }
            if let types = feature.types, !types.contains(event.type) { return false }
            if let field = feature.field, event.key(field) == nil { return false }
            return true
        }
        let values = inWindow.compactMap { event in feature.field.flatMap { event.number($0) } }
        switch feature.aggregation {
        case .count: return Double(inWindow.count)
        case .sum: return values.reduce(0, +)
        case .mean: return values.isEmpty ? .nan : values.reduce(0, +) / Double(values.count)
        case .min: return values.min() ?? .nan
        case .max: return values.max() ?? .nan
        case .distinctCount: return Double(Set(inWindow.compactMap { event in feature.field.flatMap { event.key($0) } }).count)
        case .last: return inWindow.last.flatMap { event in feature.field.flatMap { event.number($0) } } ?? .nan
        case .secondsSinceLast: return inWindow.last.map { Double(time - $0.eventTime) / 1000 } ?? .nan
        }
    }
}
