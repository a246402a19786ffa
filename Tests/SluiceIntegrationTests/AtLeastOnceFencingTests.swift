import Foundation
import Logging
import SluiceCore
import SluiceEngine
import SluiceGenerator
import SluiceKafka
import SluiceRedis
import SluiceTestSupport
import XCTest

/// At-least-once state writes are fenced by input offsets, as exactly-once's are
/// (docs/exactly-once.md): a write from an instance that lost its partitions, landing after the
/// next owner wrote later offsets, is refused instead of overwriting the newer state. And every
/// state it writes carries the fences exactly-once would (per partition, the offset of the
/// entity's last record), so an exactly-once takeover skips what it applied.
final class AtLeastOnceFencingTests: XCTestCase {
    func testStateWritesAreFencedByInputOffsets() throws {
        let (broker, redis, topology) = try demoTestBed(partitions: 2)
        let generated = TrafficGenerator.testTraffic(events: 1200, users: 60, days: 10, seed: 17)
        try broker.produce(generated, to: "events")
        let connection = try RedisConnection(configuration: try RedisConfiguration(url: redis.url), logger: Logger(label: "test.redis"))
        let store = RedisFeatureStore(connection: connection, topology: topology, keyPrefix: "fencing")

        // Another owner has written one user's state with offsets beyond the whole log (in this
        // test, a state from the user's first event only, so it differs from the full history's).
        let decoder = EventDecoder()
        let events = generated.compactMap { try? decoder.decode($0.value).get() }
        let user = events[0].userID
        var newer: [String: EntityState] = [:]
        _ = topology.computeFeatures([events[0]], states: &newer)
        let newerFences: [Int32: Int64] = [0: 1_000_000, 1: 1_000_000]
        try store.saveFenced([(userID: user, entity: StoredEntity(state: newer[user]!, applied: newerFences))])

        let statistics = try Self.atLeastOncePipeline(broker, redis, topology, group: "sluice-alo-fencing", keyPrefix: "fencing")
            .run(stop: StopSignal())
        XCTAssertEqual(statistics.recordsIn, generated.count)
        XCTAssertGreaterThanOrEqual(statistics.fencedWrites, 1, "the write of the user another owner wrote was not refused")

        // The reference: every valid record applied once, in log order; the fences: per user and
        // partition, the offset of the user's last valid record.
        var expected: [String: EntityState] = [:]
        var fences: [String: [Int32: Int64]] = [:]
        for record in try broker.readAll(topic: "events") {
            guard let value = record.value, let event = try? decoder.decode(value).get() else { continue }
            _ = topology.computeFeatures([event], states: &expected)
            fences[event.userID, default: [:]][record.partition] = record.offset
        }
        let stored = try store.loadStored(Array(expected.keys))
        XCTAssertEqual(stored.count, expected.count)
        XCTAssertEqual(stored[user]?.state, newer[user], "the stale write replaced the newer owner's state")
        XCTAssertEqual(stored[user]?.applied, newerFences)
        let others = expected.keys.filter { $0 != user }
        XCTAssertEqual(others.filter { stored[$0]?.state != expected[$0] }.count, 0, "states differ from the reference")
        XCTAssertEqual(others.filter { stored[$0]?.applied != fences[$0] }.count, 0,
                       "fences differ from the offsets of the users' last records, e.g. \(others.first.map { (stored[$0]?.applied, fences[$0]) }.debugDescription)")
    }

    /// State from another offset space (applied positions in Redis, but no offset committed by
    /// the group: a topic recreated, or another group under the key prefix) would refuse every
    /// fenced write and lose the run's updates: the run refuses to start instead, as exactly-once
    /// does.
    func testRefusesStateFromAnotherOffsetSpace() throws {
        let (broker, redis, topology) = try demoTestBed(partitions: 2)
        try broker.produce(TrafficGenerator.testTraffic(events: 200, users: 20, days: 5, seed: 3), to: "events")
        let connection = try RedisConnection(configuration: try RedisConfiguration(url: redis.url), logger: Logger(label: "test.redis"))
        try RedisFeatureStore(connection: connection, topology: topology, keyPrefix: "offsets")
            .advanceAppliedPositions(topic: "events", [1: 1_000_000])

        let pipeline = try Self.atLeastOncePipeline(broker, redis, topology, group: "sluice-alo-offsets", keyPrefix: "offsets")
        XCTAssertThrowsError(try pipeline.run(stop: StopSignal())) { error in
            XCTAssertTrue("\(error)".contains("events[1]: Redis holds state applied up to offset 1000000, but consumer group has no committed offset"), "\(error)")
        }
    }

    /// An at-least-once pipeline on `group` and `keyPrefix` that stops at the end of the input.
    static func atLeastOncePipeline(_ broker: TansuTestBroker, _ redis: RedisTestServer, _ topology: Topology,
                                    group: String, keyPrefix: String) throws -> StreamPipeline {
        try StreamPipeline(topology: topology, config: pipelineConfig(broker, redis, group: group, keyPrefix: keyPrefix, delivery: .atLeastOnce),
                           options: .init(exitAtEnd: true), logger: Logger(label: "test.alo"))
    }
}
