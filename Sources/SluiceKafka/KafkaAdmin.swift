import CRdKafka
import Logging

/// Topic administration through librdkafka's Admin API.
///
/// Threading: blocking; call from a thread that may wait for up to the given timeout.
public final class KafkaAdmin: @unchecked Sendable {
    private let client: RDKafkaClient
    private let sink: CallbackSink

    public init(configuration: KafkaConfiguration, logger: Logger) throws(KafkaError) {
        let sink = CallbackSink(logger: logger)
        var properties: [String: String] = [:]
        for key in ["bootstrap.servers", "security.protocol", "sasl.mechanisms", "sasl.username", "sasl.password", "client.id",
                    "ssl.ca.location", "socket.timeout.ms", "broker.address.family"] {
            if let value = configuration[key] { properties[key] = value }
        }
        client = try RDKafkaClient(kind: .producer, configuration: KafkaConfiguration(properties), logger: logger) { conf in
            RDKafkaClient.installLogging(on: conf)
            rd_kafka_conf_set_opaque(conf, Unmanaged.passUnretained(sink).toOpaque())
        }
        self.sink = sink
    }

    public struct TopicSpec: Sendable, Hashable {
        public var name: String
        public var partitions: Int32
        public var replicationFactor: Int32
        public var config: [String: String]
        public init(name: String, partitions: Int32, replicationFactor: Int32 = 1, config: [String: String] = [:]) {
            self.name = name
            self.partitions = partitions
            self.replicationFactor = replicationFactor
            self.config = config
        }
    }

    /// Creates the topics that do not exist yet; an existing topic is not an error.
    /// Returns the names that were created.
    @discardableResult
    public func createTopics(_ specs: [TopicSpec], timeoutMs: Int32 = 15_000) throws(KafkaError) -> [String] {
        guard !specs.isEmpty else { return [] }
        var errorText = [CChar](repeating: 0, count: 512)
        var newTopics: [OpaquePointer?] = []
        defer { for topic in newTopics { rd_kafka_NewTopic_destroy(topic) } }
        for spec in specs {
            guard let topic = rd_kafka_NewTopic_new(spec.name, spec.partitions, spec.replicationFactor, &errorText, errorText.count) else {
                let reason = errorText.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
                throw KafkaError(.admin, "topic \(spec.name): \(reason)")
            }
            for (key, value) in spec.config { rd_kafka_NewTopic_set_config(topic, key, value) }
            newTopics.append(topic)
        }
        let queue = rd_kafka_queue_new(client.handle)
        defer { rd_kafka_queue_destroy(queue) }
        let options = rd_kafka_AdminOptions_new(client.handle, RD_KAFKA_ADMIN_OP_CREATETOPICS)
        defer { rd_kafka_AdminOptions_destroy(options) }
        rd_kafka_AdminOptions_set_request_timeout(options, timeoutMs, &errorText, errorText.count)
        newTopics.withUnsafeMutableBufferPointer { rd_kafka_CreateTopics(client.handle, $0.baseAddress, $0.count, options, queue) }

        guard let event = rd_kafka_queue_poll(queue, timeoutMs + 1000) else {
            throw KafkaError(.timeout, "create topics: no answer within \(timeoutMs) ms")
        }
        defer { rd_kafka_event_destroy(event) }
        let eventError = rd_kafka_event_error(event)
        guard eventError == RD_KAFKA_RESP_ERR_NO_ERROR else {
            throw KafkaError(.admin, "create topics: \(String(cString: rd_kafka_event_error_string(event)))", librdkafkaCode: eventError.rawValue)
        }
        guard let result = rd_kafka_event_CreateTopics_result(event) else { throw KafkaError(.admin, "create topics: unexpected event") }
        var count = 0
        guard let topics = rd_kafka_CreateTopics_result_topics(result, &count) else { return [] }
        var created: [String] = []
        for index in 0..<count {
            let topic = topics[index]
            let name = String(cString: rd_kafka_topic_result_name(topic))
            let error = rd_kafka_topic_result_error(topic)
            switch error {
            case RD_KAFKA_RESP_ERR_NO_ERROR: created.append(name)
            case RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS: break
            default:
                let message = rd_kafka_topic_result_error_string(topic).map { String(cString: $0) } ?? ""
                throw KafkaError(.admin, "create topic \(name): \(message)", librdkafkaCode: error.rawValue)
            }
        }
        return created
    }

    public func partitionCount(topic: String, timeoutMs: Int32 = 10_000) throws(KafkaError) -> Int {
        try client.partitionCount(topic: topic, timeoutMs: timeoutMs)
    }

    public func watermarks(topic: String, partition: Int32, timeoutMs: Int32 = 10_000) throws(KafkaError) -> (low: Int64, high: Int64) {
        try client.watermarks(topic: topic, partition: partition, timeoutMs: timeoutMs)
    }
}
