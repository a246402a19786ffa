import Foundation
import XCTest
@testable import SluiceModel

/// Hand-written XGBoost JSON models: exact split semantics and the loader's errors.
final class XGBoostLoaderTests: XCTestCase {
    struct Tree {
        var left: [Int]
        var right: [Int]
        var feature: [Int]
        var condition: [String]
        var defaultLeft: [Int]
        var splitType: [Int]? = nil

        /// One split on `feature` at `threshold`; left leaf `leftValue`, right leaf `rightValue`.
        static func stump(feature: Int = 0, threshold: String, leftValue: String = "-1E0", rightValue: String = "2E0",
                          defaultLeft: Bool = true) -> Tree {
            Tree(left: [1, -1, -1], right: [2, -1, -1], feature: [feature, 0, 0],
                 condition: [threshold, leftValue, rightValue], defaultLeft: [defaultLeft ? 1 : 0, 0, 0])
        }

        func json(id: Int) -> String {
            let n = left.count
            func list(_ a: [Int]) -> String { "[" + a.map(String.init).joined(separator: ",") + "]" }
            return """
            {"base_weights":[\(Array(repeating: "0E0", count: n).joined(separator: ","))],"categories":[],"categories_nodes":[],\
            "categories_segments":[],"categories_sizes":[],"default_left":\(list(defaultLeft)),"id":\(id),\
            "left_children":\(list(left)),"loss_changes":[\(Array(repeating: "0E0", count: n).joined(separator: ","))],\
            "parents":[2147483647\(String(repeating: ",0", count: max(n - 1, 0)))],"right_children":\(list(right)),\
            "split_conditions":[\(condition.joined(separator: ","))],"split_indices":\(list(feature)),\
            "split_type":\(list(splitType ?? Array(repeating: 0, count: n))),"sum_hessian":[\(Array(repeating: "1E0", count: n).joined(separator: ","))],\
            "tree_param":{"num_deleted":"0","num_feature":"2","num_nodes":"\(n)","size_leaf_vector":"1"}}
            """
        }
    }

    static func model(
        objective: String = "binary:logistic",
        baseScore: String = "[5E-1]",
        numFeature: String = "2",
        numClass: String = "0",
        featureNames: String = #"["a","b"]"#,
        featureTypes: String = "[]",
        booster: String = "gbtree",
        trees: [Tree] = [.stump(threshold: "5E-1")]
    ) -> Data {
        let treeJSON = trees.enumerated().map { $1.json(id: $0) }.joined(separator: ",")
        let text = """
        {"learner":{"attributes":{},"feature_names":\(featureNames),"feature_types":\(featureTypes),\
        "gradient_booster":{"model":{"gbtree_model_param":{"num_parallel_tree":"1","num_trees":"\(trees.count)"},\
        "iteration_indptr":[0,\(trees.count)],"tree_info":[\(Array(repeating: "0", count: trees.count).joined(separator: ","))],\
        "trees":[\(treeJSON)]},"name":"\(booster)"},\
        "learner_model_param":{"base_score":"\(baseScore)","boost_from_average":"1","num_class":"\(numClass)",\
        "num_feature":"\(numFeature)","num_target":"1"},\
        "objective":{"name":"\(objective)","reg_loss_param":{"scale_pos_weight":"1"}}},"version":[3,2,0]}
        """
        return Data(text.utf8)
    }

    // MARK: - Semantics

    func testThresholdEqualityGoesRightAndNaNTakesDefault() throws {
        let model = try LoadedModel.load(data: Self.model())
        XCTAssertEqual(model.ensemble.baseMargin, 0)
        XCTAssertEqual(try model.predict(row: [0.5, 0]).margin, 2)           // x == threshold: right
        XCTAssertEqual(try model.predict(row: [0.4999999, 0]).margin, -1)    // below: left
        XCTAssertEqual(try model.predict(row: [.nan, 0]).margin, -1)         // missing: default left
        XCTAssertEqual(try model.predict(row: [0.5 - 1e-12, 0]).margin, 2)   // rounds to 0.5 in float32
        XCTAssertEqual(try model.predict(row: [-.infinity, 0]).margin, -1)
        XCTAssertEqual(try model.predict(row: [.infinity, 0]).margin, 2)
        XCTAssertEqual(try model.predict(row: [1e300, 0]).margin, 2)         // float32 overflow: +inf
        let p = try model.predict(row: [0.5, 0]).output
        XCTAssertEqual(p, 1 / (1 + exp(-2.0)), accuracy: 1e-15)

        let defaultRight = try LoadedModel.load(data: Self.model(trees: [.stump(threshold: "5E-1", defaultLeft: false)]))
        XCTAssertEqual(try defaultRight.predict(row: [.nan, 0]).margin, 2)
    }

    func testInputsAreComparedAsFloat32() throws {
        // float32(0.1) = 0.100000001490116...; the double 0.1 is below it, but XGBoost rounds the input
        // to float32 first, making them equal, so the row goes right.
        let model = try LoadedModel.load(data: Self.model(trees: [.stump(feature: 1, threshold: "1E-1")]))
        XCTAssertEqual(model.ensemble.threshold[0], Double(Float(0.1)))
        XCTAssertEqual(try model.predict(row: [0, 0.1]).margin, 2)
        XCTAssertEqual(try model.predict(row: [0, Double(Float(0.1).nextDown)]).margin, -1)
    }

    func testTreesAccumulateInFloat32FromTheBaseMargin() throws {
        // base 1.5 + 1e-8 (lost in float32) + ... : float32 running sum, rounded after each tree.
        let trees = Array(repeating: Tree.stump(threshold: "5E-1", leftValue: "1E-8", rightValue: "1E-8"), count: 3)
        let model = try LoadedModel.load(data: Self.model(objective: "reg:squarederror", baseScore: "1.5E0", trees: trees))
        XCTAssertEqual(try model.predict(row: [0, 0]).margin, 1.5)
    }

    func testRegressionObjectives() throws {
        let squared = try LoadedModel.load(data: Self.model(objective: "reg:squarederror", baseScore: "[1.5E0]"))
        XCTAssertEqual(squared.objective, .regression)
        let r = try squared.predict(row: [1, 0])
        XCTAssertEqual(r.margin, 3.5)
        XCTAssertEqual(r.output, 3.5)

        let linear = try LoadedModel.load(data: Self.model(objective: "reg:linear", baseScore: "1.5E0"))
        XCTAssertEqual(linear.objective, .regression)

        let logistic = try LoadedModel.load(data: Self.model(objective: "reg:logistic", baseScore: "2E-1"))
        XCTAssertEqual(logistic.objective, .regressionLogistic)
        let l = try logistic.predict(row: [0, 0])
        XCTAssertEqual(l.margin, Double(Float(log(Double(Float(0.2)) / (1 - Double(Float(0.2)))) - 1)), accuracy: 1e-7)
        XCTAssertEqual(l.output, 1 / (1 + exp(-l.margin)), accuracy: 1e-15)
    }

    func testBaseScoreFormats() throws {
        for text in ["2.5E-1", "[2.5E-1]", "0.25", "[0.25]"] {
            let model = try LoadedModel.load(data: Self.model(baseScore: text))
            XCTAssertEqual(model.ensemble.baseMargin, Double(Float(log(0.25 / 0.75))), accuracy: 1e-7, text)
        }
        XCTAssertEqual(try XGBoostJSONLoader.parseBaseScore(.string("[5E-1]")), 0.5)
        XCTAssertEqual(try XGBoostJSONLoader.parseBaseScore(.string("5E-1")), 0.5)
        XCTAssertEqual(try XGBoostJSONLoader.parseBaseScore(nil), 0.5)
        assertError(.unsupported, Self.model(baseScore: "[2E-1,3E-1]"), containing: "multi-output")
        assertError(.malformed, Self.model(baseScore: "1.5E0"), containing: "(0, 1)")
        assertError(.malformed, Self.model(baseScore: "abc"), containing: "base_score")
    }

    func testFeatureNames() throws {
        XCTAssertEqual(try LoadedModel.load(data: Self.model()).featureNames, ["a", "b"])
        XCTAssertNil(try LoadedModel.load(data: Self.model(featureNames: "[]")).featureNames)
        let escaped = try LoadedModel.load(data: Self.model(featureNames: #"["x\"1","\u00e9\ud83d\ude00"]"#))
        XCTAssertEqual(escaped.featureNames, ["x\"1", "é😀"])
        assertError(.malformed, Self.model(featureNames: #"["a"]"#), containing: "feature names")
        // No feature_names key at all.
        let text = String(decoding: Self.model(), as: UTF8.self).replacingOccurrences(of: #""feature_names":["a","b"],"#, with: "")
        let model = try LoadedModel.load(data: Data(text.utf8))
        XCTAssertNil(model.featureNames)
        XCTAssertEqual(model.featureCount, 2)
    }

    // MARK: - Errors

    func testTruncatedJSONIsMalformed() throws {
        let full = Self.model()
        for length in [1, 10, full.count / 2, full.count - 1] {
            assertError(.malformed, full.prefix(length), containing: "JSON")
        }
        let fixture = try Fixtures.data("xgb_binary.json")
        assertError(.malformed, fixture.prefix(fixture.count / 3), containing: "truncated")
        assertError(.malformed, Data("{\"learner\": {} } x".utf8))
        assertError(.malformed, Data())
        assertError(.malformed, Data("  \n".utf8))
    }

    func testUnsupportedObjectives() {
        assertError(.unsupported, Self.model(objective: "count:poisson"), containing: "count:poisson")
        assertError(.unsupported, Self.model(objective: "binary:logitraw"), containing: "binary:logitraw")
        // Multiclass models load (XGBoostMulticlassTests); an impossible class count does not.
        assertError(.malformed, Self.model(objective: "multi:softprob", numClass: "1"), containing: "num_class")
    }

    func testUnsupportedModelKinds() {
        assertError(.unsupported, Self.model(booster: "gblinear"), containing: "gblinear")
        assertError(.unsupported, Self.model(booster: "dart"), containing: "dart")
        // Categorical features load; a categorical split without its categories is malformed.
        XCTAssertNoThrow(try LoadedModel.load(data: Self.model(featureTypes: #"["float","c"]"#)))
        var categorical = Tree.stump(threshold: "5E-1")
        categorical.splitType = [1, 0, 0]
        assertError(.malformed, Self.model(trees: [categorical]), containing: "categorical")
        // UBJSON starts with '{' followed by a type marker.
        assertError(.unsupported, Data([0x7b, 0x4c, 0, 0, 0, 0, 0, 0, 0, 7] + Array("learner".utf8)), containing: "UBJSON")
        assertError(.malformed, Data("tree\nversion=v4\n".utf8), containing: "LightGBM")
        assertError(.unsupported, Data(#"{"producer":"onnx"}"#.utf8), containing: "learner")
    }

    func testStructurallyBrokenTreesAreMalformed() {
        var outOfRange = Tree.stump(threshold: "5E-1")
        outOfRange.right = [7, -1, -1]
        assertError(.malformed, Self.model(trees: [outOfRange]), containing: "child")

        var cycle = Tree.stump(threshold: "5E-1")
        cycle.left = [1, 0, -1]
        cycle.right = [2, 2, -1]
        assertError(.malformed, Self.model(trees: [cycle]))

        var badFeature = Tree.stump(threshold: "5E-1")
        badFeature.feature = [5, 0, 0]
        assertError(.malformed, Self.model(trees: [badFeature]), containing: "feature 5")

        var short = Tree.stump(threshold: "5E-1")
        short.defaultLeft = [1, 0]
        assertError(.malformed, Self.model(trees: [short]), containing: "different lengths")

        var halfLeaf = Tree.stump(threshold: "5E-1")
        halfLeaf.right = [2, 2, -1]
        assertError(.malformed, Self.model(trees: [halfLeaf]))

        assertError(.malformed, Self.model(numFeature: "0"))
        assertError(.malformed, Self.model(numFeature: "two"), containing: "num_feature")
    }

    func testWrongFeatureCount() throws {
        let model = try LoadedModel.load(data: Self.model())
        for row in [[], [1.0], [1.0, 2.0, 3.0]] {
            XCTAssertThrowsError(try model.predict(row: row)) { error in
                XCTAssertEqual((error as? ModelError)?.code, .featureCountMismatch)
            }
        }
    }

    func testUnreadableFile() {
        let url = URL(fileURLWithPath: "/nonexistent/sluice/model.json")
        XCTAssertThrowsError(try LoadedModel.load(contentsOf: url)) { error in
            let modelError = error as? ModelError
            XCTAssertEqual(modelError?.code, .fileUnreadable)
            XCTAssertTrue(modelError?.message.contains("/nonexistent/sluice/model.json") ?? false)
        }
    }

    func testErrorDescription() {
        let error = ModelError(.unsupported, "nope")
        XCTAssertEqual(error.description, "unsupported: nope")
        XCTAssertEqual(String(describing: error), "unsupported: nope")
    }

    // MARK: - JSON reader

    func testJSONReader() throws {
        let value = try JSONValue.parse(Array(#" {"a":[1,-2.5e3,NaN,-Infinity,true,false,null],"b\n":"\t\u0041\/"} "#.utf8))
        guard case .array(let a)? = value["a"] else { return XCTFail("no array") }
        XCTAssertEqual(a.count, 7)
        if case .number(let s) = a[1] { XCTAssertEqual(Double(s), -2500) } else { XCTFail() }
        if case .number(let s) = a[2] { XCTAssertTrue(Float(s)!.isNaN) } else { XCTFail() }
        if case .number(let s) = a[3] { XCTAssertEqual(Float(s), -.infinity) } else { XCTFail() }
        if case .string(let s)? = value["b\n"] { XCTAssertEqual(s, "\tA/") } else { XCTFail() }

        for bad in ["[1,]", "{\"a\" 1}", "[01x]", "[1.]", "[-]", "\"abc", "[\"\\x\"]", "{\"a\":1,}", "[\"\\ud800\"]", "[1e]"] {
            XCTAssertThrowsError(try JSONValue.parse(Array(bad.utf8)), bad) { error in
                XCTAssertEqual((error as? ModelError)?.code, .malformed, bad)
            }
        }
        let deep = String(repeating: "[", count: 10_000) + String(repeating: "]", count: 10_000)
        XCTAssertThrowsError(try JSONValue.parse(Array(deep.utf8)))
    }
}
