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
        var users = EntitySlots()
        let slots = events.map { users.slot(of: $0.userID) }
        var byUser = users.ids.map { states.removeValue(forKey: $0) ?? engine.emptyState() }
        let batch = computeFeatures(events, userSlots: slots, states: &byUser)
        for (slot, user) in users.ids.enumerated() { states[user] = byUser[slot] }
        return batch
    }

    /// Computes features for `events` (in log order) and applies them to `states`: event i's
    /// entity state is `states[userSlots[i]]`. The pipeline's form: a batch's entities are
    /// numbered once while it is decoded, so no event hashes its entity's ID again here.
    public func computeFeatures(_ events: [Event], userSlots: [Int32], states: inout [EntityState]) -> FeatureBatch {
        precondition(userSlots.count == events.count, "one entity slot per event")
        let engine = self.engine
        let width = engine.featureCount
        var batch = FeatureBatch(featureCount: width)
        batch.late.reserveCapacity(events.count)
        batch.features = [Double](repeating: .nan, count: events.count * width)
        batch.features.withUnsafeMutableBufferPointer { rows in
            states.withUnsafeMutableBufferPointer { states in
                for index in events.indices {
                    let row = UnsafeMutableBufferPointer(rebasing: rows[index * width..<(index + 1) * width])
                    let applied = Self.featuresThenApply(events[index], engine: engine, row: row, state: &states[Int(userSlots[index])])
                    batch.late.append(!applied)
                }
            }
        }
        return batch
    }
}

/// The distinct entity IDs of a batch, numbered in first-seen order.
public struct EntitySlots: Sendable {
    public private(set) var ids: [String] = []
    private var slots: [String: Int32] = [:]

    public init(minimumCapacity: Int = 0) {
        slots.reserveCapacity(minimumCapacity)
    }

    /// `id`'s number, assigning the next one when it is new.
    public mutating func slot(of id: String) -> Int32 {
        if let slot = slots[id] { return slot }
        let slot = Int32(ids.count)
        slots[id] = slot
        ids.append(id)
        return slot
    }
}
