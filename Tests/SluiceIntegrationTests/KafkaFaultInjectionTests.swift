import Foundation
import Logging
import SluiceChaos
import SluiceEngine
import SluiceGenerator
import SluiceKafka
import SluiceTestSupport
import XCTest

/// Broker and coordinator failures injected with librdkafka's mock cluster, against the
/// exactly-once pipeline (in process) and a real Redis. The mock never applies offsets sent in a
/// transaction, so these tests check state and committed outputs (through the audit log), not
/// the group's offsets; the Tansu chaos tests cover those.
final class KafkaFaultInjectionTests: XCTestCase {
    private var mock: KafkaMockCluster!
    private var redis: RedisTestServer!
    private var topology: Topology!

    override func setUpWithError() throws {
        mock = try KafkaMockCluster()
        redis = try RedisTestServer()
        topology = try Topology.load(path: repositoryRoot + "/topologies/returns-fraud.yaml")
        for topic in [topology.inputTopic, topology.decisionsTopic, topology.deadLetterTopic, topology.lateTopic] {
            try mock.createTopic(topic, partitions: 2)
        }
        var options = TrafficGenerator.Options()
        options.events = 2_000
        options.users = 200
        let producer = try KafkaProducer(configuration: KafkaConfiguration(mock.clientProperties), logger: Logger(label: "test.producer"))
        for record in TrafficGenerator(options: options).generate() {
            try producer.produce(topic: topology.inputTopic, key: Array(record.key.utf8), value: record.value)
        }
        try producer.flush(timeoutMs: 30_000)
    }

    /// XCTest keeps test-case instances alive until the whole run ends: release the servers now,
    /// or every test leaves a redis-server behind when the runner exits.
    override func tearDown() {
        redis = nil
        mock = nil
        super.tearDown()
    }

    private func runPipeline() throws -> (RunStatistics, ChaosReport) {
        var kafka = KafkaConfiguration(mock.clientProperties)
        kafka["group.id"] = "sluice-mock"
        var config = RuntimeConfig(kafka: kafka, redisURL: redis.url, keyPrefix: "mock", batchSize: 200)
        config.delivery = .exactlyOnce
        config.transactionLogLength = 100_000
        config.instanceID = "mock"
        let pipeline = try StreamPipeline(topology: topology, config: config, options: .init(exitAtEnd: true), logger: Logger(label: "test.pipeline"))
        let stop = StopSignal()
        let watchdog = DispatchWorkItem { stop.stop() }
        DispatchQueue.global().asyncAfter(deadline: .now() + 120, execute: watchdog)
        defer { watchdog.cancel() }
        let statistics = try pipeline.run(stop: stop)
        var verifier = ChaosVerifier(topology: topology, kafka: KafkaConfiguration(mock.clientProperties), groupID: "sluice-mock", store: pipeline.featureStore)
        verifier.checksCommittedOffsets = false
        let report = try verifier.verify()
        print(report.text)
        return (statistics, report)
    }

    func testCoordinatorFailuresDuringCommitAreRetriedWithoutLossOrDuplication() throws {
        mock.pushRequestErrors(.endTxn, [16, 15, 15])           // NOT_COORDINATOR, COORDINATOR_NOT_AVAILABLE ×2
        mock.pushRequestErrors(.addOffsetsToTxn, [15])          // COORDINATOR_NOT_AVAILABLE
        mock.pushRequestErrors(.txnOffsetCommit, [15])
        let (statistics, report) = try runPipeline()
        XCTAssertTrue(report.passed, report.text)
        XCTAssertEqual(statistics.transactionsAborted, 0, "retriable coordinator errors must not abort")
        XCTAssertEqual(report.decisionDuplicatesFromAborted, 0)
        XCTAssertEqual(report.validEvents + report.malformedEvents, 2_000)
    }

    func testAbortableTransactionErrorAbortsRereadsAndStillAppliesEachInputOnce() throws {
        mock.pushRequestErrors(.addPartitionsToTxn, [29])       // TOPIC_AUTHORIZATION_FAILED: abortable
        let (statistics, report) = try runPipeline()
        XCTAssertTrue(report.passed, report.text)
        XCTAssertGreaterThanOrEqual(statistics.transactionsAborted, 1, "the injected error did not abort a transaction: nothing was tested")
    }

    func testFencedProducerIsFatalAndEndsTheRunWithAnError() throws {
        mock.pushRequestErrors(.endTxn, [90])                    // PRODUCER_FENCED
        XCTAssertThrowsError(try runPipeline()) { error in
            guard let kafkaError = error as? KafkaError else { return XCTFail("expected a KafkaError, got \(error)") }
            XCTAssertTrue(kafkaError.isFatal || kafkaError.code == .fenced, "\(kafkaError)")
        }
    }
}
