import Foundation
import Logging
import SluiceCore
import SluiceEngine
import SluiceGenerator
import SluiceKafka
import SluiceRedis
import SluiceTestSupport
import XCTest

/// One consumer group and key prefix run exactly-once, then at-least-once, then exactly-once
/// again (an operator switching `pipeline.delivery` and back). The last run takes over where the
/// at-least-once run committed and must not apply that run's records to state a second time.
final class DeliveryModeSwitchTests: XCTestCase {
    func testExactlyOnceAfterAtLeastOnceAppliesEveryEventOnce() throws {
        let (broker, redis, topology) = try demoTestBed(partitions: 4)
        let generated = TrafficGenerator.testTraffic(events: 2400, users: 100, days: 10, seed: 91)
        var recovered: [Int] = []
        for (phase, delivery) in zip(thirds(generated), [RuntimeConfig.Delivery.exactlyOnce, .atLeastOnce, .exactlyOnce]) {
            try broker.produce(phase, to: "events")
            let config = pipelineConfig(broker, redis, group: "sluice-mode-switch", keyPrefix: "switch", delivery: delivery)
            let pipeline = try StreamPipeline(topology: topology, config: config, options: .init(exitAtEnd: true),
                                              logger: Logger(label: "test.\(delivery)"))
            let statistics = try pipeline.run(stop: StopSignal())
            XCTAssertEqual(statistics.recordsIn, phase.count, "\(delivery) run")
            recovered.append(statistics.recordsRecovered)
        }
        XCTAssertEqual(recovered, [0, 0, 0], "records re-applied to state by a takeover")

        let decoder = EventDecoder()
        XCTAssertEqual(try broker.readAll(topic: "decisions").count, generated.filter { (try? decoder.decode($0.value).get()) != nil }.count)
        let connection = try RedisConnection(configuration: try RedisConfiguration(url: redis.url), logger: Logger(label: "test.redis"))
        try XCTAssertStatesMatchReference(RedisFeatureStore(connection: connection, topology: topology, keyPrefix: "switch"),
                                          topology: topology, records: generated)
    }
}
