import ArgumentParser
import Foundation
import Logging
import SluiceChaos
import SluiceTestSupport

/// `sluice-chaos`: the exactly-once chaos test (docs/exactly-once.md). Starts a private Tansu
/// broker and Redis (AOF on), runs `sluice run` instances, kills them with SIGKILL at random
/// moments, and verifies the end state (`--at-least-once`: that nothing was lost). Last line:
/// `chaos: OK` or `chaos: FAILED <reason>`.
@main
struct SluiceChaosCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sluice-chaos",
        abstract: "Kill -9 exactly-once Sluice instances at random moments and verify state and outputs.")

    @Option(help: "Events to produce.") var events = 200_000
    @Option(help: "kill -9 moments.") var kills = 10
    @Option(help: "Sluice instances in the consumer group (a kill hits one of them).") var instances = 1
    @Option(help: "Input partitions.") var partitions: Int32 = 8
    @Option(help: "Seed for events and kill moments.") var seed: UInt64 = 2026
    @Option(help: "Transaction commit interval (ms).") var commitIntervalMs = 100
    @Option(help: "Redis state flush interval (ms) of every instance; default: the engine's.") var stateFlushIntervalMs: Int?
    @Flag(help: "Run the instances at-least-once and check that nothing is lost (kills 2-3 s apart).") var atLeastOnce = false
    @Option(help: "The sluice executable.") var sluice: String
    @Option(help: "Topology file.") var topology = "topologies/returns-fraud.yaml"
    @Option(help: "Directory for instance logs.") var work = ".sluice/chaos"

    func run() throws {
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = .warning
            return handler
        }
        guard instances >= 1, kills >= 0, events >= 1 else { throw ValidationError("events, kills and instances must be positive") }
        let work = URL(fileURLWithPath: self.work).standardizedFileURL.path + "/\(Int(Date().timeIntervalSince1970))"
        try FileManager.default.createDirectory(atPath: work, withIntermediateDirectories: true)
        let broker = try TansuTestBroker()
        let redis = try RedisTestServer(persistence: .appendOnly, directory: work + "/redis")
        var options = ChaosRun.Options(sluiceExecutable: sluice, topologyPath: topology, workDirectory: work)
        options.events = events
        options.kills = kills
        options.instances = instances
        options.partitions = partitions
        options.seed = seed
        options.commitIntervalMs = commitIntervalMs
        options.stateFlushIntervalMs = stateFlushIntervalMs
        if atLeastOnce { options.delivery = .atLeastOnce }
        let chaos = ChaosRun(options: options, kafkaProperties: broker.clientProperties, redisURL: redis.url)
        let report = try chaos.run { print($0) }
        print("instance logs: \(work)")
        print(report.text)
        if !report.passed { throw ExitCode(1) }
    }
}
