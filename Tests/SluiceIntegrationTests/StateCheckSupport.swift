import Foundation
import SluiceCore
import SluiceEngine
import SluiceGenerator
import SluiceKafka
import SluiceRedis
import SluiceTestSupport
import XCTest

/// A fresh Tansu holding the demo topology's topics, a fresh Redis, and the demo topology.
func demoTestBed(partitions: Int32) throws -> (broker: TansuTestBroker, redis: RedisTestServer, topology: Topology) {
    let broker = try TansuTestBroker()
    let redis = try RedisTestServer()
    try broker.createTopics(["events", "decisions", "events-dlq", "events-late"], partitions: partitions)
    return (broker, redis, try Topology.load(path: repositoryRoot + "/topologies/returns-fraud.yaml"))
}

/// A pipeline configuration for `broker` and `redis`: consumer group `group`, Redis key prefix
/// `keyPrefix`, batches of 200 records.
func pipelineConfig(_ broker: TansuTestBroker, _ redis: RedisTestServer, group: String, keyPrefix: String,
                    delivery: RuntimeConfig.Delivery) -> RuntimeConfig {
    var kafka = KafkaConfiguration(broker.clientProperties)
    kafka["group.id"] = group
    var config = RuntimeConfig(kafka: kafka, redisURL: redis.url, keyPrefix: keyPrefix, batchSize: 200)
    config.delivery = delivery
    return config
}

/// `records` in three consecutive, equal parts (the phases of a run that stops and starts).
func thirds<T>(_ records: [T]) -> [[T]] {
    let n = records.count / 3
    return [records[0..<n], records[n..<2 * n], records[(2 * n)...]].map(Array.init)
}

extension TrafficGenerator {
    /// Deterministic test traffic ending at a fixed instant, so every run sees the same events.
    static func testTraffic(events: Int, users: Int, days: Int, seed: UInt64) -> [Record] {
        var options = Options()
        options.events = events
        options.users = users
        options.days = days
        options.seed = seed
        options.endTime = 1_790_000_000_000
        return TrafficGenerator(options: options).generate()
    }
}

/// Fails unless `store` holds, for every user, the state that applying each valid record once,
/// in produced order, gives (each user's events are in one partition, so that order is the log's).
func XCTAssertStatesMatchReference(_ store: RedisFeatureStore, topology: Topology, records: [TrafficGenerator.Record],
                                   file: StaticString = #filePath, line: UInt = #line) throws {
    let decoder = EventDecoder()
    let events = records.compactMap { try? decoder.decode($0.value).get() }
    var expected: [String: EntityState] = [:]
    _ = topology.computeFeatures(events, states: &expected)
    let stored = try store.load(Array(expected.keys))
    XCTAssertEqual(stored.count, expected.count, file: file, line: line)
    let mismatched = expected.keys.filter { stored[$0] != expected[$0] }
    XCTAssertTrue(mismatched.isEmpty, "\(mismatched.count) of \(expected.count) users' states in Redis differ from the reference, e.g. \(mismatched.prefix(3))",
                  file: file, line: line)
}
