import XCTest
import SluiceCore

final class FeatureEngineTests: XCTestCase {
    private let allAggregations = [
        windowed("cnt", "count"), windowed("sum", "sum", field: "amount"), windowed("mean", "mean", field: "amount"),
        windowed("min", "min", field: "amount"), windowed("max", "max", field: "amount"), windowed("last", "last", field: "amount"),
        windowed("cards", "distinct_count", field: "card_id"), windowed("since", "seconds_since_last"),
    ]

    private func assertFeatures(_ actual: [String: Double], _ expected: [String: Double], file: StaticString = #filePath, line: UInt = #line) {
        for (name, value) in expected.sorted(by: { $0.key < $1.key }) { assertSame(actual[name], value, name, file: file, line: line) }
    }

    func testEmptyWindows() throws {
        var run = try EntityRun(allAggregations)
        let first = run.step(makeEvent(at(1), amount: 5, card: "A"))
        XCTAssertTrue(first.applied)
        assertFeatures(first.features, ["cnt": 0, "sum": 0, "mean": .nan, "min": .nan, "max": .nan, "last": .nan, "cards": 0, "since": .nan])
        // A window that has moved past every applied event is empty again.
        assertFeatures(run.features(of: makeEvent(at(3))), ["cnt": 0, "sum": 0, "mean": .nan, "min": .nan, "max": .nan, "last": .nan, "cards": 0, "since": .nan])
    }

    func testEachAggregationComesFromStateBeforeTheEvent() throws {
        var run = try EntityRun(allAggregations)
        run.step(makeEvent(at(1, 0), amount: 10, card: "A"))
        run.step(makeEvent(at(1, 5), amount: 30, card: "B"))
        let third = run.step(makeEvent(at(1, 12), amount: 20, card: "A"))
        assertFeatures(third.features, ["cnt": 2, "sum": 40, "mean": 20, "min": 10, "max": 30, "last": 30, "cards": 2, "since": 420])
        let fourth = run.step(makeEvent(at(1, 15), amount: 99, card: "C"))
        assertFeatures(fourth.features, ["cnt": 3, "sum": 60, "mean": 20, "min": 10, "max": 30, "last": 20, "cards": 2, "since": 180])
        XCTAssertEqual(run.state.appliedCount, 4)
        XCTAssertEqual(run.state.maxEventTime, at(1, 15))
    }

    func testWindowIsMadeOfWholeBuckets() throws {
        var run = try EntityRun([windowed("cnt", "count", length: "30m", bucket: "10m")])
        for time in [at(0, 0), at(0, 9, 59, ms: 999), at(0, 10)] { run.step(makeEvent(time)) }
        let expectations: [(Int64, Double)] = [(at(0, 29, 59, ms: 999), 3), (at(0, 30), 1), (at(0, 39, 59, ms: 999), 1), (at(0, 40), 0)]
        for (time, count) in expectations { assertSame(run.features(of: makeEvent(time))["cnt"], count, "at \(time - base)") }
    }

    func testEventsInLaterBucketsDoNotCount() throws {
        var run = try EntityRun([windowed("cnt", "count"), windowed("since", "seconds_since_last"), windowed("last", "last", field: "amount")])
        run.step(makeEvent(at(0, 25), amount: 1))
        let b = run.step(makeEvent(at(0, 5), amount: 2))
        XCTAssertTrue(b.applied)
        assertFeatures(b.features, ["cnt": 0, "since": .nan, "last": .nan])
        assertFeatures(run.step(makeEvent(at(0, 7), amount: 3)).features, ["cnt": 1, "since": 120, "last": 2])
        assertFeatures(run.step(makeEvent(at(0, 30))).features, ["cnt": 3, "since": 1380, "last": 3])
    }

    func testSecondsSinceLastAndLastFollowLogOrder() throws {
        let specs = [windowed("since", "seconds_since_last"), windowed("last", "last", field: "amount")]
        var laterFirst = try EntityRun(specs)
        laterFirst.step(makeEvent(at(0, 8), amount: 8))
        laterFirst.step(makeEvent(at(0, 2), amount: 2))
        assertFeatures(laterFirst.features(of: makeEvent(at(0, 5))), ["since": 180, "last": 2])
        var earlierFirst = try EntityRun(specs)
        earlierFirst.step(makeEvent(at(0, 2), amount: 2))
        earlierFirst.step(makeEvent(at(0, 8), amount: 8))
        assertFeatures(earlierFirst.features(of: makeEvent(at(0, 5))), ["since": -180, "last": 8])
    }

    func testLateEventsAreScoredButNotApplied() throws {
        var run = try EntityRun([windowed("cnt", "count", length: "2h"), windowed("sum", "sum", field: "amount", length: "2h"),
                                 windowed("since", "seconds_since_last", length: "2h")], lateness: "30m")
        run.step(makeEvent(at(1, 0), amount: 7))
        run.step(makeEvent(at(2, 0), amount: 5))
        let before = run.state
        let late = run.step(makeEvent(at(1, 20), amount: 100))
        XCTAssertFalse(late.applied)
        XCTAssertTrue(run.engine.isLate(makeEvent(at(1, 20)), state: run.state))
        assertFeatures(late.features, ["cnt": 1, "sum": 7, "since": 1200])
        XCTAssertTrue(sameBits(run.state, before), "a late event changed the state")
        XCTAssertFalse(run.step(makeEvent(at(1, 29, 59, ms: 999))).applied)
        XCTAssertTrue(sameBits(run.state, before))
        assertFeatures(run.step(makeEvent(at(2, 5))).features, ["cnt": 2, "sum": 12, "since": 300])
        XCTAssertTrue(run.step(makeEvent(at(1, 35))).applied, "M - lateness is not late")  // M = 2:05
    }

    func testRetentionHidesExpiredBucketsFromLateEvents() throws {
        let specs = [windowed("cnt", "count"), windowed("sum", "sum", field: "amount"), windowed("since", "seconds_since_last")]
        var run = try EntityRun(specs, lateness: "10m")
        run.step(makeEvent(at(0, 5), amount: 1))  // bucket 0
        run.step(makeEvent(at(0, 25), amount: 2))  // bucket 2
        run.step(makeEvent(at(1, 20), amount: 4))  // M = 1:20, visible buckets >= bucket(1:10) - 5 = 2
        let x = run.step(makeEvent(at(0, 30)))
        XCTAssertFalse(x.applied)
        assertFeatures(x.features, ["cnt": 1, "sum": 2, "since": 300])
        assertFeatures(run.features(of: makeEvent(at(0, 20))), ["cnt": 1, "sum": 2, "since": -300])
        assertFeatures(run.features(of: makeEvent(at(0, 9))), ["cnt": 0, "sum": 0, "since": .nan])
    }

    func testOutOfOrderEventsWithinLateness() throws {
        var run = try EntityRun([windowed("cnt", "count"), windowed("sum", "sum", field: "amount"), windowed("min", "min", field: "amount")])
        for (minutes, amount) in [(35, 1.0), (5, 2.0), (25, 4.0), (15, 8.0)] {
            XCTAssertTrue(run.step(makeEvent(at(0, Int64(minutes)), amount: amount)).applied)
        }
        assertFeatures(run.features(of: makeEvent(at(0, 50))), ["cnt": 4, "sum": 15, "min": 1])
        assertFeatures(run.features(of: makeEvent(at(0, 20))), ["cnt": 3, "sum": 14, "min": 2])
        assertFeatures(run.features(of: makeEvent(at(1, 10))), ["cnt": 2, "sum": 5, "min": 1])
    }

    func testTypeAndFieldFilters() throws {
        var run = try EntityRun([
            windowed("txn", "count", types: ["order", "payment"]), windowed("items_sum", "sum", field: "item_count"),
            windowed("items_mean", "mean", field: "item_count"), windowed("items_min", "min", field: "item_count"),
            windowed("items_max", "max", field: "item_count"), windowed("items_last", "last", field: "item_count"),
            windowed("pay_devices", "distinct_count", field: "device_id", types: ["payment"]),
            windowed("return_since", "seconds_since_last", types: ["return"]),
        ])
        run.step(makeEvent(at(0, 1), .order, device: "d1", items: 2))
        run.step(makeEvent(at(0, 2), .payment, device: "d2"))
        run.step(makeEvent(at(0, 3), .return, device: "d3", items: 5))
        run.step(makeEvent(at(0, 4), .payment, device: "d2"))
        run.step(makeEvent(at(0, 5), .payment))
        assertFeatures(run.features(of: makeEvent(at(0, 6))), [
            "txn": 4, "items_sum": 7, "items_mean": 3.5, "items_min": 2, "items_max": 5, "items_last": 5, "pay_devices": 1,
            "return_since": 180,
        ])
    }

    func testDistinctCountIsExact() throws {
        var run = try EntityRun([windowed("cards", "distinct_count", field: "card_id")])
        for (minutes, card) in [(1, "a,b"), (2, "a"), (15, "b"), (25, "a,b"), (35, "ü"), (45, "😀"), (46, "ü")] {
            run.step(makeEvent(at(0, Int64(minutes)), card: card))
        }
        assertSame(run.features(of: makeEvent(at(0, 50)))["cards"], 5)
        assertSame(run.features(of: makeEvent(at(1, 20)))["cards"], 2)  // buckets 3...8
    }

    /// Around the 16 values the engine deduplicates by comparison before it switches to a set.
    func testDistinctCountAcrossTheSmallSetLimit() throws {
        for distinct in [15, 16, 17, 40] {
            var run = try EntityRun([windowed("devices", "distinct_count", field: "device_id", length: "1h", bucket: "1m")])
            // Every value twice, in different buckets, the repeats in reverse order.
            let values = (0..<distinct).map { "device-\($0)" }
            for (i, value) in (values + values.reversed()).enumerated() {
                run.step(makeEvent(at(0, Int64(i % 59)), device: value))
            }
            assertSame(run.features(of: makeEvent(at(0, 59)))["devices"], Double(distinct), "\(distinct) values")
        }
    }

    /// `has` answers without building the field's text; it must agree with `key` on every field.
    func testHasAgreesWithKeyOnEveryField() {
        let full = Event(
            eventID: "e1", type: .order, userID: "u1", eventTime: base, amount: 12.5, currency: "EUR", orderID: "o1",
            cardID: "c1", deviceID: "d1", ip: "10.0.0.1", merchantID: "m1", itemCount: 3, shippingCountry: "DE",
            billingCountry: "FR", returnReason: "damaged")
        let sparse = makeEvent(base, .payment)
        for field in EventField.allCases {
            XCTAssertEqual(full.has(field), full.key(field) != nil, "\(field)")
            XCTAssertEqual(sparse.has(field), sparse.key(field) != nil, "\(field)")
        }
        XCTAssertTrue(full.has(.itemCount))
        XCTAssertFalse(sparse.has(.itemCount))
        XCTAssertFalse(sparse.has(.cardID))
    }

    func testRatios() throws {
        var run = try EntityRun([
            windowed("orders", "count", types: ["order"]), windowed("returns", "count", types: ["return"]),
            windowed("avg", "mean", field: "amount", types: ["order"]),
            FeatureSpec(name: "rate", ratio: .init(numerator: "returns", denominator: "orders")),
            FeatureSpec(name: "per_avg", ratio: .init(numerator: "orders", denominator: "avg")),
        ])
        assertFeatures(run.step(makeEvent(at(0, 1), .return)).features, ["rate": .nan, "per_avg": .nan])
        assertFeatures(run.step(makeEvent(at(0, 2), .order, amount: 10)).features, ["rate": .nan, "per_avg": .nan])
        run.step(makeEvent(at(0, 3), .order, amount: 30))
        assertFeatures(run.features(of: makeEvent(at(0, 4))), ["rate": 0.5, "per_avg": 0.1])
    }

    func testEventFieldsAndDerivedFeatures() throws {
        let run = try EntityRun([
            FeatureSpec(name: "amount", eventField: "amount"), FeatureSpec(name: "items", eventField: "item_count"),
            FeatureSpec(name: "mismatch", derived: "address_mismatch"), FeatureSpec(name: "hour", derived: "hour_of_day"),
            FeatureSpec(name: "dow", derived: "day_of_week"),
        ])
        let monday = makeEvent(at(13, 45), amount: 12.5, items: 3, shipping: "DE", billing: "FR")
        assertFeatures(run.features(of: monday), ["amount": 12.5, "items": 3, "mismatch": 1, "hour": 13, "dow": 0])
        let sunday = makeEvent(at(6 * 24 + 23, 59), amount: 0, shipping: "DE", billing: "DE")
        assertFeatures(run.features(of: sunday), ["amount": 0, "items": .nan, "mismatch": 0, "hour": 23, "dow": 6])
        assertSame(run.features(of: makeEvent(base, shipping: "DE"))["mismatch"], .nan)
        assertSame(run.features(of: makeEvent(base, billing: "DE"))["mismatch"], .nan)
        assertSame(run.features(of: makeEvent(base))["mismatch"], .nan)
    }
}
