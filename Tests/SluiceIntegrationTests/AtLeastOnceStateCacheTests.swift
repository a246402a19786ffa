import Foundation
import Logging
import SluiceCore
import SluiceEngine
import SluiceGenerator
import SluiceKafka
import SluiceTestSupport
import XCTest

/// At-least-once keeps entity states in memory, reads them instead of Redis, and writes them and
/// commits offsets only at checkpoints. Both are only right if partitions are checkpointed before
/// they move and the states in memory are dropped after: here a second instance takes half of the
/// partitions while the first has unsaved work, changes those users' states, and leaves again.
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

    func testRebalancesCheckpointAndDropTheStatesInMemory() throws {
        let (broker, redis, topology) = try demoTestBed(partitions: 4)
        let generated = TrafficGenerator.testTraffic(events: 3600, users: 120, days: 10, seed: 77)
        let phases = thirds(generated)
        var config = pipelineConfig(broker, redis, group: "sluice-alo-cache", keyPrefix: "alo", delivery: .atLeastOnce)
        // Checkpoints only at rebalances and at the end: work is pending whenever partitions move.
        config.commitIntervalMs = 600_000
        func start(_ name: String) throws -> RunningPipeline {
            RunningPipeline(try StreamPipeline(topology: topology, config: config, logger: Logger(label: "test.\(name)")))
        }
        let decoder = EventDecoder()
        let valid = phases.map { phase in phase.filter { (try? decoder.decode($0.value).get()) != nil }.count }
        func waitUntilDecided(_ count: Int) throws {
            let deadline = Date().addingTimeInterval(60)
            while Date() < deadline {
                if try broker.readAll(topic: "decisions").count >= count { return }
                Thread.sleep(forTimeInterval: 0.2)
            }
            XCTFail("\(count) decisions were not produced within 60 s")
        }

        let first = try start("first")
        try broker.produce(phases[0], to: "events")
        try waitUntilDecided(valid[0])
        let second = try start("second")
        let joined = Date().addingTimeInterval(30)
        while !second.pipeline.isReady && Date() < joined { Thread.sleep(forTimeInterval: 0.1) }
        XCTAssertTrue(second.pipeline.isReady, "the second instance got no partitions")
        try broker.produce(phases[1], to: "events")
        try waitUntilDecided(valid[0] + valid[1])
        let secondStatistics = try second.finish()
        try broker.produce(phases[2], to: "events")
        try waitUntilDecided(valid[0] + valid[1] + valid[2])
        let firstStatistics = try first.finish()
        XCTAssertGreaterThan(secondStatistics.recordsIn, 0, "the second instance processed nothing: no rebalance was tested")
        // No crash, so nothing is processed twice: the first instance committed before handing over.
        XCTAssertEqual(firstStatistics.recordsIn + secondStatistics.recordsIn, generated.count)
        XCTAssertEqual(try broker.readAll(topic: "decisions").count, valid.reduce(0, +))

        try XCTAssertStatesMatchReference(first.pipeline.featureStore, topology: topology, records: generated)
    }
}
