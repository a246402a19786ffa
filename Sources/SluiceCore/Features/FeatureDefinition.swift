/// How a windowed feature folds the events in its window.
public enum Aggregation: String, Sendable, CaseIterable, Hashable {
    case count
    case sum
    case mean
    case min
    case max
    case distinctCount = "distinct_count"
    case last
    case secondsSinceLast = "seconds_since_last"

    /// Aggregations that need a `field`, and whether it must be numeric.
    var fieldRequirement: (required: Bool, numeric: Bool) {
        switch self {
        case .count, .secondsSinceLast: return (false, false)
        case .distinctCount: return (true, false)
        case .sum, .mean, .min, .max, .last: return (true, true)
        }
    }
}

/// A per-entity aggregate over an event-time window, e.g. the count of orders and payments over 1h by 1m.
public struct WindowedFeature: Hashable, Sendable {
    public let aggregation: Aggregation
    /// The aggregated field; events lacking it do not contribute. Nil for plain counts and recency.
    public let field: EventField?
    /// Event types that contribute; nil means all types.
    public let types: Set<EventType>?
    public let window: TimeWindow
    /// `types` as one bit per `EventType` (all bits when nil): `accepts` runs per event and
    /// window, where a `Set` lookup hashed the type every time.
    @usableFromInline let typeMask: UInt8

    public init(aggregation: Aggregation, field: EventField?, types: Set<EventType>?, window: TimeWindow) {
        self.aggregation = aggregation
        self.field = field
        self.types = types
        self.window = window
        self.typeMask = types.map { $0.reduce(0) { $0 | $1.bit } } ?? .max
    }

    /// True when `event` contributes to this feature's state.
    @inlinable public func accepts(_ event: Event) -> Bool {
        if typeMask & event.type.bit == 0 { return false }
        if let field, !event.has(field) { return false }
        return true
    }
}

/// Features computed from the current event alone.
public enum EventDerivedFeature: String, Sendable, CaseIterable, Hashable {
    /// 1 when both countries are present and differ, 0 when both present and equal, else missing.
    case addressMismatch = "address_mismatch"
    /// UTC hour of the event time, 0–23.
    case hourOfDay = "hour_of_day"
    /// UTC day of week, 0 = Monday … 6 = Sunday.
    case dayOfWeek = "day_of_week"
}

/// What one feature column is.
public enum FeatureKind: Hashable, Sendable {
    case windowed(WindowedFeature)
    /// numerator / denominator, by feature index; missing when the denominator is 0 or missing.
    case ratio(numerator: Int, denominator: Int)
    /// The event's own numeric field; missing when absent.
    case eventField(EventField)
    case derived(EventDerivedFeature)
}

public struct FeatureDefinition: Hashable, Sendable {
    public let name: String
    public let kind: FeatureKind

    public init(name: String, kind: FeatureKind) {
        self.name = name
        self.kind = kind
    }
}
