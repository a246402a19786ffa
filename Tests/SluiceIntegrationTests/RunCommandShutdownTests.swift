import Foundation
import Logging
import SluiceGenerator
import SluiceKafka
import SluiceTestSupport
import XCTest

/// `sluice run` as a separate process: SIGTERM finishes the batch in flight, commits, and exits 0.
final class RunCommandShutdownTests: XCTestCase {
    func testSigtermCommitsWhatWasDecidedAndExitsZero() throws {
        let binary = builtSluiceExecutable
        guard FileManager.default.isExecutableFile(atPath: binary) else {
            return XCTFail("sluice binary not found at \(binary): build the package first (swift build --build-tests)")
        }
        let bed = try ProcessTestBed(events: 3000, users: 200, seed: 5)
        let (broker, redis) = (bed.broker, bed.redis)

        var environment = broker.sluiceEnvironment(redisURL: redis.url, groupID: "sluice-shutdown-test")
        // Small batches keep the run going long enough to be interrupted.
        environment["SLUICE_BATCH_SIZE"] = "50"
        let directory = NSTemporaryDirectory() + "sluice-shutdown-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let process = try ManagedProcess(
            executable: binary,
            arguments: ["run", "--topology", repositoryRoot + "/topologies/returns-fraud.yaml"],
            environment: environment, logFile: directory + "/sluice.log")
        // Wait until decisions are flowing, then ask it to stop.
        try process.waitUntil(timeout: .seconds(60), what: "the first decisions") {
            (try? String(contentsOfFile: directory + "/sluice.log", encoding: .utf8))?.contains("assigned") == true
                && ((try? broker.readAll(topic: "decisions", timeout: .seconds(5)).count) ?? 0) > 0
        }
        kill(process.pid, SIGTERM)
        XCTAssertTrue(process.waitForExit(timeout: .seconds(30)), "sluice did not exit after SIGTERM")
        XCTAssertEqual(process.exitStatus, 0, process.logTail())
        let log = process.logTail(maxBytes: 100_000)
        XCTAssertTrue(log.contains("finishing the batch in flight"), log)
        XCTAssertTrue(log.contains("events in:"), "no summary printed: \(log)")

        // Whatever it committed, it had decided or dead-lettered: committed offsets ≤ outputs.
        let decided = try broker.readAll(topic: "decisions").count + broker.readAll(topic: "events-dlq").count
        var properties = broker.clientProperties
        properties["group.id"] = "sluice-shutdown-test"
        let checker = try KafkaConsumer(configuration: KafkaConfiguration(properties), logger: Logger(label: "test"))
        defer { checker.close() }
        let committed = try checker.committed([0, 1].map { TopicPartition(topic: "events", partition: $0) }, timeoutMs: 10_000)
        let committedTotal = committed.map { max(0, $0.offset) }.reduce(0, +)
        XCTAssertGreaterThan(committedTotal, 0, "nothing was committed before exit")
        XCTAssertEqual(Int(committedTotal), decided, "every committed input has exactly one output, and nothing decided is uncommitted")
    }
}
