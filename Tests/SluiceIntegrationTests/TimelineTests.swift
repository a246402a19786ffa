import Foundation
import SluiceGenerator
import SluiceTestSupport
import XCTest

/// `sluice run --timeline`: the file the load-test reports are made from accounts for every
/// record, on the real binary against Tansu and Redis.
final class TimelineTests: XCTestCase {
    func testTimelineCountsEveryCommittedRecordAndEndsWithADistribution() throws {
        let binary = builtSluiceExecutable
        guard FileManager.default.isExecutableFile(atPath: binary) else { return XCTFail("sluice binary not found at \(binary)") }
        let bed = try ProcessTestBed(events: 4000, users: 300, seed: 11)
        let (broker, redis, generated) = (bed.broker, bed.redis, bed.generated)

        let directory = NSTemporaryDirectory() + "sluice-timeline-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let timeline = directory + "/timeline.jsonl"
        let process = try ManagedProcess(
            executable: binary,
            arguments: ["run", "--topology", repositoryRoot + "/topologies/returns-fraud.yaml", "--exit-at-end", "--timeline", timeline],
            environment: broker.sluiceEnvironment(redisURL: redis.url, groupID: "sluice-timeline-test"),
            logFile: directory + "/sluice.log")
        defer { process.stop() }
        XCTAssertTrue(process.waitForExit(timeout: .seconds(90)), "sluice run --exit-at-end did not finish")

        let lines = try String(contentsOfFile: timeline, encoding: .utf8).split(separator: "\n")
        let objects = try lines.map { try XCTUnwrap(JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]) }
        let summary = try XCTUnwrap(objects.last, "empty timeline")
        let samples = objects.dropLast()
        XCTAssertEqual(summary["summary"] as? Bool, true, "the last line is the summary")
        XCTAssertFalse(samples.isEmpty, "no per-second samples")
        XCTAssertTrue(samples.allSatisfy { $0["summary"] == nil && $0["rate"] is Double && $0["rss_mb"] is Double && $0["lag"] is Int })
        let times = samples.compactMap { $0["t"] as? Double }
        XCTAssertEqual(times, times.sorted(), "samples in time order")
        // Samples cover the run up to the last full second; the summary covers all of it.
        let sampled = samples.compactMap { $0["records_in"] as? Int }
        XCTAssertEqual(sampled, sampled.sorted(), "records_in never goes back")
        XCTAssertLessThanOrEqual(sampled.last ?? 0, generated.count)
        XCTAssertEqual(summary["records_in"] as? Int, generated.count)
        XCTAssertEqual(summary["count"] as? Int, generated.count, "one latency per input record (no warm-up given)")
        let p50 = try XCTUnwrap(summary["p50_ms"] as? Double)
        let p99 = try XCTUnwrap(summary["p99_ms"] as? Double)
        let maximum = try XCTUnwrap(summary["max_ms"] as? Double)
        XCTAssertTrue(p50 > 0 && p50 <= p99 && p99 <= maximum, "percentiles \(p50) \(p99) \(maximum)")
        // Each record is polled after it was produced and before its decision commits, so every
        // quantile of its two parts (timestamp to poll, poll to commit) is at most the same
        // quantile of the whole, and the pre-produced records waited in Kafka before the run.
        let poll = try XCTUnwrap(summary["poll"] as? [String: Double], "no timestamp-to-poll percentiles")
        let engine = try XCTUnwrap(summary["engine"] as? [String: Double], "no poll-to-commit percentiles")
        for key in ["p50_ms", "p99_ms", "max_ms"] {
            let polled = try XCTUnwrap(poll[key]), inEngine = try XCTUnwrap(engine[key]), decided = try XCTUnwrap(summary[key] as? Double)
            XCTAssertTrue(polled > 0 && polled <= decided, "\(key): timestamp to poll \(polled) ms, to decision \(decided) ms")
            XCTAssertTrue(inEngine <= decided, "\(key): poll to commit \(inEngine) ms, timestamp to decision \(decided) ms")
        }
        XCTAssertGreaterThan(engine["max_ms"] ?? 0, 0, "a commit takes time after the poll")
        // Per record the parts add up to the whole, so the slowest record is within both maxima.
        XCTAssertLessThanOrEqual(try XCTUnwrap(summary["max_ms"] as? Double), (poll["max_ms"] ?? 0) + (engine["max_ms"] ?? 0) + 0.002)
        XCTAssertTrue(samples.allSatisfy { $0["poll_p99_ms"] is Double && $0["engine_p99_ms"] is Double },
                      "samples carry both parts' p99")
        let cdf = try XCTUnwrap(summary["cdf"] as? [[Double]])
        XCTAssertEqual(cdf.last?[1], 1.0)
        XCTAssertEqual(cdf.last?[0], maximum)
        let first = try XCTUnwrap(summary["first_record_unix_ms"] as? Int)
        let last = try XCTUnwrap(summary["last_commit_unix_ms"] as? Int)
        XCTAssertLessThanOrEqual(first, last)
    }
}
