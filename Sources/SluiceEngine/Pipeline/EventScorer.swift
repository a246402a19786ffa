import SluiceCore
import SluiceModel

/// The one implementation of "features, then score, then apply" shared by every path
/// (stream, replay, backfill, batch scoring): given events in log order and the entity
/// states before them, it computes each event's features, applies the event, and scores
/// the whole batch in one model call.
public struct EventScorer: Sendable {
    public typealias Batch = FeatureBatch

    public let topology: Topology
    public let model: ScoringModel

    public init(topology: Topology, model: ScoringModel) {
        self.topology = topology
        self.model = model
    }

    /// Scores every row of `batch` with the topology's model in one call.
    public func score(_ batch: inout Batch) {
        let rows = batch.late.count
        let model = self.model.model
        let columns = self.model.columns
        let width = batch.featureCount
        var input = [Double](repeating: .nan, count: rows * model.featureCount)
        for row in 0..<rows {
            for (column, feature) in columns.enumerated() {
                input[row * model.featureCount + column] = batch.features[row * width + feature]
            }
        }
        batch.margins = [Double](repeating: 0, count: rows)
        batch.scores = [Double](repeating: 0, count: rows)
        input.withUnsafeBufferPointer { features in
            batch.margins.withUnsafeMutableBufferPointer { margins in
                batch.scores.withUnsafeMutableBufferPointer { scores in
                    model.predict(features: features, rowCount: rows, margins: margins, outputs: scores)
                }
            }
        }
    }

    public func process(_ events: [Event], states: inout [String: EntityState]) -> Batch {
        var batch = topology.computeFeatures(events, states: &states)
        score(&batch)
        return batch
    }
}

/// Per-event results of one batch, index-aligned with the input events.
public struct FeatureBatch: Sendable {
    public var late: [Bool] = []
    /// `featureCount` values per event, topology order; NaN = missing.
    public var features: [Double] = []
    public var margins: [Double] = []
    public var scores: [Double] = []
    public let featureCount: Int

    public func features(at index: Int) -> ArraySlice<Double> {
        features[index * featureCount..<(index + 1) * featureCount]
    }
}

extension Topology {
    private static func featuresThenApply(_ event: Event, engine: FeatureEngine, row: UnsafeMutableBufferPointer<Double>,
                                          state: inout EntityState) -> Bool {
        engine.computeFeatures(of: event, state: state, into: row)
        return engine.apply(event, to: &state)
    }

    /// Computes features for `events` (in log order) and applies them to `states`, which must
    /// hold the current state of every entity involved (missing entries start empty).
    public func computeFeatures(_ events: [Event], states: inout [String: EntityState]) -> FeatureBatch {
        let engine = self.engine
        let width = engine.featureCount
        var batch = FeatureBatch(featureCount: width)
        batch.late.reserveCapacity(events.count)
        batch.features = [Double](repeating: .nan, count: events.count * width)
        batch.features.withUnsafeMutableBufferPointer { rows in
            for index in events.indices {
                let row = UnsafeMutableBufferPointer(rebasing: rows[index * width..<(index + 1) * width])
                // One lookup, and the state is changed where it lives (the dictionary's
                // default-value subscript yields it in place).
                let applied = Self.featuresThenApply(events[index], engine: engine, row: row,
                                                     state: &states[events[index].userID, default: engine.emptyState()])
                batch.late.append(!applied)
            }
        }
        return batch
    }

}
