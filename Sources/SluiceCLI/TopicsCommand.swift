import ArgumentParser
import Logging
import SluiceEngine
import SluiceKafka

struct TopicsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "topics",
        abstract: "Create the topology's topics (input, decisions, dead letter, late) where missing.")

    @OptionGroup var engine: EngineOptions

    func run() throws {
        let (topology, config) = try engine.load()
        try Self.create(topology: topology, config: config, logger: Logger(label: "sluice.topics"))
    }

    static func create(topology: Topology, config: RuntimeConfig, logger: Logger) throws {
        let admin = try KafkaAdmin(configuration: config.kafka, logger: logger)
        let names = [topology.inputTopic, topology.decisionsTopic, topology.deadLetterTopic, topology.lateTopic]
        let created = try admin.createTopics(names.map { KafkaAdmin.TopicSpec(name: $0, partitions: topology.partitions) })
        emit("topics: \(names.joined(separator: ", ")) (created: \(created.isEmpty ? "none" : created.joined(separator: ", ")))")
    }
}
