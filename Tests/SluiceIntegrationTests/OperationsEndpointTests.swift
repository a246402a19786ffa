import Foundation
import Logging
import SluiceGenerator
import SluiceKafka
import SluiceTestSupport
import XCTest

/// `sluice run --metrics-port`: the Prometheus endpoint counts exactly what the pipeline did,
/// and the health and readiness probes answer, on the real binary against Tansu and Redis.
final class OperationsEndpointTests: XCTestCase {
    func testMetricsCountWhatWasProcessedAndProbesAnswer() throws {
        let binary = builtSluiceExecutable
        guard FileManager.default.isExecutableFile(atPath: binary) else { return XCTFail("sluice binary not found at \(binary)") }
        let bed = try ProcessTestBed(events: 3000, users: 200, seed: 9)
        let (broker, redis, generated) = (bed.broker, bed.redis, bed.generated)

        let port = findFreeTCPPort()
        let environment = broker.sluiceEnvironment(redisURL: redis.url, groupID: "sluice-metrics-test")
        let directory = NSTemporaryDirectory() + "sluice-metrics-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let process = try ManagedProcess(
            executable: binary, arguments: ["run", "--topology", repositoryRoot + "/topologies/returns-fraud.yaml", "--metrics-port", String(port)],
            environment: environment, logFile: directory + "/sluice.log")
        defer { process.stop() }

        /// Sum of every sample whose series starts with `series` (a name, or a name with labels).
        func metric(_ text: String, _ series: String) -> Double {
            text.split(separator: "\n").filter { !$0.hasPrefix("#") && ($0.hasPrefix(series + " ") || $0.hasPrefix(series + "{") || ($0.hasPrefix(series) && series.contains("{"))) }
                .compactMap { $0.split(separator: " ").last.flatMap { Double($0) } }.reduce(0, +)
        }
        var scraped = ""
        try process.waitUntil(timeout: .seconds(60), what: "every event counted in /metrics") {
            guard let response = httpGet(port: port, path: "/metrics"), response.status == 200 else { return false }
            scraped = response.body
            return metric(scraped, "sluice_events_in_total") >= Double(generated.count)
                && metric(scraped, "sluice_transactions_total{outcome=\"committed\"") > 0
                && scraped.contains("sluice_consumer_lag{")
        }
        let malformed = generated.filter(\.isMalformed).count
        XCTAssertEqual(metric(scraped, "sluice_events_in_total"), Double(generated.count))
        XCTAssertEqual(metric(scraped, "sluice_decisions_total"), Double(generated.count - malformed))
        XCTAssertEqual(metric(scraped, "sluice_dead_letters_total"), Double(malformed))
        XCTAssertGreaterThan(metric(scraped, "sluice_transactions_total{outcome=\"committed\""), 0, scraped)
        // Every stage of the exactly-once path was timed at least once (redis_flush and
        // feature_read may legitimately be skipped by a run this short).
        for stage in ["poll", "decode", "features", "score", "produce", "output_wait", "commit"] {
            XCTAssertGreaterThan(metric(scraped, "sluice_stage_duration_seconds_count{stage=\"\(stage)\""), 0, "stage \(stage) never timed")
        }
        XCTAssertTrue(scraped.contains("sluice_model_info{"), "model version missing")
        XCTAssertTrue(scraped.contains("sluice_consumer_lag{"), "consumer lag missing")
        XCTAssertEqual(httpGet(port: port, path: "/healthz")?.status, 200)
        XCTAssertEqual(httpGet(port: port, path: "/readyz")?.status, 200, "assigned and Redis up, so ready")
        XCTAssertEqual(httpGet(port: port, path: "/nope")?.status, 404)

        redis.stop()
        try process.waitUntil(timeout: .seconds(30), what: "/readyz to report Redis down") {
            httpGet(port: port, path: "/readyz")?.status == 503
        }
    }
}
