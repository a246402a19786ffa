import CoreMetrics
import Foundation
import SluiceKafka

/// The engine's operational metrics (docs/operations.md), through swift-metrics: whichever
/// backend the process bootstraps (Prometheus in `sluice run --metrics-port`) receives them;
/// without one they cost a no-op call.
///
/// Threading: handles are thread-safe; the pipeline thread records, the HTTP server reads the
/// backend's registry.
public struct PipelineMetrics: Sendable {
    /// Where a batch's time goes, in pipeline order.
    public enum Stage: String, Sendable, CaseIterable {
        case poll, decode, featureRead = "feature_read", features, score, produce, outputWait = "output_wait"
        case redisFlush = "redis_flush", commit
    }

    let eventsIn = Counter(label: "sluice_events_in_total")
    let decided: [Topology.Decision: Counter]
    let deadLettered = Counter(label: "sluice_dead_letters_total")
    let late = Counter(label: "sluice_late_events_total")
    let committed = Counter(label: "sluice_transactions_total", dimensions: [("outcome", "committed")])
    let aborted = Counter(label: "sluice_transactions_total", dimensions: [("outcome", "aborted")])
    let recovered = Counter(label: "sluice_records_recovered_total")
    let redisOutages = Counter(label: "sluice_redis_outages_total")
    let redisReconnects = Counter(label: "sluice_redis_reconnects_total")
    let batchRecords = Recorder(label: "sluice_batch_records")
    let eventToDecision = CoreMetrics.Timer(label: "sluice_event_to_decision_seconds")
    private let stages: [Stage: CoreMetrics.Timer]

    public init(topologyName: String, modelVersion: String) {
        decided = Dictionary(uniqueKeysWithValues: Topology.Decision.allCases.map {
            ($0, Counter(label: "sluice_decisions_total", dimensions: [("decision", $0.rawValue)]))
        })
        stages = Dictionary(uniqueKeysWithValues: Stage.allCases.map {
            ($0, CoreMetrics.Timer(label: "sluice_stage_duration_seconds", dimensions: [("stage", $0.rawValue)]))
        })
        Gauge(label: "sluice_model_info", dimensions: [("topology", topologyName), ("version", modelVersion)]).record(1)
    }

    /// Runs `body` and records its duration under `stage`.
    @inline(__always)
    func timed<T>(_ stage: Stage, _ body: () throws -> T) rethrows -> T {
        let start = DispatchTime.now().uptimeNanoseconds
        defer { stages[stage]!.recordNanoseconds(Int64(DispatchTime.now().uptimeNanoseconds - start)) }
        return try body()
    }

    /// Consumer lag per assigned partition (high watermark minus position, from librdkafka's
    /// cached fetch state, so it costs no broker round trip). Partitions reported before and
    /// not in `lag` now (revoked) drop to 0, so the group's instances never count one twice.
    /// Returns the partitions reported, to pass as `previous` next time.
    func recordLag(_ lag: [TopicPartition: Int64], previous: Set<TopicPartition>) -> Set<TopicPartition> {
        for partition in previous.union(lag.keys) {
            Gauge(label: "sluice_consumer_lag", dimensions: [("topic", partition.topic), ("partition", String(partition.partition))]).record(lag[partition] ?? 0)
        }
        return Set(lag.keys)
    }
}
