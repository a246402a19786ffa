import Foundation
import Logging
import SluiceGenerator
import SluiceKafka
import SluiceRedis
import SluiceTestSupport
import XCTest

/// `sluice run --metrics-port`: the Prometheus endpoint counts exactly what the pipeline did,
/// and the health and readiness probes answer, on the real binary against Tansu and Redis.
final class OperationsEndpointTests: XCTestCase {
    func testMetricsCountWhatWasProcessedAndProbesAnswer() throws {
        let run = try MetricsRun(events: 3000, seed: 9, name: "metrics")
        defer { run.stop() }
        let (port, process, redis, generated) = (run.port, run.process, run.bed.redis, run.bed.generated)
        let metric = MetricsRun.metric
        var scraped = ""
        try process.waitUntil(timeout: .seconds(60), what: "every event counted in /metrics") {
            guard let text = run.scrape() else { return false }
            scraped = text
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

    /// `sluice_redis_reconnects_total` counts both of the engine's Redis connections: the
    /// pipeline's (reads, probes) and the state flusher's (writes). Every client is killed
    /// server-side, more traffic makes both reconnect, and the counter must rise by two: a
    /// counter that only watched the pipeline's connection would rise by one.
    func testRedisReconnectsCountThePipelineAndTheFlusherConnection() throws {
        let run = try MetricsRun(events: 2000, seed: 19, name: "reconnects")
        defer { run.stop() }
        let (process, broker, redis, generated) = (run.process, run.bed.broker, run.bed.redis, run.bed.generated)
        func metric(_ name: String) -> Double? { run.scrape().map { MetricsRun.metric($0, name) } }
        try process.waitUntil(timeout: .seconds(60), what: "the first events counted") {
            (metric("sluice_events_in_total") ?? 0) >= Double(generated.count)
        }
        // The state of those events is written by the flusher (its connection is open), and
        // no reconnect has happened yet.
        let before = try XCTUnwrap(metric("sluice_redis_reconnects_total"))
        XCTAssertEqual(before, 0, "no reconnects before any connection was dropped")

        let admin = try RedisConnection(configuration: try RedisConfiguration(url: redis.url), logger: Logger(label: "test.redis"))
        defer { admin.close() }
        let killed = try admin.execute(["CLIENT", "KILL", "TYPE", "normal", "SKIPME", "yes"]).int64Value
        XCTAssertEqual(killed, 2, "the engine holds two Redis connections (pipeline and flusher)")

        var options = TrafficGenerator.Options()
        options.events = 1000
        options.users = 200
        options.seed = 20
        try broker.produce(TrafficGenerator(options: options).generate(), to: "events")
        try process.waitUntil(timeout: .seconds(60), what: "both connections to reconnect after the new events") {
            (metric("sluice_events_in_total") ?? 0) >= Double(generated.count + 1000)
                && (metric("sluice_redis_reconnects_total") ?? 0) >= before + 2
        }
        XCTAssertEqual(metric("sluice_redis_reconnects_total"), before + 2, "one reconnect per connection")
    }
}

/// A `sluice run --metrics-port` of the demo topology on a private Tansu and Redis.
private struct MetricsRun {
    let bed: ProcessTestBed
    let port = findFreeTCPPort()
    let directory: String
    let process: ManagedProcess

    init(events: Int, seed: UInt64, name: String) throws {
        let binary = builtSluiceExecutable
        guard FileManager.default.isExecutableFile(atPath: binary) else {
            throw ManagedProcessError("sluice binary not found at \(binary)")
        }
        bed = try ProcessTestBed(events: events, users: 200, seed: seed)
        directory = NSTemporaryDirectory() + "sluice-\(name)-\(UUID().uuidString)"
        process = try ManagedProcess(
            executable: binary, arguments: ["run", "--topology", repositoryRoot + "/topologies/returns-fraud.yaml", "--metrics-port", String(port)],
            environment: bed.broker.sluiceEnvironment(redisURL: bed.redis.url, groupID: "sluice-\(name)-test"),
            logFile: directory + "/sluice.log")
    }

    func stop() {
        process.stop()
        try? FileManager.default.removeItem(atPath: directory)
    }

    /// The `/metrics` text, nil until the endpoint answers 200.
    func scrape() -> String? {
        guard let response = httpGet(port: port, path: "/metrics"), response.status == 200 else { return nil }
        return response.body
    }

    /// Sum of every sample whose series starts with `series` (a name, or a name with labels).
    static func metric(_ text: String, _ series: String) -> Double {
        text.split(separator: "\n").filter { !$0.hasPrefix("#") && ($0.hasPrefix(series + " ") || $0.hasPrefix(series + "{") || ($0.hasPrefix(series) && series.contains("{"))) }
            .compactMap { $0.split(separator: " ").last.flatMap { Double($0) } }.reduce(0, +)
    }
}
