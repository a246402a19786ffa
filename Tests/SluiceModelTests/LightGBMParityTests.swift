import Foundation
import XCTest
@testable import SluiceModel

/// Sluice against LightGBM's own `predict` on the fixtures of scripts/models/make_tree_fixtures.py.
/// The rows hold NaN, zeros of both signs, tiny values LightGBM reads as 0, unseen / negative /
/// non-integer / huge category codes, and the models' double thresholds with both double neighbours
/// (±1e-35f among them), so wrong comparisons, precisions, missing rules or category rules fail here.
final class LightGBMParityTests: XCTestCase {
    typealias Case = TreeParity.Case

    static let binary = Case(name: "lgb_binary", modelFile: "lgb_binary.txt", input: "lgb_binary",
                             objective: .binaryLogistic, trees: 60, minRows: 2000)
    static let zeroAsMissing = Case(name: "lgb_zero_as_missing", modelFile: "lgb_zero_as_missing.txt",
                                    input: "lgb_missing_modes", objective: .binaryLogistic, trees: 30, minRows: 2000)
    static let noMissing = Case(name: "lgb_no_missing", modelFile: "lgb_no_missing.txt", input: "lgb_missing_modes",
                                objective: .binaryLogistic, trees: 30, minRows: 2000)
    static let multiclass = Case(name: "lgb_multiclass", modelFile: "lgb_multiclass.txt", input: "lgb_multiclass",
                                 objective: .multiclassSoftmax(classes: 3), trees: 60, minRows: 400)
    static let regression = Case(name: "lgb_regression", modelFile: "lgb_regression.txt", input: "lgb_regression",
                                 objective: .regression, trees: 40, minRows: 500)
    static let randomForest = Case(name: "lgb_rf", modelFile: "lgb_rf.txt", input: "lgb_rf",
                                   objective: .binaryLogistic, trees: 12, minRows: 300)
    static let cases = [binary, zeroAsMissing, noMissing, multiclass, regression, randomForest]

    private func load(_ c: Case, file: StaticString = #filePath, line: UInt = #line) throws
        -> (LoadedModel, Fixtures.Table, Fixtures.Table)
    {
        try TreeParity.load(c, format: "lightgbm-text", featureCount: 8, file: file, line: line)
    }

    func testParityWithLightGBM() throws {
        for c in Self.cases {
            let (model, input, expected) = try load(c)
            let stats = TreeParity.compare(model, input: input, expected: expected, label: c.name)
            XCTAssertEqual(stats.mismatchedRows, 0, c.name)
            // Same double arithmetic in the same order as LightGBM: every margin is bit-exact.
            XCTAssertEqual(stats.exactMargins, stats.marginCount, "\(c.name): margins not bit-exact")
            print("\(c.name) parity: \(stats.summary)")
        }
    }

    func testModelShapes() throws {
        let (binary, _, _) = try load(Self.binary)
        let e = binary.ensemble
        XCTAssertEqual(e.inputPrecision, .float64)
        XCTAssertEqual(e.comparison, .lessThanOrEqual)
        XCTAssertEqual(e.accumulation, .float64)
        XCTAssertEqual(e.aggregation, .sum)
        XCTAssertEqual(e.baseMargins, [0])
        XCTAssertEqual(e.nodeCount, 60 * 61)  // 60 trees x (30 splits + 31 leaves)
        XCTAssertTrue(e.isCategorical.contains(true), "lgb_binary should have categorical splits")
        XCTAssertTrue(e.missing.contains(.nanTakesDefault))
        XCTAssertEqual(binary.featureNames?.last, "merchant_category")

        let (zero, _, _) = try load(Self.zeroAsMissing)
        XCTAssertTrue(zero.ensemble.missing.enumerated().contains { $0.element == .zeroOrNaNTakesDefault && zero.ensemble.splitFeature[$0.offset] >= 0 })
        let (none, _, _) = try load(Self.noMissing)
        let numericRules = Set(none.ensemble.missing.indices.filter { none.ensemble.splitFeature[$0] >= 0 && !none.ensemble.isCategorical[$0] }
            .map { none.ensemble.missing[$0] })
        XCTAssertEqual(numericRules, [.nanAsZero])

        let (multi, _, _) = try load(Self.multiclass)
        // Tree t adds to class t % 3.
        for t in 0..<multi.ensemble.treeCount {
            for node in multi.ensemble.nodes(ofTree: t) where multi.ensemble.splitFeature[node] < 0 {
                let k = Int(multi.ensemble.leafStart[node])
                XCTAssertEqual(Int(multi.ensemble.leafTarget[k]), t % 3, "tree \(t)")
            }
        }
        XCTAssertEqual(multi.ensemble.baseMargins, [0, 0, 0])
        let (forest, _, _) = try load(Self.randomForest)
        XCTAssertEqual(forest.ensemble.aggregation, .average)
    }

    // MARK: - The fixtures catch wrong semantics

    private func mismatches(_ c: Case, _ transform: (TreeEnsemble) -> TreeEnsemble) throws -> Int {
        let (model, input, expected) = try load(c)
        let wrong = TreeParity.with(model, transform(model.ensemble))
        return TreeParity.compare(wrong, input: input, expected: expected, label: c.name, assert: false).mismatchedRows
    }

    func testFloat32ThresholdsOrInputsBreakParity() throws {
        // LightGBM's thresholds are doubles: rounding them to float32 (as an XGBoost-style evaluator
        // would) moves planted rows to the other side.
        let float32Thresholds = try mismatches(Self.binary) { e in
            TreeParity.rebuilt(e, threshold: e.threshold.map { Double(Float($0)) })
        }
        XCTAssertGreaterThan(float32Thresholds, 50, "float32 thresholds")
        let float32Inputs = try mismatches(Self.binary) { $0.withSemantics(inputPrecision: .float32) }
        XCTAssertGreaterThan(float32Inputs, 50, "float32 inputs")
        for c in [Self.multiclass, Self.regression] {
            XCTAssertGreaterThan(try mismatches(c) { e in TreeParity.rebuilt(e, threshold: e.threshold.map { Double(Float($0)) }) }, 10, c.name)
        }
    }

    func testStrictComparisonBreaksParity() throws {
        for c in [Self.binary, Self.zeroAsMissing, Self.noMissing, Self.multiclass, Self.regression, Self.randomForest] {
            XCTAssertGreaterThan(try mismatches(c) { $0.withSemantics(comparison: .lessThan) }, 10, c.name)
        }
    }

    func testMissingValueRulesAreNeeded() throws {
        // Default directions flipped.
        for c in [Self.binary, Self.zeroAsMissing] {
            XCTAssertGreaterThan(try mismatches(c) { e in e.withSemantics(defaultLeft: e.defaultLeft.map { !$0 }) }, 20, c.name)
        }
        // Missing type Zero read as NaN-only: zeros are compared instead of taking the default.
        XCTAssertGreaterThan(try mismatches(Self.zeroAsMissing) { e in
            TreeParity.rebuilt(e, missing: e.missing.map { $0 == .zeroOrNaNTakesDefault ? .nanTakesDefault : $0 })
        }, 20, "zero_as_missing as NaN")
        // Missing type None read as NaN-takes-default (either direction): NaN must be compared as 0.
        for defaultsLeft in [false, true] {
            XCTAssertGreaterThan(try mismatches(Self.noMissing) { e in
                TreeParity.rebuilt(e, defaultLeft: e.defaultLeft.indices.map { e.missing[$0] == .nanAsZero ? defaultsLeft : e.defaultLeft[$0] },
                                   missing: e.missing.map { $0 == .nanAsZero ? .nanTakesDefault : $0 })
            }, 20, "use_missing=false with NaN default \(defaultsLeft)")
        }
    }

    func testCategoricalRulesAreNeeded() throws {
        // NaN in a categorical split goes right (LightGBM casts it to a negative int first).
        let e0 = try load(Self.binary).0.ensemble
        XCTAssertTrue(e0.isCategorical.indices.filter { e0.isCategorical[$0] }.allSatisfy { !e0.defaultLeft[$0] && e0.missing[$0] == .nanTakesDefault })
        XCTAssertGreaterThan(try mismatches(Self.binary) { e in
            TreeParity.rebuilt(e, defaultLeft: e.defaultLeft.indices.map { e.isCategorical[$0] ? true : e.defaultLeft[$0] })
        }, 10, "categorical NaN left")
        // The bitset's categories go left.
        XCTAssertGreaterThan(try mismatches(Self.binary) { e in
            TreeParity.rebuilt(e, leftChild: e.leftChild.indices.map { e.isCategorical[$0] ? e.rightChild[$0] : e.leftChild[$0] },
                               rightChild: e.rightChild.indices.map { e.isCategorical[$0] ? e.leftChild[$0] : e.rightChild[$0] })
        }, 100, "categorical children swapped")
    }

    /// LightGBM reads |x| ≤ 1e-35f as 0.0, so x = -1e-35f at threshold -1e-35f goes right. The loader
    /// moves such thresholds; scoring with the file's thresholds disagrees on the planted rows.
    func testZeroThresholdAdjustmentIsNeeded() throws {
        let kZT = LightGBMTextLoader.kZeroThreshold
        let e = try load(Self.binary).0.ensemble
        XCTAssertTrue(e.threshold.contains((-kZT).nextDown), "lgb_binary should have a split at -1e-35f")
        for c in [Self.binary, Self.regression] {
            XCTAssertGreaterThan(try mismatches(c) { e in
                TreeParity.rebuilt(e, threshold: e.threshold.map { $0 == (-kZT).nextDown ? -kZT : $0 })
            }, 3, c.name)
        }
    }

    func testClassAssignmentAndAveraging() throws {
        // Trees interleaved by class: assigning tree t to class t / rounds instead breaks parity.
        XCTAssertGreaterThan(try mismatches(Self.multiclass) { e in
            var targets = e.leafTarget
            for t in 0..<e.treeCount {
                for node in e.nodes(ofTree: t) where e.splitFeature[node] < 0 {
                    targets[Int(e.leafStart[node])] = Int32(t / (e.treeCount / 3))
                }
            }
            return TreeParity.rebuilt(e, leafTarget: targets)
        }, 100, "class assignment")
        // A random forest averages.
        XCTAssertGreaterThan(try mismatches(Self.randomForest) { TreeParity.rebuilt($0, aggregation: .sum) }, 100, "rf summed")
    }

    func testSingleRowNodeFormatsMatchReference() throws {
        var deep: [String] = []
        for c in Self.cases {
            let (model, input, _) = try load(c)
            XCTAssertEqual(TreeParity.checkRowWalkerFormats(model, input: input, label: c.name), .compactStreams, c.name)
            if RowWalker(model.ensemble, layout: ColumnLayout(model.ensemble))?.twoStepsPerTest == true { deep.append(c.name) }
        }
        // Deep trees walk two steps per end test: some fixture must take that path.
        XCTAssertFalse(deep.isEmpty, "no LightGBM fixture has trees deep enough for the two-steps-per-test walk")
    }

    func testSingleRowMatchesBatch() throws {
        for c in [Self.binary, Self.multiclass] {
            let (model, input, _) = try load(c)
            let (margins, outputs) = TreeParity.score(model, input.flattened, rows: input.rows.count)
            let k = model.outputCount
            for row in stride(from: 0, to: input.rows.count, by: 11) {
                let single = try model.predict(row: input.rows[row])
                XCTAssertEqual(single.margins, Array(margins[row * k..<(row + 1) * k]), "\(c.name) row \(row)")
                XCTAssertEqual(single.outputs, Array(outputs[row * k..<(row + 1) * k]), "\(c.name) row \(row)")
            }
        }
    }
}
