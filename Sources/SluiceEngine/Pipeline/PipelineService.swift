import Foundation
import Logging
import ServiceLifecycle

/// Runs a `StreamPipeline` as a `Service`: the blocking loop lives on its own thread (never on
/// the cooperative pool); graceful shutdown (SIGINT/SIGTERM through a `ServiceGroup`) lets the
/// batch in flight finish and commit before `run()` returns.
public final class PipelineService: Service, @unchecked Sendable {
    private let pipeline: StreamPipeline
    private let stop = StopSignal()
    private let logger: Logger
    /// Set once `run()` returns; read after the service group has finished.
    public private(set) var result: Result<RunStatistics, Error>?

    public init(pipeline: StreamPipeline, logger: Logger) {
        self.pipeline = pipeline
        self.logger = logger
    }

    public func run() async throws {
        let outcome: Result<RunStatistics, Error> = await withGracefulShutdownHandler {
            await withCheckedContinuation { continuation in
                startNamedThread("sluice-pipeline", stackSize: 8 << 20) { [pipeline, stop] in
                    continuation.resume(returning: Result { try pipeline.run(stop: stop) })
                }
            }
        } onGracefulShutdown: { [stop, logger] in
            logger.info("shutdown requested: finishing the batch in flight")
            stop.stop()
        }
        result = outcome
        if case .failure(let error) = outcome { throw error }
    }
}
