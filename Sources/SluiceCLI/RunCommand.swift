import ArgumentParser
import Foundation
import Logging
import ServiceLifecycle
import SluiceEngine

struct RunCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Consume events, keep features in Redis, score, and produce decisions until stopped (SIGINT/SIGTERM).")

    @OptionGroup var engine: EngineOptions

    @Flag(help: "Exit once every input partition is assigned to this instance and consumed to its end.")
    var exitAtEnd = false

    @Option(help: "Exit after processing (and committing) at least this many input records.")
    var maxRecords: Int?

    @Flag(help: "Create the topology's topics first when they do not exist.")
    var createTopics = false

    func run() async throws {
        let (topology, config) = try engine.load()
        let logger = Logger(label: "sluice.run")
        if createTopics { try TopicsCommand.create(topology: topology, config: config, logger: logger) }
        let pipeline = try StreamPipeline(topology: topology, config: config, options: .init(exitAtEnd: exitAtEnd, maxRecords: maxRecords), logger: logger)
        let service = PipelineService(pipeline: pipeline, logger: logger)
        let group = ServiceGroup(configuration: .init(
            services: [.init(service: service, successTerminationBehavior: .gracefullyShutdownGroup)],
            gracefulShutdownSignals: [.sigterm, .sigint],
            logger: logger))
        try await group.run()
        if case .success(let statistics) = service.result {
            emit("sluice run: \(topology.name) (model \(pipeline.modelVersion))\n" + statistics.summary)
        }
    }
}
