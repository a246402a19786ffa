@testable import SluiceEngine
import XCTest

/// A committed record's latency splits into before-the-poll and after-the-poll parts that add
/// up to the whole, also when the producer's clock and this host's disagree.
final class LatencyPartsTests: XCTestCase {
    func testPartsAddUpToTheWhole() {
        let parts = LatencyParts(timestampMs: 1_000, polledAtMicros: 1_030_500, nowMicros: 1_120_000)
        XCTAssertEqual(parts.total, 120_000)
        XCTAssertEqual(parts.toPoll, 30_500)
        XCTAssertEqual(parts.sincePoll, 89_500)
    }

    func testSkewedClocksClampAtZeroAndStillAddUp() {
        // The producer's clock ahead of this host's: the record seems to come from the future.
        let ahead = LatencyParts(timestampMs: 2_000, polledAtMicros: 1_990_000, nowMicros: 1_995_000)
        XCTAssertEqual([ahead.total, ahead.toPoll, ahead.sincePoll], [0, 0, 0])
        // Polled "before" it was produced, committed after: all of it is Sluice's own.
        let early = LatencyParts(timestampMs: 2_000, polledAtMicros: 1_999_000, nowMicros: 2_050_000)
        XCTAssertEqual([early.total, early.toPoll, early.sincePoll], [50_000, 0, 50_000])
        // A wall clock stepped back between the poll and the commit: the poll part is capped.
        let stepped = LatencyParts(timestampMs: 1_000, polledAtMicros: 1_080_000, nowMicros: 1_050_000)
        XCTAssertEqual([stepped.total, stepped.toPoll, stepped.sincePoll], [50_000, 50_000, 0])
    }
}
