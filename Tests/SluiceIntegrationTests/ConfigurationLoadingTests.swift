import Foundation
import SluiceEngine
import SluiceTestSupport
import XCTest

/// Topology and runtime-config loading: what a user gets for a good file, and the errors for bad ones.
final class ConfigurationLoadingTests: XCTestCase {
    private var directory = ""

    override func setUpWithError() throws {
        directory = NSTemporaryDirectory() + "sluice-config-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    }

    override func tearDown() {
        try? FileManager.default.removeItem(atPath: directory)
    }

    private func write(_ name: String, _ text: String) throws -> String {
        let path = directory + "/" + name
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    func testDemoTopologyLoadsAndBindsTheModelByFeatureName() throws {
        let topology = try Topology.load(path: repositoryRoot + "/topologies/returns-fraud.yaml")
        XCTAssertEqual(topology.name, "returns-fraud")
        XCTAssertEqual(topology.features.allowedLatenessMillis, 3_600_000)
        XCTAssertEqual(topology.features.names.first, "txn_count_1h")
        XCTAssertEqual(topology.features.stateRetentionMillis, 30 * 86_400_000 + 3_600_000)
        let model = try ScoringModel(topology: topology)
        XCTAssertEqual(model.columns.map { topology.features.names[$0] }, model.model.featureNames)
        XCTAssertTrue(model.version.hasPrefix("returns-fraud@"))
        XCTAssertEqual(topology.thresholds.decision(for: 0.9), .reject)
        XCTAssertEqual(topology.thresholds.decision(for: 0.5), .review)
        XCTAssertEqual(topology.thresholds.decision(for: 0.49), .approve)
    }

    func testTopologyErrorsNameTheProblem() throws {
        let base = try String(contentsOfFile: repositoryRoot + "/topologies/returns-fraud.yaml", encoding: .utf8)
            .replacingOccurrences(of: "path: ../models/returns-fraud.json", with: "path: \(repositoryRoot)/models/returns-fraud.json")
        let cases: [(String, String, String)] = [
            ("window", base.replacingOccurrences(of: "{ length: 1h, bucket: 1m }", with: "{ length: 90m, bucket: 1h }"), "not a whole number"),
            ("aggregation", base.replacingOccurrences(of: "aggregation: max", with: "aggregation: median"), "unknown aggregation \"median\""),
            ("ratio", base.replacingOccurrences(of: "numerator: return_count_30d", with: "numerator: refunds_30d"), "ratio of unknown feature \"refunds_30d\""),
            ("duplicate", base.replacingOccurrences(of: "name: txn_count_24h", with: "name: txn_count_1h"), "duplicate feature name"),
            ("topics", base.replacingOccurrences(of: "decisions: decisions", with: "decisions: events"), "must differ"),
        ]
        for (label, text, expected) in cases {
            let path = try write("\(label).yaml", text)
            XCTAssertThrowsError(try Topology.load(path: path), label) { error in
                XCTAssertTrue("\(error)".contains(expected), "\(label): \(error)")
            }
        }
        // A model that needs a feature the topology lacks is refused when the model is bound.
        let missing = try write("missing.yaml", base.replacingOccurrences(of: "name: hour_of_day", with: "name: hour"))
        XCTAssertThrowsError(try ScoringModel(topology: try Topology.load(path: missing))) { error in
            XCTAssertTrue("\(error)".contains("needs feature \"hour_of_day\""), "\(error)")
        }
    }

    func testRuntimeConfigEnvironmentOverridesTheFile() throws {
        let path = try write("runtime.yaml", """
            kafka:
              bootstrap.servers: file:9092
              linger.ms: 5
            redis:
              url: redis://file:6379/0
            pipeline:
              batch_size: 100
            """)
        let config = try RuntimeConfig.load(path: path, environment: [
            "SLUICE_KAFKA_BOOTSTRAP_SERVERS": "env:9092",
            "SLUICE_KAFKA_SESSION_TIMEOUT_MS": "2000",
            "SLUICE_REDIS_URL": "redis://env:6380/1",
            "SLUICE_BATCH_SIZE": "250",
        ])
        XCTAssertEqual(config.kafka["bootstrap.servers"], "env:9092")
        XCTAssertEqual(config.kafka["session.timeout.ms"], "2000")
        XCTAssertEqual(config.kafka["linger.ms"], "5")
        XCTAssertEqual(config.redisURL, "redis://env:6380/1")
        XCTAssertEqual(config.batchSize, 250)
        XCTAssertThrowsError(try RuntimeConfig.load(path: path, environment: ["SLUICE_BATCH_SIZE": "many"]))
        XCTAssertThrowsError(try RuntimeConfig.load(path: nil, environment: [:])) { error in
            XCTAssertTrue("\(error)".contains("bootstrap.servers"), "\(error)")
        }
    }

    /// With Debian's librdkafka 2.0.2 on the library path, sluice refuses to start and says why.
    func testOldLibrdkafkaIsRefusedWithAClearMessage() throws {
        let binary = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("sluice").path
        guard FileManager.default.isExecutableFile(atPath: binary) else { return XCTFail("sluice binary not found at \(binary)") }
        guard FileManager.default.fileExists(atPath: "/usr/lib/x86_64-linux-gnu/librdkafka.so.1") else {
            throw XCTSkip("no system librdkafka 2.0.2 to test against")
        }
        let process = try ManagedProcess(
            executable: binary,
            arguments: ["topics", "--topology", repositoryRoot + "/topologies/returns-fraud.yaml"],
            environment: ["LD_LIBRARY_PATH": "", "SLUICE_KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:1"],
            logFile: directory + "/old.log")
        XCTAssertTrue(process.waitForExit(timeout: .seconds(30)))
        XCTAssertNotEqual(process.exitStatus, 0)
        let log = process.logTail()
        XCTAssertTrue(log.contains("librdkafka 2.0.2 is loaded, Sluice needs 2.2.0 or newer"), log)
    }
}
