import Foundation
import SluiceKafka
import SluiceRedis
import Yams

/// Where and how an instance runs: broker and Redis addresses, batch sizes, logging.
/// Read from YAML (config/*.yaml), then overridden by environment variables:
///
/// - `SLUICE_KAFKA_<PROPERTY>`: any librdkafka property, upper-cased with `.` as `_`
///   (e.g. `SLUICE_KAFKA_BOOTSTRAP_SERVERS`, `SLUICE_KAFKA_GROUP_ID`);
/// - `SLUICE_REDIS_URL`, `SLUICE_REDIS_KEY_PREFIX`;
/// - `SLUICE_BATCH_SIZE`, `SLUICE_POLL_TIMEOUT_MS`, `SLUICE_LOG_LEVEL`;
/// - `SLUICE_DELIVERY` (`exactly_once` | `at_least_once`), `SLUICE_COMMIT_INTERVAL_MS`,
///   `SLUICE_COMMIT_MAX_RECORDS`, `SLUICE_INSTANCE_ID`, `SLUICE_TRANSACTION_LOG_LENGTH`,
///   `SLUICE_STATE_CACHE_ENTRIES`;
/// - `SLUICE_METRICS_PORT` (the `/metrics`, `/healthz`, `/readyz` endpoint; unset: off).
public struct RuntimeConfig: Sendable {
    /// What a crash may do to outputs and state (docs/exactly-once.md).
    public enum Delivery: String, Sendable {
        /// Outputs and consumed offsets commit in one Kafka transaction; Redis state changes
        /// are applied once, fenced by input offsets.
        case exactlyOnce = "exactly_once"
        /// Offsets are committed after outputs are delivered and state is written; a crash
        /// re-processes (and re-applies) the uncommitted batch.
        case atLeastOnce = "at_least_once"
    }

    public var kafka: KafkaConfiguration
    public var redisURL: String
    public var keyPrefix: String
    public var batchSize: Int
    public var pollTimeoutMs: Int32
    public var flushTimeoutMs: Int32
    public var logLevel: String
    public var delivery: Delivery = .exactlyOnce
    /// Exactly-once: a transaction commits when it is this old (ms)…
    public var commitIntervalMs: Int = 100
    /// …or holds this many input records, whichever comes first.
    public var commitMaxRecords: Int = 50_000
    /// Stable name of this instance: its Kafka `transactional.id` is `sluice-<topology>-<id>`, so
    /// a restarted instance fences its previous incarnation. Unique per running instance.
    public var instanceID: String = "0"
    /// Keep an audit log of the last N transactions in Redis (0: off); the chaos test reads it.
    public var transactionLogLength: Int = 0
    /// Exactly-once: committed entity states kept in memory (read before Redis); beyond this
    /// many the cache is emptied (after Redis has them all).
    public var stateCacheEntries: Int = 200_000
    /// Exactly-once: committed entity states are written to Redis at most this often (ms), one
    /// write per entity changed since the last one, however many commits changed it. Redis then
    /// lags the committed log by up to this much (a takeover re-applies the gap from the log);
    /// 0 writes after every commit.
    public var stateFlushIntervalMs: Int = 1_000
    /// Test-only fault injection (`SLUICE_FAULT_CRASH_AFTER_COMMIT=N`): the process kills itself
    /// with SIGKILL right after its N-th transaction commits, before Redis is written — the
    /// worst moment for exactly-once, which the chaos tests use. At-least-once: right after its
    /// N-th offset commit, before the next checkpoint's states are handed to the flusher.
    public var crashAfterCommit: Int?
    /// Port of the operations endpoint (`/metrics`, `/healthz`, `/readyz`); nil: not served.
    public var metricsPort: Int?

    public struct LoadError: Error, CustomStringConvertible {
        public let description: String
    }

    struct File: Decodable {
        struct Redis: Decodable {
            var url: String?
            var keyPrefix: String?
            enum CodingKeys: String, CodingKey {
                case url
                case keyPrefix = "key_prefix"
            }
        }
        struct Pipeline: Decodable {
            var batchSize: Int?
            var pollTimeoutMs: Int32?
            var flushTimeoutMs: Int32?
            var delivery: String?
            var commitIntervalMs: Int?
            var commitMaxRecords: Int?
            var transactionLogLength: Int?
            var stateCacheEntries: Int?
            var stateFlushIntervalMs: Int?
            enum CodingKeys: String, CodingKey {
                case stateCacheEntries = "state_cache_entries"
                case stateFlushIntervalMs = "state_flush_interval_ms"
                case delivery
                case commitIntervalMs = "commit_interval_ms"
                case commitMaxRecords = "commit_max_records"
                case transactionLogLength = "transaction_log_length"
                case batchSize = "batch_size"
                case pollTimeoutMs = "poll_timeout_ms"
                case flushTimeoutMs = "flush_timeout_ms"
            }
        }
        var kafka: [String: String]?
        var redis: Redis?
        var pipeline: Pipeline?
        struct Metrics: Decodable {
            var port: Int?
        }
        var logLevel: String?
        var instanceID: String?
        var metrics: Metrics?
        enum CodingKeys: String, CodingKey {
            case kafka, redis, pipeline, metrics
            case instanceID = "instance_id"
            case logLevel = "log_level"
        }
    }

    public init(kafka: KafkaConfiguration, redisURL: String, keyPrefix: String = "sluice", batchSize: Int = 1000,
                pollTimeoutMs: Int32 = 100, flushTimeoutMs: Int32 = 30_000, logLevel: String = "info") {
        self.kafka = kafka
        self.redisURL = redisURL
        self.keyPrefix = keyPrefix
        self.batchSize = batchSize
        self.pollTimeoutMs = pollTimeoutMs
        self.flushTimeoutMs = flushTimeoutMs
        self.logLevel = logLevel
    }

    /// Loads `path` (nil: defaults only) and applies `environment` overrides.
    public static func load(path: String?, environment: [String: String] = ProcessInfo.processInfo.environment) throws -> RuntimeConfig {
        var file = File()
        if let path {
            let text: String
            do {
                text = try String(contentsOfFile: path, encoding: .utf8)
            } catch {
                throw LoadError(description: "config \(path): cannot read: \(error.localizedDescription)")
            }
            do {
                file = try YAMLDecoder().decode(File.self, from: text)
            } catch {
                throw LoadError(description: "config \(path): \(error)")
            }
        }
        var config = RuntimeConfig(
            kafka: KafkaConfiguration(file.kafka ?? [:]),
            redisURL: file.redis?.url ?? "redis://127.0.0.1:6379/0",
            keyPrefix: file.redis?.keyPrefix ?? "sluice",
            batchSize: file.pipeline?.batchSize ?? 1000,
            pollTimeoutMs: file.pipeline?.pollTimeoutMs ?? 100,
            flushTimeoutMs: file.pipeline?.flushTimeoutMs ?? 30_000,
            logLevel: file.logLevel ?? "info")
        for (name, value) in environment where name.hasPrefix("SLUICE_KAFKA_") {
            let property = name.dropFirst("SLUICE_KAFKA_".count).lowercased().replacingOccurrences(of: "_", with: ".")
            config.kafka[property] = value
        }
        if let url = environment["SLUICE_REDIS_URL"] { config.redisURL = url }
        if let prefix = environment["SLUICE_REDIS_KEY_PREFIX"] { config.keyPrefix = prefix }
        if let level = environment["SLUICE_LOG_LEVEL"] { config.logLevel = level }
        config.instanceID = environment["SLUICE_INSTANCE_ID"] ?? file.instanceID ?? "0"
        config.crashAfterCommit = environment["SLUICE_FAULT_CRASH_AFTER_COMMIT"].flatMap { Int($0) }
        if let text = environment["SLUICE_METRICS_PORT"] {
            guard let port = Int(text), (0...65535).contains(port) else { throw LoadError(description: "SLUICE_METRICS_PORT=\(text) is not a port") }
            config.metricsPort = port
        } else {
            config.metricsPort = file.metrics?.port
        }
        let delivery = environment["SLUICE_DELIVERY"] ?? file.pipeline?.delivery ?? Delivery.exactlyOnce.rawValue
        guard let mode = Delivery(rawValue: delivery) else {
            throw LoadError(description: "pipeline.delivery must be exactly_once or at_least_once, not \(delivery)")
        }
        config.delivery = mode
        config.commitIntervalMs = try positive("SLUICE_COMMIT_INTERVAL_MS", environment, file.pipeline?.commitIntervalMs, default: 100)
        config.commitMaxRecords = try positive("SLUICE_COMMIT_MAX_RECORDS", environment, file.pipeline?.commitMaxRecords, default: 50_000)
        config.stateCacheEntries = try positive("SLUICE_STATE_CACHE_ENTRIES", environment, file.pipeline?.stateCacheEntries, default: 200_000, allowZero: true)
        config.stateFlushIntervalMs = try positive("SLUICE_STATE_FLUSH_INTERVAL_MS", environment, file.pipeline?.stateFlushIntervalMs, default: 1_000, allowZero: true)
        config.transactionLogLength = try positive("SLUICE_TRANSACTION_LOG_LENGTH", environment, file.pipeline?.transactionLogLength, default: 0, allowZero: true)
        guard !config.instanceID.isEmpty, config.instanceID.allSatisfy({ $0.isLetter || $0.isNumber || "-_.".contains($0) }) else {
            throw LoadError(description: "instance_id \"\(config.instanceID)\" must be non-empty letters, digits, '-', '_' or '.'")
        }
        if let text = environment["SLUICE_BATCH_SIZE"] {
            guard let value = Int(text), value > 0 else { throw LoadError(description: "SLUICE_BATCH_SIZE=\(text) is not a positive integer") }
            config.batchSize = value
        }
        if let text = environment["SLUICE_POLL_TIMEOUT_MS"] {
            guard let value = Int32(text), value >= 0 else { throw LoadError(description: "SLUICE_POLL_TIMEOUT_MS=\(text) is not a non-negative integer") }
            config.pollTimeoutMs = value
        }
        guard config.batchSize > 0, config.batchSize <= 100_000 else {
            throw LoadError(description: "pipeline.batch_size must be between 1 and 100000")
        }
        guard config.kafka["bootstrap.servers"] != nil else {
            throw LoadError(description: "kafka.bootstrap.servers is not set (config file or SLUICE_KAFKA_BOOTSTRAP_SERVERS)")
        }
        return config
    }

    private static func positive(_ variable: String, _ environment: [String: String], _ fileValue: Int?, default fallback: Int, allowZero: Bool = false) throws -> Int {
        let value: Int
        if let text = environment[variable] {
            guard let parsed = Int(text) else { throw LoadError(description: "\(variable)=\(text) is not an integer") }
            value = parsed
        } else {
            value = fileValue ?? fallback
        }
        guard value > 0 || (allowZero && value == 0) else {
            throw LoadError(description: "\(variable.dropFirst("SLUICE_".count).lowercased()) must be \(allowZero ? "zero or more" : "positive"), not \(value)")
        }
        return value
    }
}
