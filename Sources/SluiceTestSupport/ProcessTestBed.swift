import SluiceGenerator

/// What the tests that run the `sluice` binary start from: a private Tansu with the demo
/// topology's topics (`events`, `decisions`, `events-dlq`, `events-late`), generated traffic
/// already produced to `events`, and a private Redis.
public struct ProcessTestBed {
    public let broker: TansuTestBroker
    public let redis: RedisTestServer
    public let generated: [TrafficGenerator.Record]

    public init(events: Int, users: Int, seed: UInt64, partitions: Int32 = 2) throws {
        broker = try TansuTestBroker()
        redis = try RedisTestServer()
        try broker.createTopics(["events", "decisions", "events-dlq", "events-late"], partitions: partitions)
        var options = TrafficGenerator.Options()
        options.events = events
        options.users = users
        options.seed = seed
        generated = TrafficGenerator(options: options).generate()
        try broker.produce(generated, to: "events")
    }
}
