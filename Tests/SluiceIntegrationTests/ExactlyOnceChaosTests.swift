import Foundation
import SluiceChaos
import SluiceTestSupport
import XCTest

/// Exactly-once under crashes, Redis restarts and rebalances, on the real components: separate
/// `sluice run` processes against a private Tansu broker and Redis (AOF). `ChaosVerifier` checks
/// Redis state bit for bit against an uninterrupted reference, one committed decision (or dead
/// letter) per input identical to the reference, duplicates only from aborted transactions
/// (Tansu shows them to read_committed readers; real Kafka would not), and offsets at the end.
/// The full-size run is `loadtest/chaos/run` (docs/exactly-once.md).
final class ExactlyOnceChaosTests: XCTestCase {
    func makeRun(events: Int, kills: Int, instances: Int = 1, disruption: ChaosRun.Disruption = .killInstance,
                         broker: TansuTestBroker, redis: RedisTestServer) throws -> ChaosRun {
        let binary = builtSluiceExecutable
        // A failure, not a skip: without the binary nothing here would be tested.
        guard FileManager.default.isExecutableFile(atPath: binary) else { throw ManagedProcessError("sluice binary not built at \(binary)") }
        let work = NSTemporaryDirectory() + "sluice-chaos-\(UUID().uuidString)"
        var options = ChaosRun.Options(sluiceExecutable: binary, topologyPath: repositoryRoot + "/topologies/returns-fraud.yaml", workDirectory: work)
        options.events = events
        options.kills = kills
        options.instances = instances
        options.disruption = disruption
        options.partitions = 4
        options.timeout = .seconds(240)
        return ChaosRun(options: options, kafkaProperties: broker.clientProperties, redisURL: redis.url)
    }

    func assertPassed(_ report: ChaosReport, file: StaticString = #filePath, line: UInt = #line) {
        print(report.text)
        XCTAssertTrue(report.passed, report.text, file: file, line: line)
        XCTAssertGreaterThan(report.validEvents, 0, file: file, line: line)
        XCTAssertGreaterThan(report.malformedEvents, 0, "the generator should produce malformed records", file: file, line: line)
    }

    func testKill9AtRandomMomentsLosesAndDuplicatesNothing() throws {
        let broker = try TansuTestBroker()
        let redis = try RedisTestServer(persistence: .appendOnly)
        let report = try makeRun(events: 20_000, kills: 3, broker: broker, redis: redis).run { print($0) }
        assertPassed(report)
        XCTAssertEqual(report.kills, 3, "the run ended before every kill happened: nothing was tested")
    }

    func testRedisKilledAndRestartedMidRunFromItsAppendOnlyFile() throws {
        let broker = try TansuTestBroker()
        let redis = try RedisTestServer(persistence: .appendOnly)
        let report = try makeRun(events: 20_000, kills: 1, disruption: .custom({
            redis.kill9()
            Thread.sleep(forTimeInterval: 1.5)  // the engine must pause and retry meanwhile
            try redis.restart()
        }), broker: broker, redis: redis).run { print($0) }
        assertPassed(report)
        XCTAssertEqual(report.kills, 1, "the run ended before Redis was restarted: nothing was tested")
    }

    func testSecondInstanceJoiningMidRunTakesOverPartitionsWithoutLossOrDuplication() throws {
        let broker = try TansuTestBroker()
        let redis = try RedisTestServer(persistence: .appendOnly)
        var run = try makeRun(events: 40_000, kills: 1, disruption: .addInstance, broker: broker, redis: redis)
        run = ChaosRun(options: { var o = run.options; o.killDelay = 0.0...0.0; return o }(), kafkaProperties: run.kafkaProperties, redisURL: run.redisURL)
        let report = try run.run { print($0) }
        assertPassed(report)
        XCTAssertEqual(report.kills, 1, "the run ended before the second instance joined: nothing was tested")
        XCTAssertEqual(report.committedTransactionsByProducer.count, 2, "both instances should have committed work: \(report.committedTransactionsByProducer)")
    }
}

extension ExactlyOnceChaosTests {
    /// The worst moment: the transaction (outputs + offsets) is committed but Redis is not yet
    /// written. The restarted instance must re-apply that transaction's records to Redis from
    /// the log — without producing their decisions again.
    func testCrashBetweenKafkaCommitAndRedisWriteIsRecoveredFromTheLog() throws {
        let broker = try TansuTestBroker()
        let redis = try RedisTestServer(persistence: .appendOnly)
        var run = try makeRun(events: 20_000, kills: 0, broker: broker, redis: redis)
        run = ChaosRun(options: { var o = run.options; o.firstIncarnationEnvironment = ["SLUICE_FAULT_CRASH_AFTER_COMMIT": "2"]; return o }(),
                       kafkaProperties: run.kafkaProperties, redisURL: run.redisURL)
        let report = try run.run { print($0) }
        assertPassed(report)
        XCTAssertEqual(report.crashes, 1, "the injected crash after the second commit did not happen")
        XCTAssertEqual(report.decisionDuplicatesFromAborted, 0, "records of a committed transaction were decided again")
    }

    /// Redis is written at most every `state_flush_interval_ms`: with 10 s, the crash after the
    /// sixth commit (~0.5 s in) finds five commits' states only in memory (the first commit is
    /// written at once), and the restart must re-apply all of them from the log, each once.
    func testCrashWithSeveralCommitsNotYetInRedisIsRecoveredFromTheLog() throws {
        let broker = try TansuTestBroker()
        let redis = try RedisTestServer(persistence: .appendOnly)
        var options = try makeRun(events: 20_000, kills: 0, broker: broker, redis: redis).options
        options.stateFlushIntervalMs = 10_000
        options.firstIncarnationEnvironment = ["SLUICE_FAULT_CRASH_AFTER_COMMIT": "6"]
        let report = try ChaosRun(options: options, kafkaProperties: broker.clientProperties, redisURL: redis.url).run { print($0) }
        assertPassed(report)
        XCTAssertEqual(report.crashes, 1, "the injected crash after the sixth commit did not happen")
        XCTAssertEqual(report.decisionDuplicatesFromAborted, 0, "records of a committed transaction were decided again")
        // The restart's own summary: `records` it consumed live, `recovered` it re-applied to
        // state only. Writing after every commit would leave only the sixth commit to recover
        // (a sixth of what the first incarnation committed); deferred, most of it comes back.
        let log = try String(contentsOfFile: options.workDirectory + "/instance-0-1.log", encoding: .utf8)
        let summary = try XCTUnwrap(log.split(separator: "\n").last { $0.contains("pipeline stopped") }, "no summary in the restart's log")
        func number(_ name: String) -> Int? {
            summary.split(separator: " ").first { $0.hasPrefix(name + "=") }.flatMap { Int($0.dropFirst(name.count + 1)) }
        }
        let live = try XCTUnwrap(number("records")), recovered = try XCTUnwrap(number("recovered"))
        XCTAssertGreaterThan(recovered * 2, options.events - live, "the crash left less than half of the committed records to re-apply: was state written after every commit?")
    }
}

extension ExactlyOnceChaosTests {
    /// At-least-once under `kill -9`: each checkpoint's states are written by the flusher thread
    /// and its offsets committed only at the next checkpoint, once they are written. Whatever a
    /// kill interrupts, nothing may be lost: every input decided (or dead-lettered) at least once,
    /// every user's state in Redis at least as far as the uninterrupted run, offsets at the end.
    /// Kills come 2–3 s apart (no transaction log to time them by), past each restart's join;
    /// before the first, the first incarnation kills itself right after its second offset commit
    /// (~0.2 s after its first records), the moment an offset committed ahead of its states'
    /// Redis write would lose them.
    func testAtLeastOnceUnderKill9LosesNothing() throws {
        let broker = try TansuTestBroker()
        let redis = try RedisTestServer(persistence: .appendOnly)
        var options = try makeRun(events: 40_000, kills: 3, broker: broker, redis: redis).options
        options.delivery = .atLeastOnce
        options.firstIncarnationEnvironment = ["SLUICE_FAULT_CRASH_AFTER_COMMIT": "2"]
        let report = try ChaosRun(options: options, kafkaProperties: broker.clientProperties, redisURL: redis.url).run { print($0) }
        assertPassed(report)
        XCTAssertTrue(report.atLeastOnce)
        XCTAssertGreaterThan(report.lateEvents, 0, "no late inputs: the late-copy check checked nothing")
        XCTAssertEqual(report.kills, 3, "the run ended before every kill happened: nothing was tested")
        let firstLog = try String(contentsOfFile: options.workDirectory + "/instance-0-0.log", encoding: .utf8)
        XCTAssertTrue(firstLog.contains("fault injection: SIGKILL after offset commit 2"), "the injected crash did not happen")
    }
}
