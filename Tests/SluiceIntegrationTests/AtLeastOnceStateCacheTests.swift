import Foundation
import Logging
import SluiceCore
import SluiceEngine
import SluiceGenerator
import SluiceKafka
import SluiceTestSupport
import XCTest

/// At-least-once keeps the states it saved in memory and reads them instead of Redis. That is
/// only right while its partitions stay assigned: here a second instance takes half of them,
/// changes those users' states, and leaves again, and the first instance must then read Redis,
/// not what it remembered from before.
final class AtLeastOnceStateCacheTests: XCTestCase {
    private final class RunningPipeline: @unchecked Sendable {
        let pipeline: StreamPipeline
        let stop = StopSignal()
        private let done = DispatchSemaphore(value: 0)
        private let lock = NSLock()
        private var outcome: Result<RunStatistics, Error>?

        init(_ pipeline: StreamPipeline) {
            self.pipeline = pipeline
            Thread.detachNewThread { [self] in
                let result = Result { try pipeline.run(stop: stop) }
                lock.withLock { outcome = result }
                done.signal()
            }
        }

        func finish() throws -> RunStatistics {
            stop.stop()
            XCTAssertEqual(done.wait(timeout: .now() + 60), .success, "the pipeline did not stop")
            return try XCTUnwrap(lock.withLock { outcome }).get()
        }
    }

    func testStatesCachedBeforeARebalanceAreNotReadAfterIt() throws {
        let broker = try TansuTestBroker()
        let redis = try RedisTestServer()
        let topology = try Topology.load(path: repositoryRoot + "/topologies/returns-fraud.yaml")
        try broker.createTopics(["events", "decisions", "events-dlq", "events-late"], partitions: 4)
        var options = TrafficGenerator.Options()
        options.events = 3600
        options.users = 120
        options.days = 10
        options.seed = 77
        options.endTime = 1_790_000_000_000
        let generated = TrafficGenerator(options: options).generate()
        let phases = [generated[0..<1200], generated[1200..<2400], generated[2400...]].map(Array.init)

        var kafka = KafkaConfiguration(broker.clientProperties)
        kafka["group.id"] = "sluice-alo-cache"
        var config = RuntimeConfig(kafka: kafka, redisURL: redis.url, keyPrefix: "alo", batchSize: 200)
        config.delivery = .atLeastOnce
        func start(_ name: String) throws -> RunningPipeline {
            RunningPipeline(try StreamPipeline(topology: topology, config: config, logger: Logger(label: "test.\(name)")))
        }
        let offsets = try KafkaConsumer(configuration: kafka, logger: Logger(label: "test.offsets"))
        defer { offsets.close() }
        func waitUntilCommitted(_ count: Int) throws {
            let partitions = (0..<Int32(4)).map { TopicPartition(topic: "events", partition: $0) }
            let deadline = Date().addingTimeInterval(60)
            while Date() < deadline {
                let committed = try offsets.committed(partitions, timeoutMs: 10_000).reduce(0) { $0 + max(0, $1.offset) }
                if committed >= Int64(count) { return }
                Thread.sleep(forTimeInterval: 0.2)
            }
            XCTFail("offsets of \(count) records were not committed within 60 s")
        }

        let first = try start("first")
        try broker.produce(phases[0], to: "events")
        try waitUntilCommitted(phases[0].count)
        let second = try start("second")
        let joined = Date().addingTimeInterval(30)
        while !second.pipeline.isReady && Date() < joined { Thread.sleep(forTimeInterval: 0.1) }
        XCTAssertTrue(second.pipeline.isReady, "the second instance got no partitions")
        try broker.produce(phases[1], to: "events")
        try waitUntilCommitted(phases[0].count + phases[1].count)
        let secondStatistics = try second.finish()
        try broker.produce(phases[2], to: "events")
        try waitUntilCommitted(generated.count)
        let firstStatistics = try first.finish()
        XCTAssertGreaterThan(secondStatistics.recordsIn, 0, "the second instance processed nothing: no rebalance was tested")
        XCTAssertEqual(firstStatistics.recordsIn + secondStatistics.recordsIn, generated.count)

        // Each user's events are in one partition, so applying every valid event in produced order
        // gives the state Redis must hold.
        let decoder = EventDecoder()
        let events = generated.compactMap { try? decoder.decode($0.value).get() }
        var expected: [String: EntityState] = [:]
        _ = topology.computeFeatures(events, states: &expected)
        let stored = try first.pipeline.featureStore.load(Array(expected.keys))
        XCTAssertEqual(stored.count, expected.count)
        var mismatched: [String] = []
        for (userID, state) in expected where stored[userID] != state { mismatched.append(userID) }
        XCTAssertTrue(mismatched.isEmpty, "\(mismatched.count) users' states in Redis differ from the reference, e.g. \(mismatched.prefix(3))")
    }
}
