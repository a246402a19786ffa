import Foundation
import Logging
import SluiceCore
import SluiceEngine
import SluiceRedis
import SluiceTestSupport
import XCTest

/// The exactly-once entity write (`saveFenced`) on a real Redis: it lands unless Redis holds a
/// later position in one of the written partitions (a zombie's or a replay's stale write) or
/// nothing newer in any; an entity whose events moved to a new partition keeps being written.
final class FencedStateWriteTests: XCTestCase {
    func testWritesLandUnlessRedisHoldsALaterPositionInSomePartition() throws {
        let redis = try RedisTestServer()
        let topology = try Topology.load(path: repositoryRoot + "/topologies/returns-fraud.yaml")
        let connection = try RedisConnection(configuration: try RedisConfiguration(url: redis.url), logger: Logger(label: "test.redis"))
        let store = RedisFeatureStore(connection: connection, topology: topology, keyPrefix: "fence")
        let engine = topology.engine
        let base: Int64 = 1_790_000_000_000
        // States after one, two, three, four orders of 10 EUR: each tells the ones before apart.
        var states = [engine.emptyState()]
        for k in 1...4 {
            var state = states[k - 1]
            _ = engine.apply(Event(eventID: "o\(k)", type: .order, userID: "u1", eventTime: base + Int64(k) * 1000, amount: 10, currency: "EUR"), to: &state)
            states.append(state)
        }
        let probe = Event(eventID: "probe", type: .order, userID: "u1", eventTime: base + 10_000, amount: 10, currency: "EUR")
        func stored() throws -> StoredEntity { try XCTUnwrap(store.loadStored(["u1"])["u1"]) }
        func write(_ state: Int, _ applied: [Int32: Int64]) throws -> Bool {
            try store.saveFenced([("u1", StoredEntity(state: states[state], applied: applied))]) == 0
        }
        func assertHolds(_ state: Int, _ applied: [Int32: Int64], _ message: String, line: UInt = #line) throws {
            let entity = try stored()
            // Compared as text: a feature without data is NaN, which equals nothing.
            XCTAssertEqual("\(engine.features(of: probe, state: entity.state))", "\(engine.features(of: probe, state: states[state]))", message, line: line)
            XCTAssertEqual(entity.applied, applied, message, line: line)
        }

        XCTAssertTrue(try write(1, [1: 100]), "first write")
        try assertHolds(1, [1: 100], "first write")
        XCTAssertTrue(try write(2, [1: 120]), "a later position in the same partition")
        try assertHolds(2, [1: 120], "later position")
        XCTAssertFalse(try write(1, [1: 100]), "a zombie's late write (earlier position)")
        XCTAssertFalse(try write(2, [1: 120]), "a replay of the same write (nothing newer)")
        try assertHolds(2, [1: 120], "after the stale writes")
        // The topic got more partitions: the entity's next events come from partition 9, and its
        // write carries partition 1's position unchanged. (Compared with `>=` per partition,
        // this and every later write of the entity were fenced off, freezing its state.)
        XCTAssertTrue(try write(3, [1: 120, 9: 5]), "a new partition beside an unchanged one")
        try assertHolds(3, [1: 120, 9: 5], "after the new partition")
        XCTAssertTrue(try write(4, [1: 120, 9: 6]), "the new partition advancing")
        XCTAssertFalse(try write(3, [1: 120, 9: 5]), "a stale write in the new partition")
        XCTAssertFalse(try write(4, [1: 119, 9: 7]), "newer in one partition but older in another")
        try assertHolds(4, [1: 120, 9: 6], "at the end")
    }
}
