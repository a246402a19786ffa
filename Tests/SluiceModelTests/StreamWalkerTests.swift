@testable import SluiceModel
import SluiceGenerator
import XCTest

/// The stream walk (`StreamWalker`) on shapes the trained fixtures do not have: fewer trees than
/// lanes (lanes with no tree), tree counts that are not a multiple of the lanes, single-leaf
/// trees (laid out as a split on the 0 column, see `StreamWalker.init`), long one-sided chains
/// (one lane walks far longer than the others), and a tree too large for a region (the walker
/// then falls back to cache-line blocks). Every single-row margin must equal the reference
/// evaluator's bit for bit.
final class StreamWalkerTests: XCTestCase {
    func testEdgeShapesMatchReference() throws {
        for treeCount in [1, 3, 8, 13, 17] {
            let e = try Self.ensemble(trees: treeCount, seed: UInt64(treeCount))
            XCTAssertEqual(RowWalker(e, layout: ColumnLayout(e))?.format, .compactStreams, "\(treeCount) trees")
            try Self.assertSingleRowsMatchReference(e, label: "\(treeCount) trees")
        }
    }

    /// A tree of 300 nodes does not fit a 256-slot region: no stream walker, and the automatic
    /// choice is the block layout, still exact.
    func testOversizedTreeFallsBackToBlocks() throws {
        let e = try Self.ensemble(trees: 9, seed: 7, chainLength: 150)
        XCTAssertNil(RowWalker(e, layout: ColumnLayout(e), format: .compactStreams))
        XCTAssertEqual(RowWalker(e, layout: ColumnLayout(e))?.format, .compactBlocks)
        try Self.assertSingleRowsMatchReference(e, label: "oversized")
    }

    /// Chains of 120 to 130 splits (241 to 261 nodes) cross a region's 256 slots. A chain of 127
    /// splits fills all 256 (a leaf in the last slot, whose jump to the next region is 1): still
    /// streams; from 128 on, blocks. All exact.
    func testTreesFillingTheWholeRegion() throws {
        for chain in 120...130 {
            let e = try Self.ensemble(trees: 9, seed: UInt64(chain), chainLength: chain)
            XCTAssertEqual(RowWalker(e, layout: ColumnLayout(e))?.format, chain <= 127 ? .compactStreams : .compactBlocks, "chain \(chain)")
            try Self.assertSingleRowsMatchReference(e, label: "chain \(chain)")
        }
    }

    /// Too many trees for the regions' memory budget: no stream walker.
    func testRegionBudgetFallsBack() throws {
        let e = try Self.ensemble(trees: 17, seed: 5)
        let layout = ColumnLayout(e)
        let ordinals = RowWalker.leafOrdinals(e)
        XCTAssertNotNil(StreamWalker(e, layout: layout, ordinals: ordinals, maxRegionBytes: 25 * 1024))
        XCTAssertNil(StreamWalker(e, layout: layout, ordinals: ordinals, maxRegionBytes: 25 * 1024 - 1))
    }

    /// Trees of three kinds in turn: a single leaf, a random tree, and a chain of `chainLength`
    /// splits each with a leaf on one side (LightGBM's leaf-wise growth at its most lopsided).
    static func ensemble(trees: Int, seed: UInt64, chainLength: Int = 40) throws -> TreeEnsemble {
        var random = SplitMix64(seed: seed)
        let features = 6
        var builder = TreeEnsembleBuilder(featureCount: features, outputCount: 1, baseMargins: [0.25],
                                          inputPrecision: .float64, comparison: .lessThanOrEqual, accumulation: .float64)
        func threshold() -> Double { Double(Int(random.next() % 40)) / 4 - 5 }
        func value() -> Double { Double(Int64(bitPattern: random.next() % 2001) - 1000) / 997 }
        func split(_ left: Int, _ right: Int) -> TreeNodeSpec {
            .split(feature: Int(random.next() % UInt64(features)), threshold: threshold(), left: left, right: right,
                   defaultLeft: random.next() % 2 == 0, missing: .nanTakesDefault)
        }
        for t in 0..<trees {
            var nodes: [TreeNodeSpec] = []
            switch t % 3 {
            case 0:
                nodes = [.leaf(value())]
            case 1:
                // Random shape: grow by splitting a random leaf.
                nodes = [.leaf(value())]
                var leaves = [0]
                for _ in 0..<20 {
                    let k = Int(random.next() % UInt64(leaves.count))
                    let at = leaves.remove(at: k)
                    nodes.append(.leaf(value()))
                    nodes.append(.leaf(value()))
                    nodes[at] = split(nodes.count - 2, nodes.count - 1)
                    leaves += [nodes.count - 2, nodes.count - 1]
                }
            default:
                // Chain: node 2k splits into a leaf (2k + 1) and the next link (2k + 2).
                for k in 0..<chainLength {
                    let leafLeft = random.next() % 2 == 0
                    nodes.append(split(leafLeft ? 2 * k + 1 : 2 * k + 2, leafLeft ? 2 * k + 2 : 2 * k + 1))
                    nodes.append(.leaf(value()))
                }
                nodes.append(.leaf(value()))
            }
            try builder.addTree(nodes, name: "tree \(t)")
        }
        return try builder.build()
    }

    static func assertSingleRowsMatchReference(_ e: TreeEnsemble, label: String, file: StaticString = #filePath, line: UInt = #line) throws {
        var random = SplitMix64(seed: 99)
        let rows = 2000
        var features = [Double](repeating: 0, count: rows * e.featureCount)
        for i in features.indices {
            features[i] = random.next() % 10 == 0 ? .nan : Double(Int(random.next() % 48)) / 4 - 6
        }
        var reference = [Double](repeating: 0, count: rows)
        var single = [Double](repeating: .nan, count: rows)
        features.withUnsafeBufferPointer { f in
            reference.withUnsafeMutableBufferPointer { ReferenceEvaluator(ensemble: e).margins(features: f, rowCount: rows, into: $0) }
            let compiled = CompiledEnsemble(e)
            single.withUnsafeMutableBufferPointer { m in
                for row in 0..<rows {
                    compiled.margins(features: UnsafeBufferPointer(rebasing: f[row * e.featureCount..<(row + 1) * e.featureCount]),
                                     rowCount: 1, into: UnsafeMutableBufferPointer(rebasing: m[row..<row + 1]))
                }
            }
        }
        let differing = zip(reference, single).filter { $0.bitPattern != $1.bitPattern }.count
        XCTAssertEqual(differing, 0, "\(label): single-row margins differ from the reference", file: file, line: line)
    }
}
