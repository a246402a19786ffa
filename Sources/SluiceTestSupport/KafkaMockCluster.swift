import CRdKafka
import Foundation

/// librdkafka's in-process mock cluster (`rdkafka_mock.h`), for injecting broker and
/// coordinator errors that no real broker can be made to return on demand.
///
/// Limits measured here (../shared notes, docs/testing.md): offsets sent in a transaction are
/// never applied, aborted records stay visible, ~5 MiB kept per partition, groups need
/// `session.timeout.ms` ≥ 4000. Topics must be created with `createTopic` (CreateTopics times out).
public final class KafkaMockCluster: @unchecked Sendable {
    private let host: OpaquePointer
    private let cluster: OpaquePointer
    public let bootstrap: String

    /// Kafka protocol API keys used by the transactional path.
    public enum APIKey: Int16, Sendable {
        case produce = 0
        case initProducerID = 22
        case addPartitionsToTxn = 24
        case addOffsetsToTxn = 25
        case endTxn = 26
        case txnOffsetCommit = 28
    }

    public init(brokers: Int32 = 3) throws {
        var errorText = [CChar](repeating: 0, count: 512)
        guard let conf = rd_kafka_conf_new(),
              let host = rd_kafka_new(RD_KAFKA_PRODUCER, conf, &errorText, errorText.count) else {
            throw ManagedProcessError("cannot create the mock cluster's host handle")
        }
        guard let cluster = rd_kafka_mock_cluster_new(host, brokers) else {
            rd_kafka_destroy(host)
            throw ManagedProcessError("rd_kafka_mock_cluster_new failed")
        }
        self.host = host
        self.cluster = cluster
        bootstrap = String(cString: rd_kafka_mock_cluster_bootstraps(cluster))
    }

    deinit {
        rd_kafka_mock_cluster_destroy(cluster)
        rd_kafka_destroy(host)
    }

    /// Settings with which consumer groups form on the mock cluster.
    public var clientProperties: [String: String] {
        [
            "bootstrap.servers": bootstrap,
            "session.timeout.ms": "4000",
            "heartbeat.interval.ms": "400",
            "partition.assignment.strategy": "range",
        ]
    }

    public func createTopic(_ name: String, partitions: Int32) throws {
        let result = rd_kafka_mock_topic_create(cluster, name, partitions, 1)
        guard result == RD_KAFKA_RESP_ERR_NO_ERROR else {
            throw ManagedProcessError("mock topic \(name): \(String(cString: rd_kafka_err2str(result)))")
        }
    }

    /// The next requests of `api` (one per error, in order) fail with these Kafka error codes.
    public func pushRequestErrors(_ api: APIKey, _ errors: [Int32]) {
        var codes = errors.map { rd_kafka_resp_err_t(rawValue: $0) }
        rd_kafka_mock_push_request_errors_array(cluster, api.rawValue, codes.count, &codes)
    }
}
