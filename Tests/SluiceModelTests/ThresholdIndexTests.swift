@testable import SluiceModel
import XCTest

/// The block path's threshold counts (`counts(feature:…)`, many values of a feature level by
/// level) and the single-row path's (`counts(features:…)`, one value per feature, all features
/// level by level) equal one value's search (`count`) for every kind of value: thresholds
/// themselves, values between and beyond them, ±0 and ±∞, for both split kinds, and for features
/// with one, a few and many (several levels of) thresholds.
final class ThresholdIndexTests: XCTestCase {
    func testBlockCountsEqualSingleCounts() {
        checkCounts { index, feature, values, out in
            values.withUnsafeBufferPointer { xs in
                out.withUnsafeMutableBufferPointer { index.counts(feature: feature, xs.baseAddress!, n: values.count, into: $0.baseAddress!) }
            }
        }
    }

    /// One value of each feature per call, the features in a shuffled order (and one of them twice),
    /// so features of different depths share the level steps.
    func testRowCountsEqualSingleCounts() {
        var generator = SystemRandomNumberGenerator()
        checkCounts { index, feature, values, out in
            let others = (0..<4).filter { $0 != feature }
            for (i, x) in values.enumerated() {
                var features = [Int32(feature)] + others.map { Int32($0) } + [Int32(feature)]
                var xs = [x] + others.map { _ in Double.random(in: -60...260, using: &generator) } + [x]
                let order = Array(features.indices).shuffled(using: &generator)
                features = order.map { features[$0] }
                xs = order.map { xs[$0] }
                var counted = [Int32](repeating: -1, count: features.count)
                features.withUnsafeBufferPointer { f in
                    xs.withUnsafeBufferPointer { x in
                        counted.withUnsafeMutableBufferPointer { index.counts(features: f.baseAddress!, x.baseAddress!, n: f.count, into: $0.baseAddress!) }
                    }
                }
                for k in features.indices where Int(features[k]) != feature {
                    XCTAssertEqual(Int(counted[k]), index.count(feature: Int(features[k]), xs[k]), "feature \(features[k]) beside \(feature)")
                }
                out[i] = counted[order.firstIndex(of: 0)!]
                XCTAssertEqual(counted[order.firstIndex(of: 0)!], counted[order.firstIndex(of: features.count - 1)!])
            }
        }
    }

    /// Runs `fill` (which writes the counts of `values` of one feature into its last argument)
    /// for every feature and split kind and checks the counts against `count` and the definition.
    private func checkCounts(_ fill: (ThresholdIndex, Int, [Double], inout [Int32]) -> Void) {
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
                fill(index, feature, values, &out)
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
