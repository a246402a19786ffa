import Foundation
import XCTest
@testable import SluiceModel

/// Hand-written LightGBM text models: exact split semantics and the loader's errors. Every expected
/// value in the semantics tests was checked against lightgbm 4.7 (`Booster(model_str=...)
/// .predict(x, raw_score=True)`) on x86-64.
final class LightGBMLoaderTests: XCTestCase {
    static let kZT = LightGBMTextLoader.kZeroThreshold

    static func model(objective: String = "regression", trees: [String], features: Int = 3, classes: Int = 1,
                      extraHeader: String = "", footer: String = "end of trees\n\nparameters:\n[boosting: gbdt]\nend of parameters\n\npandas_categorical:null\n") -> Data {
        var text = "tree\nversion=v4\nnum_class=\(classes)\nnum_tree_per_iteration=\(classes)\nlabel_index=0\n"
            + "max_feature_idx=\(features - 1)\nobjective=\(objective)\n\(extraHeader)"
            + "feature_names=\((0..<features).map { "f\($0)" }.joined(separator: " "))\n"
            + "feature_infos=\(Array(repeating: "none", count: features).joined(separator: " "))\n\n"
        for (i, tree) in trees.enumerated() {
            text += "Tree=\(i)\n\(tree)\nis_linear=0\nshrinkage=1\n\n\n"
        }
        text += footer
        return Data(text.utf8)
    }

    static func stump(feature: Int = 0, threshold: String, decision: Int, left: String = "1", right: String = "2") -> String {
        """
        num_leaves=2
        num_cat=0
        split_feature=\(feature)
        split_gain=1
        threshold=\(threshold)
        decision_type=\(decision)
        left_child=-1
        right_child=-2
        leaf_value=\(left) \(right)
        leaf_weight=1 1
        leaf_count=1 1
        internal_value=0
        internal_weight=1
        internal_count=2
        """
    }

    static func categoricalStump(feature: Int = 0, words: [UInt32], decision: Int, left: String, right: String) -> String {
        """
        num_leaves=2
        num_cat=1
        split_feature=\(feature)
        split_gain=1
        threshold=0
        decision_type=\(decision)
        left_child=-1
        right_child=-2
        leaf_value=\(left) \(right)
        leaf_weight=1 1
        leaf_count=1 1
        internal_value=0
        internal_weight=1
        internal_count=2
        cat_boundaries=0 \(words.count)
        cat_threshold=\(words.map(String.init).joined(separator: " "))
        """
    }

    static func leaf(_ value: String) -> String {
        """
        num_leaves=1
        num_cat=0
        split_feature=
        split_gain=
        threshold=
        decision_type=
        left_child=
        right_child=
        leaf_value=\(value)
        leaf_weight=
        leaf_count=1
        internal_value=
        internal_weight=
        internal_count=
        """
    }

    private func margins(_ model: LoadedModel, _ rows: [[Double]], file: StaticString = #filePath, line: UInt = #line) throws -> [Double] {
        try rows.map { try model.predict(row: $0).margin }
    }

    // MARK: - Semantics

    /// Three stumps at 0.5 on features 0, 1, 2 with missing types None, Zero and NaN (leaves 1|2,
    /// 10|20, 100|200, so each margin spells out the three paths).
    func testMissingTypes() throws {
        let rows: [[Double]] = [
            [0, 0, 0], [.nan, .nan, .nan], [-1, -1, -1], [1, 1, 1], [0.5, 0.5, 0.5], [1e-36, -1e-36, 1e-36],
            [-0.0, -0.0, -0.0], Array(repeating: (0.5).nextUp, count: 3),
        ]
        // default_left unset (decision types 0, 4, 8).
        let right = try LoadedModel.load(data: Self.model(trees: [
            Self.stump(feature: 0, threshold: "0.5", decision: 0), Self.stump(feature: 1, threshold: "0.5", decision: 4, left: "10", right: "20"),
            Self.stump(feature: 2, threshold: "0.5", decision: 8, left: "100", right: "200"),
        ]))
        XCTAssertEqual(right.format, "lightgbm-text")
        XCTAssertEqual(right.objective, .regression)
        XCTAssertEqual(right.ensemble.missing.prefix(1), [.nanAsZero])
        XCTAssertEqual(try margins(right, rows), [121, 221, 111, 222, 111, 121, 121, 222])
        // default_left set (decision types 2, 6, 10).
        let left = try LoadedModel.load(data: Self.model(trees: [
            Self.stump(feature: 0, threshold: "0.5", decision: 2), Self.stump(feature: 1, threshold: "0.5", decision: 6, left: "10", right: "20"),
            Self.stump(feature: 2, threshold: "0.5", decision: 10, left: "100", right: "200"),
        ]))
        XCTAssertEqual(try margins(left, rows), [111, 111, 111, 222, 111, 111, 111, 222])
    }

    /// Categorical split on feature 0 with categories {1, 3, 40} (two bitset words, decision type 9 =
    /// categorical + missing NaN) and on feature 1 with {0, 3} (decision type 1 = missing None).
    func testCategoricalSplits() throws {
        let model = try LoadedModel.load(data: Self.model(trees: [
            Self.categoricalStump(feature: 0, words: [(1 << 1) | (1 << 3), 1 << 8], decision: 9, left: "1", right: "2"),
            Self.categoricalStump(feature: 1, words: [(1 << 0) | (1 << 3)], decision: 1, left: "10", right: "20"),
        ], features: 2))
        XCTAssertEqual(model.ensemble.categories, [1, 3, 40, 0, 3])
        let values: [Double] = [1, 3, 40, 3.9, 0, 2, 39, 41, 64, 1000, -1, -0.5, .nan, .infinity, -.infinity, 2_147_483_648,
                                2_147_483_647, 1e300, -0.0]
        // Feature 0: only 1, 3, 40 and 3.9 (truncated to 3) go left; NaN, negatives, unseen and huge go right.
        XCTAssertEqual(try margins(model, values.map { [$0, 5] }),
                       [21, 21, 21, 21, 22, 22, 22, 22, 22, 22, 22, 22, 22, 22, 22, 22, 22, 22, 22])
        // Feature 1: -0.5 and -0.0 truncate to category 0 (left); NaN goes right although the missing
        // type is None (LightGBM casts NaN to int, INT_MIN on x86-64, before looking at it).
        XCTAssertEqual(try margins(model, values.map { [5, $0] }),
                       [22, 12, 22, 12, 12, 22, 22, 22, 22, 22, 22, 12, 22, 22, 22, 22, 22, 22, 12])
    }

    /// LightGBM reads |x| ≤ 1e-35f as 0.0: at threshold -1e-35f, x = -1e-35f goes right; at threshold
    /// 0, x = 1e-35f goes left.
    func testTinyInputsAreZero() throws {
        let kZT = Self.kZT
        XCTAssertEqual(kZT, 1.0000000180025095e-35)
        let model = try LoadedModel.load(data: Self.model(trees: [
            Self.stump(feature: 0, threshold: "-1.0000000180025095e-35", decision: 8),
            Self.stump(feature: 1, threshold: "0", decision: 8, left: "10", right: "20"),
        ], features: 2))
        XCTAssertEqual(model.ensemble.threshold[0], (-kZT).nextDown)
        XCTAssertEqual(model.ensemble.threshold[3], kZT)
        let values = [-kZT, (-kZT).nextDown, (-kZT).nextUp, -1e-36, 0, 1e-36, kZT, kZT.nextUp, 1e-35, -1e-35]
        XCTAssertEqual(try margins(model, values.map { [$0, 5] }), [22, 21, 22, 22, 22, 22, 22, 22, 22, 22])
        XCTAssertEqual(try margins(model, values.map { [-5, $0] }), [11, 11, 11, 11, 11, 11, 11, 21, 11, 11])
        XCTAssertEqual(LightGBMTextLoader.zeroAdjustedThreshold(0.5), 0.5)
        XCTAssertEqual(LightGBMTextLoader.zeroAdjustedThreshold(kZT), kZT)
        XCTAssertEqual(LightGBMTextLoader.zeroAdjustedThreshold(-kZT.nextUp), -kZT.nextUp)
    }

    func testThresholdsAreDoublesComparedWithLessOrEqual() throws {
        // 0.1 is not a float32 value: LightGBM sends float32(0.1) = 0.100000001 right, a float32
        // evaluator (threshold and input rounded to 0.1f) would send it left.
        let model = try LoadedModel.load(data: Self.model(trees: [Self.stump(threshold: "0.10000000000000001", decision: 8)]))
        XCTAssertEqual(model.ensemble.threshold[0], 0.1)
        XCTAssertEqual(try margins(model, [[0.1, 0, 0], [(0.1).nextUp, 0, 0], [Double(Float(0.1)), 0, 0]]), [1, 2, 2])
    }

    func testBinaryAndRandomForest() throws {
        let trees = [Self.stump(threshold: "0.5", decision: 8, left: "-1", right: "3"),
                     Self.stump(threshold: "1.5", decision: 8, left: "0.5", right: "2")]
        let boosted = try LoadedModel.load(data: Self.model(objective: "binary sigmoid:1", trees: trees))
        XCTAssertEqual(boosted.objective, .binaryLogistic)
        XCTAssertEqual(try margins(boosted, [[0, 0, 0], [1, 0, 0], [2, 0, 0]]), [-0.5, 3.5, 5])
        let forest = try LoadedModel.load(data: Self.model(objective: "binary sigmoid:1", trees: trees, extraHeader: "average_output\n"))
        XCTAssertEqual(forest.ensemble.aggregation, .average)
        let r = try [[0.0, 0, 0], [1, 0, 0], [2, 0, 0]].map { try forest.predict(row: $0) }
        XCTAssertEqual(r.map(\.margin), [-0.25, 1.75, 2.5])
        // lightgbm predict(): sigmoid of the average.
        XCTAssertEqual(r[0].output, 0.43782349911420193, accuracy: 1e-15)
        XCTAssertEqual(r[1].output, 0.8519528019683106, accuracy: 1e-15)
        XCTAssertEqual(r[2].output, 0.9241418199787566, accuracy: 1e-15)
    }

    func testMulticlassInterleavedTreesAndSingleLeafTrees() throws {
        let model = try LoadedModel.load(data: Self.model(objective: "multiclass num_class:3", trees: [
            Self.leaf("1"), Self.leaf("2"), Self.stump(threshold: "0.5", decision: 8, left: "3", right: "4"),
            Self.leaf("0.25"), Self.leaf("0.5"), Self.leaf("-1"),
        ], classes: 3))
        XCTAssertEqual(model.objective, .multiclassSoftmax(classes: 3))
        XCTAssertEqual(try model.predict(row: [0, 0, 0]).margins, [1.25, 2.5, 2])
        let r = try model.predict(row: [1, 0, 0])
        XCTAssertEqual(r.margins, [1.25, 2.5, 3])
        XCTAssertEqual(r.outputs.reduce(0, +), 1, accuracy: 1e-15)
        XCTAssertGreaterThan(r.outputs[2], r.outputs[1])
    }

    func testRegressionObjectivesAndFormatDetails() throws {
        for objective in ["regression", "regression_l1", "huber", "fair", "quantile", "mape"] {
            let model = try LoadedModel.load(data: Self.model(objective: objective, trees: [Self.leaf("1.5")]))
            XCTAssertEqual(model.objective, .regression, objective)
            XCTAssertEqual(try model.predict(row: [0, 0, 0]).output, 1.5, objective)
        }
        // CRLF line ends, a byte-order mark and leading blank lines.
        let text = String(decoding: Self.model(trees: [Self.stump(threshold: "0.5", decision: 8)]), as: UTF8.self)
        let crlf = Data(([0xef, 0xbb, 0xbf] + Array("\n".utf8)) + Array(text.replacingOccurrences(of: "\n", with: "\r\n").utf8))
        let model = try LoadedModel.load(data: crlf)
        XCTAssertEqual(model.format, "lightgbm-text")
        XCTAssertEqual(model.featureNames, ["f0", "f1", "f2"])
        XCTAssertEqual(try model.predict(row: [0.5, 0, 0]).margin, 1)
        // Without feature_names.
        let unnamed = text.replacingOccurrences(of: "feature_names=f0 f1 f2\n", with: "")
        XCTAssertNil(try LoadedModel.load(data: Data(unnamed.utf8)).featureNames)
        // The contents hash covers the file bytes.
        XCTAssertEqual(try LoadedModel.load(data: Data(text.utf8)).contentHash, SHA256.hex(Array(text.utf8)))
    }

    // MARK: - Errors

    func testTruncatedFilesAreMalformed() throws {
        let fixture = try Fixtures.data("lgb_binary.txt")
        let text = String(decoding: fixture, as: UTF8.self)
        let end = try XCTUnwrap(text.range(of: "end of trees")).lowerBound.utf16Offset(in: text)
        for length in [5, 40, 200, fixture.count / 3, fixture.count / 2, end - 1, end + 5] {
            assertError(.malformed, fixture.prefix(length))
        }
        assertError(.malformed, fixture.prefix(end - 1), containing: "end of trees")
        // Cut inside a tree: the section ends early or misses keys.
        assertError(.malformed, Self.model(trees: [Self.stump(threshold: "0.5", decision: 8)], footer: ""), containing: "truncated")
        // Everything after "end of trees" (importances, parameters) is optional.
        XCTAssertNoThrow(try LoadedModel.load(data: fixture.prefix(end + "end of trees\n".utf8.count)))
        assertError(.malformed, Data("tree\n".utf8))
        assertError(.malformed, Data("tree\nversion=v4\n".utf8))
    }

    func testUnsupportedObjectives() {
        let stump = [Self.stump(threshold: "0.5", decision: 8)]
        assertError(.unsupported, Self.model(objective: "binary sigmoid:2", trees: stump), containing: "sigmoid")
        assertError(.unsupported, Self.model(objective: "regression sqrt", trees: stump), containing: "sqrt")
        for objective in ["poisson", "gamma", "tweedie", "cross_entropy", "lambdarank", "custom"] {
            assertError(.unsupported, Self.model(objective: objective, trees: stump), containing: objective)
        }
        assertError(.unsupported, Self.model(objective: "multiclassova num_class:3 sigmoid:1", trees: Array(repeating: Self.leaf("1"), count: 3),
                                             classes: 3), containing: "multiclassova")
        let noObjective = String(decoding: Self.model(trees: stump), as: UTF8.self).replacingOccurrences(of: "objective=regression\n", with: "")
        assertError(.unsupported, Data(noObjective.utf8), containing: "objective")
        // Multiclass random forests average over rounds, not trees.
        assertError(.unsupported, Self.model(objective: "multiclass num_class:3", trees: Array(repeating: Self.leaf("1"), count: 3),
                                             classes: 3, extraHeader: "average_output\n"), containing: "random-forest")
        // Linear trees.
        let linearText = String(decoding: Self.model(trees: stump), as: UTF8.self)
            .replacingOccurrences(of: "is_linear=0", with: "is_linear=1\nleaf_const=1 2\nnum_features=0 0\nleaf_features= \nleaf_coeff= ")
        assertError(.unsupported, Data(linearText.utf8), containing: "linear")
    }

    func testMalformedModels() {
        let good = Self.stump(threshold: "0.5", decision: 8)
        func tree(_ replace: String, with replacement: String) -> Data {
            Self.model(trees: [good.replacingOccurrences(of: replace, with: replacement)])
        }
        assertError(.malformed, tree("left_child=-1", with: "left_child=5"), containing: "child")
        assertError(.malformed, tree("right_child=-2", with: "right_child=-3"), containing: "leaf")
        assertError(.malformed, tree("leaf_value=1 2", with: "leaf_value=1"), containing: "leaf_value")
        assertError(.malformed, tree("threshold=0.5", with: "threshold=abc"), containing: "threshold")
        assertError(.malformed, tree("threshold=0.5", with: "threshold=nan"), containing: "NaN")
        assertError(.malformed, tree("decision_type=8", with: "decision_type=12"), containing: "missing type")
        assertError(.malformed, tree("split_feature=0", with: "split_feature=3"), containing: "feature 3")
        assertError(.malformed, tree("num_leaves=2", with: "num_leaves=0"), containing: "num_leaves")
        assertError(.malformed, tree("leaf_value=1 2", with: "leaf_value=1 inf"), containing: "finite")
        assertError(.malformed, tree("num_cat=0", with: "num_cat=1"), containing: "cat_boundaries")
        // A cycle: node 0's left child is itself.
        let cyclic = "num_leaves=3\nsplit_feature=0 0\nthreshold=1 2\ndecision_type=8 8\nleft_child=0 -1\nright_child=1 -2\nleaf_value=1 2 3"
        assertError(.malformed, Self.model(trees: [cyclic]), containing: "child")
        // Categorical index outside cat_boundaries.
        let categorical = Self.categoricalStump(words: [2], decision: 9, left: "1", right: "2").replacingOccurrences(of: "threshold=0", with: "threshold=1")
        assertError(.malformed, Self.model(trees: [categorical]), containing: "categorical threshold")
        // Header problems.
        let text = String(decoding: Self.model(trees: [good]), as: UTF8.self)
        assertError(.malformed, Data(text.replacingOccurrences(of: "feature_names=f0 f1 f2", with: "feature_names=f0 f1").utf8), containing: "feature_names")
        assertError(.malformed, Data(text.replacingOccurrences(of: "max_feature_idx=2\n", with: "").utf8), containing: "max_feature_idx")
        assertError(.malformed, Data(text.replacingOccurrences(of: "Tree=0", with: "Tree=1").utf8), containing: "Tree=")
        assertError(.malformed, Data((text.replacingOccurrences(of: "feature_infos", with: "tree_sizes=10 20\nfeature_infos")).utf8), containing: "tree_sizes")
        assertError(.malformed, Self.model(objective: "multiclass num_class:3", trees: [Self.leaf("1"), Self.leaf("2")], classes: 3),
                    containing: "multiple")
        assertError(.malformed, Self.model(objective: "multiclass num_class:4", trees: Array(repeating: Self.leaf("1"), count: 3), classes: 3),
                    containing: "num_class")
        assertError(.malformed, Self.model(objective: "binary sigmoid:1", trees: Array(repeating: Self.leaf("1"), count: 3), classes: 3),
                    containing: "num_class")
    }
}
