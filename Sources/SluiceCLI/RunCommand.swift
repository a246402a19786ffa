import ArgumentParser
import Foundation
import Logging
import Metrics
import Prometheus
import ServiceLifecycle
import SluiceEngine
import SluiceServer

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

    @Option(help: "Serve /metrics (Prometheus), /healthz and /readyz on this port (overrides metrics.port / SLUICE_METRICS_PORT).")
    var metricsPort: Int?

    @Option(help: "Write a per-second time series (throughput, event-to-decision percentiles, lag, RSS) and a latency summary to this JSON Lines file (loadtest/plot.py draws it).")
    var timeline: String?

    @Option(help: "Leave the first S seconds after the first record out of the timeline's latency summary (warm-up).")
    var timelineWarmup = 0.0

    func run() async throws {
        let (topology, config) = try engine.load()
        let logger = Logger(label: "sluice.run")
        if createTopics { try TopicsCommand.create(topology: topology, config: config, logger: logger) }
        // Metrics handles bind to the factory at creation: bootstrap before the pipeline exists.
        var registry: PrometheusCollectorRegistry?
        let port = metricsPort ?? config.metricsPort
        if port != nil {
            let collectors = PrometheusCollectorRegistry()
            var factory = PrometheusMetricsFactory(registry: collectors)
            factory.defaultDurationHistogramBuckets = [
                .microseconds(100), .microseconds(500), .milliseconds(1), .milliseconds(2), .milliseconds(5), .milliseconds(10),
                .milliseconds(20), .milliseconds(50), .milliseconds(100), .milliseconds(200), .milliseconds(500), .seconds(1),
                .seconds(2), .seconds(5), .seconds(10), .seconds(30),
            ]
            factory.defaultValueHistogramBuckets = [1, 10, 50, 100, 250, 500, 1000, 2000, 5000, 10000]
            MetricsSystem.bootstrap(factory)
            registry = collectors
        }
        var runOptions = StreamPipeline.Options(exitAtEnd: exitAtEnd, maxRecords: maxRecords, timelinePath: timeline)
        runOptions.timelineWarmupSeconds = timelineWarmup
        let pipeline = try StreamPipeline(topology: topology, config: config, options: runOptions, logger: logger)
        let service = PipelineService(pipeline: pipeline, logger: logger)
        var services: [ServiceGroupConfiguration.ServiceConfiguration] = [
            .init(service: service, successTerminationBehavior: .gracefullyShutdownGroup),
        ]
        if let registry, let port {
            let server = OperationsServer(port: port, registry: registry, isReady: { pipeline.isReady }, logger: logger)
            services.append(.init(service: server))
        }
        let group = ServiceGroup(configuration: .init(
            services: services,
            gracefulShutdownSignals: [.sigterm, .sigint],
            logger: logger))
        try await group.run()
        if case .success(let statistics) = service.result {
            emit("sluice run: \(topology.name) (model \(pipeline.modelVersion))\n" + statistics.summary)
        }
    }
}
