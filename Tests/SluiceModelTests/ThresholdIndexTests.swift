@testable import SluiceModel
import XCTest

/// The block path's threshold counts (`counts`, many values of a feature level by level) equal
/// the single-row path's (`count`, one value at a time) for every kind of value: thresholds
/// themselves, values between and beyond them, ±0 and ±∞, for both split kinds, and for features
/// with one, a few and many (several levels of) thresholds.
final class ThresholdIndexTests: XCTestCase {
    func testBlockCountsEqualSingleCounts() {
        var generator = SystemRandomNumberGenerator()
        let thresholds: [[Double]] = [
            [],
            [0.5],
            [-3, -1, 0, 2.5, 7],
            (0..<700).map { Double($0) * 0.37 - 40 },  // three levels of 8-key blocks
        ]
        var values: [Double] = [.infinity, -.infinity, 0, -0.0, .greatestFiniteMagnitude, -.greatestFiniteMagnitude]
        for sorted in thresholds {
            values += sorted
            values += sorted.map { $0.nextUp } + sorted.map { $0.nextDown }
        }
        values += (0..<200).map { _ in Double.random(in: -60...260, using: &generator) }
        for lessThan in [true, false] {
            let index = ThresholdIndex(thresholds: thresholds, lessThan: lessThan)
            for feature in thresholds.indices {
                var out = [Int32](repeating: -1, count: values.count)
                values.withUnsafeBufferPointer { xs in
                    out.withUnsafeMutableBufferPointer { index.counts(feature: feature, xs.baseAddress!, n: values.count, into: $0.baseAddress!) }
                }
                for (x, counted) in zip(values, out) {
                    let expected = index.count(feature: feature, x)
                    XCTAssertEqual(Int(counted), expected, "feature \(feature), lessThan \(lessThan), x \(x)")
                    // And both agree with the definition.
                    let passed = thresholds[feature].filter { lessThan ? $0 <= x : $0 < x }.count
                    XCTAssertEqual(expected, passed, "feature \(feature), lessThan \(lessThan), x \(x)")
                }
            }
        }
    }
}
