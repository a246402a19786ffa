import SluiceCore
import SluiceKafka

/// Where an input record came from; travels into decisions, dead letters and late events.
public struct SourcePosition: Sendable, Hashable {
    public var topic: String
    public var partition: Int32
    public var offset: Int64

    public init(topic: String, partition: Int32, offset: Int64) {
        self.topic = topic
        self.partition = partition
        self.offset = offset
    }

    /// Topic, partition, offset, in that order.
    var headers: [KafkaHeader] { partitionHeaders + [offsetHeader] }

    /// The topic and partition headers, the same for every record of a partition.
    var partitionHeaders: [KafkaHeader] {
        [KafkaHeader(name: "sluice.source.topic", string: topic), KafkaHeader(name: "sluice.source.partition", string: String(partition))]
    }

    var offsetHeader: KafkaHeader { KafkaHeader(name: Self.offsetHeaderName, string: String(offset)) }

    static let offsetHeaderName = "sluice.source.offset"
}

/// The decision contract (docs/decisions.md). Bump `schemaVersion` on any incompatible change.
///
/// Version 2 dropped `decided_at`: a decision is a function of the input log alone, so copies
/// from a retried transaction are byte-identical; the Kafka record timestamp says when it was made.
public enum DecisionRecord {
    public static let schemaVersion = 2

    /// Encodes one decision as compact JSON with fields in contract order.
    public static func encode(
        event: Event, score: Double, margin: Double, decision: Topology.Decision, late: Bool,
        modelVersion: String, featureNames: [String], features: UnsafeBufferPointer<Double>,
        source: SourcePosition?
    ) -> [UInt8] {
        encode(event: event, score: score, margin: margin, decision: decision, late: late, modelVersion: modelVersion,
               featureKeys: FeatureKeys(featureNames), features: features, source: source)
    }

    /// Feature names as JSON keys, prepared once per topology instead of escaped per decision.
    public struct FeatureKeys: Sendable {
        let keys: [[UInt8]]
        public init(_ names: [String]) { keys = names.map(JSONWriter.preparedKey) }
        var count: Int { keys.count }
    }

    public static func encode(
        event: Event, score: Double, margin: Double, decision: Topology.Decision, late: Bool,
        modelVersion: String, featureKeys: FeatureKeys, features: UnsafeBufferPointer<Double>,
        source: SourcePosition?
    ) -> [UInt8] {
        var json = JSONWriter(capacity: 256 + featureKeys.count * 32)
        json.beginObject()
        json.key(prepared: Keys.schemaVersion); json.integer(Int64(schemaVersion))
        json.key(prepared: Keys.eventID); json.string(event.eventID)
        json.key(prepared: Keys.userID); json.string(event.userID)
        json.key(prepared: Keys.eventType); json.string(event.type.rawValue)
        json.key(prepared: Keys.eventTime); json.time(millis: event.eventTime)
        json.key(prepared: Keys.eventTimeMs); json.integer(event.eventTime)
        json.key(prepared: Keys.score); json.number(score)
        json.key(prepared: Keys.margin); json.number(margin)
        json.key(prepared: Keys.decision); json.string(decision.rawValue)
        json.key(prepared: Keys.modelVersion); json.string(modelVersion)
        json.key(prepared: Keys.late); json.bool(late)
        json.key(prepared: Keys.features)
        json.beginObject()
        for (index, key) in featureKeys.keys.enumerated() {
            json.key(prepared: key); json.number(features[index])
        }
        json.endObject()
        if let source {
            json.key("source")
            json.beginObject()
            json.key("topic"); json.string(source.topic)
            json.key("partition"); json.integer(Int64(source.partition))
            json.key("offset"); json.integer(source.offset)
            json.endObject()
        }
        json.endObject()
        return json.bytes
    }
}

private enum Keys {
    static let schemaVersion = JSONWriter.preparedKey("schema_version")
    static let eventID = JSONWriter.preparedKey("event_id")
    static let userID = JSONWriter.preparedKey("user_id")
    static let eventType = JSONWriter.preparedKey("event_type")
    static let eventTime = JSONWriter.preparedKey("event_time")
    static let eventTimeMs = JSONWriter.preparedKey("event_time_ms")
    static let score = JSONWriter.preparedKey("score")
    static let margin = JSONWriter.preparedKey("margin")
    static let decision = JSONWriter.preparedKey("decision")
    static let modelVersion = JSONWriter.preparedKey("model_version")
    static let late = JSONWriter.preparedKey("late")
    static let features = JSONWriter.preparedKey("features")
}

/// Headers on a dead-letter record: why it was rejected and where it came from.
public enum DeadLetter {
    public static func headers(original: [KafkaHeader], rejection: EventRejection, source: SourcePosition) -> [KafkaHeader] {
        original + source.headers + [
            KafkaHeader(name: "sluice.error.code", string: rejection.code.rawValue),
            KafkaHeader(name: "sluice.error.field", string: rejection.field ?? ""),
            KafkaHeader(name: "sluice.error.reason", string: rejection.description),
        ]
    }
}
