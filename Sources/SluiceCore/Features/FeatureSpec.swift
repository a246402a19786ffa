/// The declarative form of a feature, as written in a topology file (see docs/features.md).
/// `FeatureSet(specs:allowedLateness:)` validates and compiles a list of these.
public struct FeatureSpec: Decodable, Hashable, Sendable {
    public struct WindowSpec: Decodable, Hashable, Sendable {
        public var length: String
        public var bucket: String
        public init(length: String, bucket: String) {
            self.length = length
            self.bucket = bucket
        }
    }

    public struct RatioSpec: Decodable, Hashable, Sendable {
        public var numerator: String
        public var denominator: String
        public init(numerator: String, denominator: String) {
            self.numerator = numerator
            self.denominator = denominator
        }
    }

    public var name: String
    public var aggregation: String?
    public var field: String?
    public var types: [String]?
    public var window: WindowSpec?
    public var ratio: RatioSpec?
    public var eventField: String?
    public var derived: String?

    enum CodingKeys: String, CodingKey {
        case name, aggregation, field, types, window, ratio, derived
        case eventField = "event_field"
    }

    public init(
        name: String, aggregation: String? = nil, field: String? = nil, types: [String]? = nil,
        window: WindowSpec? = nil, ratio: RatioSpec? = nil, eventField: String? = nil, derived: String? = nil
    ) {
        self.name = name
        self.aggregation = aggregation
        self.field = field
        self.types = types
        self.window = window
        self.ratio = ratio
        self.eventField = eventField
        self.derived = derived
    }
}
