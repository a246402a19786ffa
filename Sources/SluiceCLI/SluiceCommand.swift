import ArgumentParser

@main
struct SluiceCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sluice",
        abstract: "Stream processing for real-time ML decisions: Kafka → windowed features in Redis → tree-model score → decisions.",
        subcommands: [RunCommand.self, TopicsCommand.self, GenerateCommand.self, BackfillCommand.self, ReplayCommand.self, PredictCommand.self, ModelCommand.self])
}
