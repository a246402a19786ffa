import ArgumentParser
import Foundation
import Logging
import SluiceEngine

struct EngineOptions: ParsableArguments {
    @Option(help: "Topology file (features, model, topics), e.g. topologies/returns-fraud.yaml.")
    var topology: String

    @Option(help: "Runtime config file (Kafka, Redis, batching); environment variables override it.")
    var config: String?

    func load() throws -> (Topology, RuntimeConfig) {
        let runtime = try RuntimeConfig.load(path: config)
        Logging.bootstrapOnce(level: runtime.logLevel)
        return (try Topology.load(path: topology), runtime)
    }
}

enum Logging {
    nonisolated(unsafe) private static var bootstrapped = false

    /// Logs go to stderr so stdout carries only results.
    static func bootstrapOnce(level: String) {
        guard !bootstrapped else { return }
        bootstrapped = true
        let parsed = Logger.Level(rawValue: level.lowercased()) ?? .info
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = parsed
            return handler
        }
    }
}

/// Writes to stdout and flushes, so a killed or piped process does not lose lines.
func emit(_ text: String) {
    FileHandle.standardOutput.write(Data((text + "\n").utf8))
}
