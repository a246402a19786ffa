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

    var headers: [KafkaHeader] {
        [
            KafkaHeader(name: "sluice.source.topic", string: topic),
            KafkaHeader(name: "sluice.source.partition", string: String(partition)),
            KafkaHeader(name: "sluice.source.offset", string: String(offset)),
        ]
    }
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
        var json = JSONWriter(capacity: 256 + featureNames.count * 32)
        json.beginObject()
        json.key("schema_version"); json.integer(Int64(schemaVersion))
        json.key("event_id"); json.string(event.eventID)
        json.key("user_id"); json.string(event.userID)
        json.key("event_type"); json.string(event.type.rawValue)
        json.key("event_time"); json.string(EventTime.formatRFC3339(event.eventTime))
        json.key("event_time_ms"); json.integer(event.eventTime)
        json.key("score"); json.number(score)
        json.key("margin"); json.number(margin)
        json.key("decision"); json.string(decision.rawValue)
        json.key("model_version"); json.string(modelVersion)
        json.key("late"); json.bool(late)
        json.key("features")
        json.beginObject()
        for (index, name) in featureNames.enumerated() {
            json.key(name); json.number(features[index])
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
