import ArgumentParser
import Foundation
import Logging
import SluiceCore
import SluiceEngine
import SluiceKafka

/// `sluice replay`: re-runs a range of history into a separate topic with its own Redis state.
struct ReplayCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "replay",
        abstract: "Re-run a range of a topic's history into another topic, with its own Redis key prefix (live state is never touched).",
        discussion: """
            --start takes earliest, offset:N (every partition from offset N) or time:T (RFC 3339 or epoch ms: \
            the first record at or after T); --end takes latest (the end at the time each partition is \
            reached), offset:N or time:T (exclusive). State under the replay's key prefix is cleared first, \
            so a replay of the stream's whole input reproduces the stream's features bit for bit.
            """)

    @OptionGroup var engine: EngineOptions
    @Option(help: "Topic to read (default: the topology's input topic).") var fromTopic: String?
    @Option(help: "earliest | offset:N | time:T") var start = "earliest"
    @Option(help: "latest | offset:N | time:T (exclusive)") var end = "latest"
    @Option(help: "Topic for the replayed decisions.") var outputTopic: String
    @Option(help: "Redis key prefix for the replay's state (default: <config prefix>-replay-<output topic>).") var keyPrefix: String?

    func run() throws {
        var (topology, config) = try engine.load()
        let logger = Logger(label: "sluice.replay")
        let source = fromTopic ?? topology.inputTopic
        guard source != outputTopic else { throw ValidationError("--output-topic must differ from the topic replayed") }
        config.keyPrefix = keyPrefix ?? "\(config.keyPrefix)-replay-\(outputTopic)"
        config.kafka["group.id"] = "sluice-replay-\(UUID().uuidString)"
        config.delivery = .atLeastOnce  // a replay commits nothing, so it needs no transactions
        var options = StreamPipeline.Options()
        options.decisionsTopic = outputTopic
        options.writeDeadLetters = false
        options.writeLateEvents = false
        let admin = try KafkaAdmin(configuration: config.kafka, logger: logger)
        let partitions = try admin.partitionCount(topic: source)
        try admin.createTopics([KafkaAdmin.TopicSpec(name: outputTopic, partitions: Int32(partitions))])
        let pipeline = try StreamPipeline(topology: topology, config: config, options: options, logger: logger)
        let cleared = try pipeline.featureStore.deleteAll()
        let locator = try KafkaConsumer(configuration: config.kafka, logger: logger)
        defer { locator.close() }
        let all = (0..<Int32(partitions)).map { TopicPartition(topic: source, partition: $0) }
        let startOffsets = try Self.resolve(start, partitions: all, consumer: locator, isEnd: false)
        let endOffsets = try Self.resolve(end, partitions: all, consumer: locator, isEnd: true)
        var ends: [TopicPartition: Int64] = [:]
        for entry in endOffsets where entry.offset >= 0 { ends[TopicPartition(topic: entry.topic, partition: entry.partition)] = entry.offset }
        let isTerminal = isatty(STDERR_FILENO) != 0
        let statistics = try pipeline.replay(start: startOffsets, end: ends, stop: StopSignal()) { processed in
            if isTerminal { FileHandle.standardError.write(Data("\rreplay: \(processed) records".utf8)) }
        }
        if isTerminal { FileHandle.standardError.write(Data("\n".utf8)) }
        emit("sluice replay: \(source) → \(outputTopic) (state prefix \(config.keyPrefix), \(cleared) old keys cleared)\n" + statistics.summary)
    }

    /// Offsets per partition for a start or end specification; -1 means "to the end".
    static func resolve(_ spec: String, partitions: [TopicPartition], consumer: KafkaConsumer, isEnd: Bool) throws -> [TopicPartitionOffset] {
        func all(_ offset: Int64) -> [TopicPartitionOffset] {
            partitions.map { TopicPartitionOffset(topic: $0.topic, partition: $0.partition, offset: offset) }
        }
        switch spec {
        case "earliest" where !isEnd: return all(-2)  // RD_KAFKA_OFFSET_BEGINNING
        case "latest" where isEnd: return all(-1)
        default: break
        }
        if spec.hasPrefix("offset:"), let offset = Int64(spec.dropFirst("offset:".count)), offset >= 0 { return all(offset) }
        if spec.hasPrefix("time:") {
            let text = String(spec.dropFirst("time:".count))
            guard let millis = Int64(text) ?? EventTime.parseRFC3339(text) else {
                throw ValidationError("\(spec): time must be epoch milliseconds or RFC 3339")
            }
            return try consumer.offsets(forTimes: all(millis), timeoutMs: 10_000)
        }
        throw ValidationError("\(spec) is not \(isEnd ? "latest" : "earliest"), offset:N or time:T")
    }
}
