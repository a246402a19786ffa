import Foundation
import Logging
import SluiceEngine
import SluiceGenerator
import SluiceKafka
import SluiceRedis
import SluiceTestSupport

/// The chaos test (docs/exactly-once.md): produce events, run `sluice run` as separate
/// processes (exactly-once, or at-least-once with `delivery`), `kill -9` one at random moments
/// and restart it, wait until everything is committed, then check the result with
/// `ChaosVerifier`.
///
/// Needs a broker and Redis of its own (fresh topics and keys); `loadtest/chaos/run` and the
/// test suite start private ones.
public struct ChaosRun {
    /// What happens at each chaos moment.
    public enum Disruption: Sendable {
        /// `kill -9` one instance (chosen at random) and restart it.
        case killInstance
        /// Start one more instance in the group (partitions move to it: a rebalance mid-run).
        case addInstance
        /// Anything else, e.g. kill and restart Redis.
        case custom(@Sendable () throws -> Void)
    }

    public struct Options: Sendable {
        public var events = 200_000
        /// How many chaos moments (kills, for `.killInstance`).
        public var kills = 10
        public var disruption = Disruption.killInstance
        public var instances = 1
        /// At-least-once runs are checked for "nothing lost" (`ChaosVerifier.verifyAtLeastOnce`); it
        /// has no transaction log, so chaos moments come `killDelay` after the previous one instead
        /// of after a commit.
        public var delivery = RuntimeConfig.Delivery.exactlyOnce
        public var partitions: Int32 = 8
        public var seed: UInt64 = 2026
        public var commitIntervalMs = 100
        /// `SLUICE_STATE_FLUSH_INTERVAL_MS` of every instance (nil: the engine's default). Long
        /// intervals leave many commits' state only in memory when a kill comes.
        public var stateFlushIntervalMs: Int?
        /// Exactly-once: a chaos moment comes this many seconds (uniform) after the engine has
        /// committed a transaction since the previous moment, so every kill hits work in progress.
        /// At-least-once: this long after the previous moment. Nil: 0–0.6 s for exactly-once, and
        /// 2–3 s for at-least-once, past each restart's start and group join (~1.5 s on the test
        /// broker).
        public var killDelay: ClosedRange<Double>?
        public var timeout: Duration = .seconds(900)
        public var sluiceExecutable: String
        public var topologyPath: String
        public var workDirectory: String
        /// Extra environment for the first incarnation of instance 0 only, e.g.
        /// `SLUICE_FAULT_CRASH_AFTER_COMMIT`.
        public var firstIncarnationEnvironment: [String: String] = [:]
        public init(sluiceExecutable: String, topologyPath: String, workDirectory: String) {
            self.sluiceExecutable = sluiceExecutable
            self.topologyPath = topologyPath
            self.workDirectory = workDirectory
        }
    }

    public let options: Options
    /// librdkafka properties for every client (bootstrap servers, group timings).
    public let kafkaProperties: [String: String]
    public let redisURL: String
    public let keyPrefix = "chaos"
    public let groupID = "sluice-chaos"

    public init(options: Options, kafkaProperties: [String: String], redisURL: String) {
        self.options = options
        self.kafkaProperties = kafkaProperties
        self.redisURL = redisURL
    }

    public func run(log: (String) -> Void) throws -> ChaosReport {
        let started = ContinuousClock.now
        let topology = try Topology.load(path: options.topologyPath)
        let kafka = KafkaConfiguration(kafkaProperties)
        let logger = Logger(label: "sluice.chaos")
        var random = SplitMix64(seed: options.seed)

        let admin = try KafkaAdmin(configuration: kafka, logger: logger)
        try admin.createTopics([topology.inputTopic, topology.decisionsTopic, topology.deadLetterTopic, topology.lateTopic].map {
            KafkaAdmin.TopicSpec(name: $0, partitions: options.partitions)
        })
        var generatorOptions = TrafficGenerator.Options()
        generatorOptions.events = options.events
        generatorOptions.users = max(200, options.events / 20)
        generatorOptions.seed = options.seed
        let records = TrafficGenerator(options: generatorOptions).generate()
        let producer = try KafkaProducer(configuration: kafka, logger: logger)
        for record in records { try producer.produce(topic: topology.inputTopic, key: Array(record.key.utf8), value: record.value) }
        try producer.flush(timeoutMs: 120_000)
        let ends = try partitionEnds(topic: topology.inputTopic, kafka: kafka)
        log("chaos: produced \(records.count) events (\(records.filter(\.isMalformed).count) malformed) to \(options.partitions) partitions")

        let redis = try RedisConnection(configuration: try RedisConfiguration(url: redisURL), logger: logger)
        let store = RedisFeatureStore(connection: redis, topology: topology, keyPrefix: keyPrefix)

        var instances = (0..<options.instances).map { try? start(instance: $0, incarnation: 0) }
        guard instances.allSatisfy({ $0 != nil }) else { throw ManagedProcessError("cannot start sluice run") }
        var report = ChaosReport()
        var incarnations = [Int](repeating: 0, count: options.instances)
        var done = false
        while report.kills < options.kills {
            let baseline = committedTransactions(store)
            let progressDeadline = ContinuousClock.now + options.timeout
            while options.delivery == .exactlyOnce, committedTransactions(store) <= baseline, ContinuousClock.now < progressDeadline,
                  !(try finished(ends: ends, store: store, kafka: kafka, topic: topology.inputTopic)) {
                Thread.sleep(forTimeInterval: 0.02)
            }
            let range = options.killDelay ?? (options.delivery == .exactlyOnce ? 0.0...0.6 : 2.0...3.0)
            let delay = range.lowerBound + random.unit() * (range.upperBound - range.lowerBound)
            Thread.sleep(forTimeInterval: delay)
            if try finished(ends: ends, store: store, kafka: kafka, topic: topology.inputTopic) {
                done = true
                log("chaos: all input committed before kill \(report.kills + 1); stopping the kills")
                break
            }
            switch options.disruption {
            case .killInstance:
                let victim = Int(random.next() % UInt64(instances.count))
                instances[victim]!.kill9()
                incarnations[victim] += 1
                instances[victim] = try start(instance: victim, incarnation: incarnations[victim])
                report.restarts += 1
                log("chaos: kill -9 #\(report.kills + 1) of instance \(victim) after \(String(format: "%.2f", delay)) s; restarted")
            case .addInstance:
                instances.append(try start(instance: instances.count, incarnation: 0))
                incarnations.append(0)
                log("chaos: started instance \(instances.count - 1) after \(String(format: "%.2f", delay)) s")
            case .custom(let action):
                try action()
                log("chaos: disruption #\(report.kills + 1) after \(String(format: "%.2f", delay)) s")
            }
            report.kills += 1
        }
        let deadline = ContinuousClock.now + options.timeout
        while !done {
            // A supervisor's job: an instance that exits on its own (a fatal error, or an
            // injected crash) is restarted.
            for index in instances.indices where instances[index]!.exitStatus != nil {
                log("chaos: instance \(index) exited by itself (status \(instances[index]!.exitStatus!)); restarting")
                report.crashes += 1
                incarnations[index] += 1
                instances[index] = try start(instance: index, incarnation: incarnations[index])
            }
            done = try finished(ends: ends, store: store, kafka: kafka, topic: topology.inputTopic)
            if !done {
                guard ContinuousClock.now < deadline else { throw ManagedProcessError("chaos: input not fully committed within \(options.timeout)") }
                Thread.sleep(forTimeInterval: 0.5)
            }
        }
        for (index, instance) in instances.enumerated() {
            instance!.stop(gracePeriod: .seconds(30))
            if let status = instance!.exitStatus, status != 0 {
                report.violation("instance \(index) exited with status \(status) on SIGTERM (log: \(instance!.logFile))")
            }
        }
        log("chaos: all input committed; verifying against an uninterrupted reference")
        let verifier = ChaosVerifier(topology: topology, kafka: kafka, groupID: groupID, store: store)
        let verified = try options.delivery == .exactlyOnce ? verifier.verify() : verifier.verifyAtLeastOnce()
        report.merge(verified)
        report.seconds = Double((ContinuousClock.now - started).components.seconds)
        return report
    }

    private func start(instance: Int, incarnation: Int) throws -> ManagedProcess {
        var environment = [
            "SLUICE_REDIS_URL": redisURL,
            "SLUICE_REDIS_KEY_PREFIX": keyPrefix,
            "SLUICE_INSTANCE_ID": "chaos-\(instance)",
            "SLUICE_DELIVERY": options.delivery.rawValue,
            "SLUICE_COMMIT_INTERVAL_MS": String(options.commitIntervalMs),
            "SLUICE_TRANSACTION_LOG_LENGTH": "10000000",
            "SLUICE_LOG_LEVEL": ProcessInfo.processInfo.environment["SLUICE_CHAOS_LOG_LEVEL"] ?? "info",
            "SLUICE_KAFKA_GROUP_ID": groupID,
        ]
        if let interval = options.stateFlushIntervalMs { environment["SLUICE_STATE_FLUSH_INTERVAL_MS"] = String(interval) }
        if instance == 0 && incarnation == 0 { environment.merge(options.firstIncarnationEnvironment) { _, new in new } }
        environment.merge(sluiceKafkaEnvironment(kafkaProperties)) { _, new in new }
        return try ManagedProcess(
            executable: options.sluiceExecutable, arguments: ["run", "--topology", options.topologyPath],
            environment: environment, logFile: "\(options.workDirectory)/instance-\(instance)-\(incarnation).log")
    }

    /// Entries in the engine's transaction audit log (0 while Redis is unreachable).
    private func committedTransactions(_ store: RedisFeatureStore) -> Int {
        (try? store.connection.execute(["LLEN", .string(store.transactionLogKey)]).int64Value).flatMap { $0 }.map { Int($0) } ?? 0
    }

    /// The end offset of each partition, read to end-of-partition (ListOffsets is unreliable on Tansu).
    private func partitionEnds(topic: String, kafka: KafkaConfiguration) throws -> [Int32: Int64] {
        var ends: [Int32: Int64] = [:]
        for record in try TopicReader.readAll(topic: topic, configuration: kafka) {
            ends[record.partition] = max(ends[record.partition] ?? 0, record.offset + 1)
        }
        return ends
    }

    /// True once the group committed every partition's end and, with exactly-once, Redis applied
    /// it (false while Redis is unreachable: the chaos may be a Redis restart). At-least-once
    /// commits an offset only once Redis holds its records' states.
    private func finished(ends: [Int32: Int64], store: RedisFeatureStore, kafka: KafkaConfiguration, topic: String) throws -> Bool {
        if options.delivery == .exactlyOnce {
            let applied: [Int32: Int64]
            do {
                applied = try store.appliedPositions(topic: topic)
            } catch let error as RedisError where error.isTransient {
                return false
            }
            guard ends.allSatisfy({ (applied[$0.key] ?? -1) >= $0.value }) else { return false }
        }
        var groupConfig = kafka
        groupConfig["group.id"] = groupID
        let consumer = try KafkaConsumer(configuration: groupConfig, logger: Logger(label: "sluice.chaos.offsets"))
        defer { consumer.close() }
        let committed = try consumer.committed(ends.keys.map { TopicPartition(topic: topic, partition: $0) }, timeoutMs: 10_000)
        return committed.allSatisfy { $0.offset >= (ends[$0.partition] ?? 0) }
    }
}

extension ChaosReport {
    mutating func merge(_ verified: ChaosReport) {
        let kills = self.kills, restarts = self.restarts, crashes = self.crashes, earlier = violations
        self = verified
        self.kills = kills
        self.restarts = restarts
        self.crashes = crashes
        for violation in earlier { self.violation(violation) }
    }
}
