import SluiceCore

/// The declarative pipeline as written in `topologies/*.yaml` (see docs/topology.md).
public struct TopologySpec: Decodable, Sendable {
    public struct Topics: Decodable, Sendable {
        public var input: String
        public var decisions: String
        public var deadLetter: String
        public var late: String
        /// Partitions used when Sluice creates missing topics.
        public var partitions: Int32?

        enum CodingKeys: String, CodingKey {
            case input, decisions, late, partitions
            case deadLetter = "dead_letter"
        }
    }

    public struct Model: Decodable, Sendable {
        /// Model file, relative to the topology file's directory when not absolute.
        public var path: String
        /// Version label written into every decision; defaults to `<file name>@<sha256 prefix>`.
        public var version: String?
    }

    public struct DecisionThresholds: Decodable, Sendable {
        /// Scores at or above this are `review`.
        public var reviewAt: Double
        /// Scores at or above this are `reject`.
        public var rejectAt: Double

        enum CodingKeys: String, CodingKey {
            case reviewAt = "review_at"
            case rejectAt = "reject_at"
        }
    }

    public var name: String
    /// The entity features are kept per; this version supports `user_id` (the input's key).
    public var entity: String
    public var allowedLateness: String
    public var topics: Topics
    public var features: [FeatureSpec]
    public var model: Model
    public var decision: DecisionThresholds

    enum CodingKeys: String, CodingKey {
        case name, entity, topics, features, model, decision
        case allowedLateness = "allowed_lateness"
    }
}
