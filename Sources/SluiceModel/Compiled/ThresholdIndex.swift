/// Counts how many of a feature's sorted thresholds a value passes, without data-dependent branches.
///
/// A binary search compiles to an unpredictable branch per level (LLVM turns every select or
/// sign-bit trick back into a jump), which cost more than the trees themselves. This is a static
/// B+-tree of 8-key nodes instead: level 0 is the sorted thresholds padded with +∞ to a multiple
/// of 8; level k+1 holds the last key of every 8-key block of level k but the final one (the
/// separators), padded the same way, until a level fits one block. Searching from the top,
/// `c = 8c + #(keys in block c that x passes)` at each level: block c always exists because a
/// level with b blocks has b − 1 separators above it, and x = +∞ (which would pass the padding
/// of a `<` split) is searched as the largest finite value. One 8-wide comparison and a lane
/// count per level (3 levels for 512).
struct ThresholdIndex: Sendable {
    /// All levels of all features, each level a whole number of 8-key blocks. Plain doubles
    /// loaded unaligned: Swift arrays do not guarantee SIMD8<Double>'s 64-byte alignment.
    private var keys: [Double] = []
    /// Where each level starts in `keys` (in blocks), top level first, all features back to back;
    /// feature f's levels are `levelStarts[firstLevel[f] ..< firstLevel[f + 1]]`.
    private var levelStarts: [Int32] = []
    private var firstLevel: [Int32] = [0]
    /// Levels per feature (0 for a feature without thresholds), and the most of any feature.
    private var depths: [Int32] = []
    private var maxDepth = 0
    let lessThan: Bool

    init(thresholds: [[Double]], lessThan: Bool) {
        self.lessThan = lessThan
        for sorted in thresholds {
            var levels: [[Double]] = []
            var level = sorted.map { $0 + 0 }  // −0 → +0: equal values, one representation
            while true {
                while level.count % 8 != 0 || level.isEmpty { level.append(.infinity) }
                levels.append(level)
                let blocks = level.count / 8
                if blocks == 1 { break }
                level = (0..<blocks - 1).map { level[$0 * 8 + 7] }
            }
            for level in levels.reversed() {
                levelStarts.append(Int32(keys.count / 8))
                keys += level
            }
            firstLevel.append(Int32(levelStarts.count))
            depths.append(sorted.isEmpty ? 0 : Int32(levels.count))
            maxDepth = max(maxDepth, Int(depths.last!))
        }
    }

    /// The number of thresholds of `feature` that `x` passes (`t ≤ x` for `<` splits, `t < x` for
    /// `<=`). `x` must not be NaN.
    @inline(__always)
    func count(feature: Int, _ x: Double) -> Int {
        var value = x
        var c: Int32 = 0
        counts(feature: feature, &value, n: 1, into: &c)
        return Int(c)
    }

    /// The threshold counts (`count(feature:_:)`) of `n` values at once (a block of rows): level by level, so the
    /// searches of different values are independent work within each level instead of one
    /// chain of dependent loads after another, and the top block is the same for all of them.
    /// `xs` must hold no NaN.
    @inline(__always)
    func counts(feature: Int, _ xs: UnsafePointer<Double>, n: Int, into out: UnsafeMutablePointer<Int32>) {
        for r in 0..<n { out[r] = 0 }
        guard depths[feature] > 0 else { return }
        let levels = Int(firstLevel[feature])..<Int(firstLevel[feature + 1])
        keys.withUnsafeBufferPointer { keys in
            levelStarts.withUnsafeBufferPointer { starts in
                let base = keys.baseAddress!
                // One loop per comparison, so the split kind is not tested per value.
                if lessThan {
                    for level in levels { Self.descend(base + Int(starts[level]) &* 8, xs, n, out, Self.passesLessThan) }
                } else {
                    for level in levels { Self.descend(base + Int(starts[level]) &* 8, xs, n, out, Self.passesLessOrEqual) }
                }
            }
        }
    }

    /// The threshold counts of one value per feature, `xs[k]` of feature `features[k]` (a single
    /// row's features): level by level across the features, each aligned on its last level, so
    /// the searches of different features are independent work in each step instead of one
    /// feature's dependent loads after another's (one feature's three levels wait on each other
    /// for most of their time). `xs` must hold no NaN.
    @inline(__always)
    func counts(features: UnsafePointer<Int32>, _ xs: UnsafePointer<Double>, n: Int, into out: UnsafeMutablePointer<Int32>) {
        for k in 0..<n { out[k] = 0 }
        keys.withUnsafeBufferPointer { keys in
            levelStarts.withUnsafeBufferPointer { starts in
                firstLevel.withUnsafeBufferPointer { firstLevel in
                    depths.withUnsafeBufferPointer { depths in
                        let base = keys.baseAddress!
                        // One loop per comparison, as in `counts(feature:…)`: a split-kind test
                        // inside made LLVM compare lane by lane with a branch each.
                        if lessThan {
                            Self.descend(features, xs, n, out, maxDepth, base, starts, firstLevel, depths, Self.passesLessThan)
                        } else {
                            Self.descend(features, xs, n, out, maxDepth, base, starts, firstLevel, depths, Self.passesLessOrEqual)
                        }
                    }
                }
            }
        }
    }

    /// Which keys of an 8-key block `x` passes in a `<` split (`t ≤ x`; lanes −1 where true).
    /// +∞ passes every threshold but must not pass the +∞ padding: the largest finite value
    /// passes exactly the thresholds.
    @inline(__always)
    private static func passesLessThan(_ block: SIMD8<Double>, _ x: Double) -> SIMDMask<SIMD8<Int64>> {
        block .<= SIMD8(repeating: Swift.min(x, .greatestFiniteMagnitude))
    }

    /// Which keys of an 8-key block `x` passes in a `<=` split (`t < x`).
    @inline(__always)
    private static func passesLessOrEqual(_ block: SIMD8<Double>, _ x: Double) -> SIMDMask<SIMD8<Int64>> {
        block .< SIMD8(repeating: x)
    }

    /// One level of one search: the count so far, `c`, picks the block of `level` to compare `x`
    /// with; returns the count after this level.
    @inline(__always)
    private static func step(_ level: UnsafePointer<Double>, _ c: Int32, _ x: Double,
                             _ passes: (SIMD8<Double>, Double) -> SIMDMask<SIMD8<Int64>>) -> Int32 {
        let c = Int(c)
        let block = UnsafeRawPointer(level + c &* 8).loadUnaligned(as: SIMD8<Double>.self)
        // Lanes are -1 where true; + 0 turns −0 into +0.
        return Int32(truncatingIfNeeded: c &* 8 &+ Int(0 &- passes(block, x + 0)._storage.wrappedSum()))
    }

    /// The levels of `counts(features:…)`, from the deepest feature's first down to every
    /// feature's last.
    @inline(__always)
    private static func descend(_ features: UnsafePointer<Int32>, _ xs: UnsafePointer<Double>, _ n: Int, _ out: UnsafeMutablePointer<Int32>,
                                _ maxDepth: Int, _ base: UnsafePointer<Double>, _ starts: UnsafeBufferPointer<Int32>,
                                _ firstLevel: UnsafeBufferPointer<Int32>, _ depths: UnsafeBufferPointer<Int32>,
                                _ passes: (SIMD8<Double>, Double) -> SIMDMask<SIMD8<Int64>>) {
        var remaining = maxDepth
        while remaining > 0 {
            for k in 0..<n {
                let f = Int(features[k])
                let depth = Int(depths[f])
                guard depth >= remaining else { continue }
                out[k] = step(base + Int(starts[Int(firstLevel[f]) &+ depth &- remaining]) &* 8, out[k], xs[k], passes)
            }
            remaining -= 1
        }
    }

    /// One level of `counts(feature:…)`: each value's count so far picks its block of the level at `level`.
    @inline(__always)
    private static func descend(_ level: UnsafePointer<Double>, _ xs: UnsafePointer<Double>, _ n: Int, _ out: UnsafeMutablePointer<Int32>,
                                _ passes: (SIMD8<Double>, Double) -> SIMDMask<SIMD8<Int64>>) {
        for r in 0..<n { out[r] = step(level, out[r], xs[r], passes) }
    }
}
