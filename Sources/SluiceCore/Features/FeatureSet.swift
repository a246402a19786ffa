/// A validated, ordered list of features plus the lateness rule they share.
///
/// Construction checks everything a topology author can get wrong and names the feature at
/// fault: unknown aggregations, fields or types, windows that are not whole buckets, ratios of
/// unknown features, duplicate names, a spec that says two things at once.
public struct FeatureSet: Sendable, Hashable {
    public struct ValidationError: Error, Equatable, Sendable, CustomStringConvertible {
        public let feature: String?
        public let reason: String
        public var description: String { feature.map { "feature \"\($0)\": \(reason)" } ?? reason }
    }

    public let features: [FeatureDefinition]
    /// Events older than the entity's maximum event time minus this are late (scored, not applied).
    public let allowedLatenessMillis: Int64
    /// Indices (into `features`) of the windowed features, in order; their state is kept per entity.
    public let windowedIndices: [Int]

    public var names: [String] { features.map(\.name) }

    public init(features: [FeatureDefinition], allowedLatenessMillis: Int64) throws(ValidationError) {
        guard allowedLatenessMillis >= 0 else { throw ValidationError(feature: nil, reason: "allowed lateness must be ≥ 0") }
        guard !features.isEmpty else { throw ValidationError(feature: nil, reason: "a topology needs at least one feature") }
        var seen = Set<String>()
        for (index, feature) in features.enumerated() {
            guard !feature.name.isEmpty else { throw ValidationError(feature: nil, reason: "feature \(index + 1) has an empty name") }
            guard seen.insert(feature.name).inserted else { throw ValidationError(feature: feature.name, reason: "duplicate feature name") }
            if case .ratio(let numerator, let denominator) = feature.kind {
                for operand in [numerator, denominator] {
                    guard features.indices.contains(operand) else {
                        throw ValidationError(feature: feature.name, reason: "ratio operand index \(operand) out of range")
                    }
                    if case .ratio = features[operand].kind {
                        throw ValidationError(feature: feature.name, reason: "a ratio's operands must not be ratios")
                    }
                }
            }
        }
        self.features = features
        self.allowedLatenessMillis = allowedLatenessMillis
        self.windowedIndices = features.indices.filter {
            if case .windowed = features[$0].kind { return true }
            return false
        }
    }

    public init(specs: [FeatureSpec], allowedLateness: String) throws(ValidationError) {
        guard let lateness = DurationText.milliseconds(allowedLateness) ?? (allowedLateness.trimmingSpaces() == "0" ? 0 : nil) else {
            throw ValidationError(feature: nil, reason: "allowed_lateness \"\(allowedLateness)\" is not a duration like 0, 30s, 1h")
        }
        let names = specs.map(\.name)
        var definitions: [FeatureDefinition] = []
        for spec in specs {
            definitions.append(FeatureDefinition(name: spec.name, kind: try Self.compile(spec, names: names, specs: specs)))
        }
        try self.init(features: definitions, allowedLatenessMillis: lateness)
    }

    private static func compile(_ spec: FeatureSpec, names: [String], specs: [FeatureSpec]) throws(ValidationError) -> FeatureKind {
        func fail(_ reason: String) -> ValidationError { ValidationError(feature: spec.name, reason: reason) }
        let forms = [spec.aggregation != nil, spec.ratio != nil, spec.eventField != nil, spec.derived != nil].filter { $0 }.count
        guard forms == 1 else {
            throw fail(forms == 0
                ? "needs one of aggregation, ratio, event_field or derived"
                : "must have exactly one of aggregation, ratio, event_field or derived")
        }
        if let ratio = spec.ratio {
            guard let numerator = names.firstIndex(of: ratio.numerator) else { throw fail("ratio of unknown feature \"\(ratio.numerator)\"") }
            guard let denominator = names.firstIndex(of: ratio.denominator) else {
                throw fail("ratio of unknown feature \"\(ratio.denominator)\"")
            }
            for operand in [numerator, denominator] where specs[operand].ratio != nil {
                throw fail("ratio of another ratio (\"\(names[operand])\") is not supported")
            }
            return .ratio(numerator: numerator, denominator: denominator)
        }
        if let name = spec.eventField {
            guard let field = EventField(rawValue: name) else { throw fail("unknown event field \"\(name)\"") }
            guard field.isNumeric else { throw fail("event_field \"\(name)\" is not numeric (amount or item_count)") }
            return .eventField(field)
        }
        if let name = spec.derived {
            guard let derived = EventDerivedFeature(rawValue: name) else {
                throw fail("unknown derived feature \"\(name)\" (\(EventDerivedFeature.allCases.map(\.rawValue).joined(separator: ", ")))")
            }
            return .derived(derived)
        }
        let aggregationName = spec.aggregation!
        guard let aggregation = Aggregation(rawValue: aggregationName) else {
            throw fail("unknown aggregation \"\(aggregationName)\" (\(Aggregation.allCases.map(\.rawValue).joined(separator: ", ")))")
        }
        var field: EventField?
        if let name = spec.field {
            guard let known = EventField(rawValue: name) else { throw fail("unknown field \"\(name)\"") }
            field = known
        }
        let requirement = aggregation.fieldRequirement
        if requirement.required, field == nil { throw fail("\(aggregation.rawValue) needs a field") }
        if requirement.numeric, let field, !field.isNumeric { throw fail("\(aggregation.rawValue) needs a numeric field, \"\(field.rawValue)\" is not") }
        var types: Set<EventType>?
        if let names = spec.types {
            guard !names.isEmpty else { throw fail("types must not be empty (omit it for all types)") }
            var set = Set<EventType>()
            for name in names {
                guard let type = EventType(rawValue: name) else { throw fail("unknown event type \"\(name)\"") }
                set.insert(type)
            }
            types = set.count == EventType.allCases.count ? nil : set
        }
        guard let windowSpec = spec.window else { throw fail("\(aggregation.rawValue) needs a window (length and bucket)") }
        let window: TimeWindow
        do {
            window = try TimeWindow(length: windowSpec.length, bucket: windowSpec.bucket)
        } catch {
            throw fail(error.description)
        }
        return .windowed(WindowedFeature(aggregation: aggregation, field: field, types: types, window: window))
    }

    /// The longest window plus the allowed lateness: how long an idle entity's state stays useful.
    public var stateRetentionMillis: Int64 {
        let longest = windowedIndices.map { index -> Int64 in
            guard case .windowed(let feature) = features[index].kind else { return 0 }
            return feature.window.lengthMillis
        }.max() ?? 0
        return longest + allowedLatenessMillis
    }
}
