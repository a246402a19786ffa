import SluiceKafka
import XCTest

@testable import SluiceEngine

/// The producer's properties as derived from the user's Kafka configuration and delivery mode.
final class ProducerConfigurationTests: XCTestCase {
    private func derived(_ properties: [String: String], delivery: RuntimeConfig.Delivery = .exactlyOnce, commitIntervalMs: Int = 100) -> [String: String] {
        var config = RuntimeConfig(kafka: KafkaConfiguration(properties), redisURL: "redis://127.0.0.1:6379/0")
        config.delivery = delivery
        config.commitIntervalMs = commitIntervalMs
        config.instanceID = "7"
        return StreamPipeline.producerConfiguration(config.kafka, topologyName: "t", config: config).properties
    }

    func testExactlyOnceLingersAFifthOfTheCommitIntervalAtMostTwentyMilliseconds() {
        let base = ["bootstrap.servers": "127.0.0.1:9092"]
        XCTAssertEqual(derived(base)["linger.ms"], "20")
        XCTAssertEqual(derived(base, commitIntervalMs: 50)["linger.ms"], "10")
        XCTAssertEqual(derived(base, commitIntervalMs: 1_000)["linger.ms"], "20")
        XCTAssertEqual(derived(base, commitIntervalMs: 3)["linger.ms"], "0")
        XCTAssertEqual(derived(base)["transactional.id"], "sluice-t-7")
        XCTAssertEqual(derived(base)["bootstrap.servers"], "127.0.0.1:9092")
    }

    func testAUsersLingerOrItsAliasIsKept() {
        XCTAssertEqual(derived(["linger.ms": "3"])["linger.ms"], "3")
        let alias = derived(["queue.buffering.max.ms": "7"])
        XCTAssertNil(alias["linger.ms"])
        XCTAssertEqual(alias["queue.buffering.max.ms"], "7")
        XCTAssertEqual(derived(["transactional.id": "mine"])["transactional.id"], "mine")
    }

    func testAtLeastOnceHasNoTransactionAndLibrdkafkasLinger() {
        let properties = derived(["transactional.id": "stale", "group.id": "g"], delivery: .atLeastOnce)
        XCTAssertNil(properties["transactional.id"])
        XCTAssertNil(properties["linger.ms"])
        XCTAssertEqual(properties["group.id"], "g")
    }
}
