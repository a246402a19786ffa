import Foundation
import SwiftProtobuf
import XCTest
@testable import SluiceModel

/// Hand-built ONNX models (through the generated protobuf types): split semantics, objectives and
/// the loader's errors.
final class ONNXLoaderTests: XCTestCase {
    // MARK: - Building models

    static func attr(_ name: String, ints: [Int64]) -> Onnx_AttributeProto {
        var a = Onnx_AttributeProto()
        a.name = name
        a.type = .ints
        a.ints = ints
        return a
    }

    static func attr(_ name: String, floats: [Float]) -> Onnx_AttributeProto {
        var a = Onnx_AttributeProto()
        a.name = name
        a.type = .floats
        a.floats = floats
        return a
    }

    static func attr(_ name: String, strings: [String]) -> Onnx_AttributeProto {
        var a = Onnx_AttributeProto()
        a.name = name
        a.type = .strings
        a.strings = strings.map { Data($0.utf8) }
        return a
    }

    static func attr(_ name: String, string: String) -> Onnx_AttributeProto {
        var a = Onnx_AttributeProto()
        a.name = name
        a.type = .string
        a.s = Data(string.utf8)
        return a
    }

    static func attr(_ name: String, int: Int64) -> Onnx_AttributeProto {
        var a = Onnx_AttributeProto()
        a.name = name
        a.type = .int
        a.i = int
        return a
    }

    static func attr(_ name: String, doubles: [Double], raw: Bool = false) -> Onnx_AttributeProto {
        var t = Onnx_TensorProto()
        t.dataType = Int32(Onnx_TensorProto.DataType.double.rawValue)
        t.dims = [Int64(doubles.count)]
        if raw {
            var bytes: [UInt8] = []
            for d in doubles { withUnsafeBytes(of: d.bitPattern.littleEndian) { bytes += $0 } }
            t.rawData = Data(bytes)
        } else {
            t.doubleData = doubles
        }
        var a = Onnx_AttributeProto()
        a.name = name
        a.type = .tensor
        a.t = t
        return a
    }

    static func attr(_ name: String, floatTensor: [Float], raw: Bool) -> Onnx_AttributeProto {
        var t = Onnx_TensorProto()
        t.dataType = Int32(Onnx_TensorProto.DataType.float.rawValue)
        t.dims = [Int64(floatTensor.count)]
        if raw {
            var bytes: [UInt8] = []
            for f in floatTensor { withUnsafeBytes(of: f.bitPattern.littleEndian) { bytes += $0 } }
            t.rawData = Data(bytes)
        } else {
            t.floatData = floatTensor
        }
        var a = Onnx_AttributeProto()
        a.name = name
        a.type = .tensor
        a.t = t
        return a
    }

    /// One tree per entry of `modes`: a stump on feature 0 whose true child (node 1) adds `trueValue`
    /// and whose false child (node 2) adds `falseValue`.
    static func stumpNodes(modes: [String] = ["BRANCH_LEQ"], threshold: Float = 0.5, tracksTrue: Int64 = 0,
                           valuesAsDoubleTensor: [Double]? = nil) -> [Onnx_AttributeProto] {
        var treeIds: [Int64] = [], nodeIds: [Int64] = [], features: [Int64] = [], modeList: [String] = []
        var values: [Float] = [], trues: [Int64] = [], falses: [Int64] = [], tracks: [Int64] = []
        for (t, mode) in modes.enumerated() {
            treeIds += [Int64(t), Int64(t), Int64(t)]
            nodeIds += [0, 1, 2]
            features += [0, 0, 0]
            modeList += [mode, "LEAF", "LEAF"]
            values += [threshold, 0, 0]
            trues += [1, 0, 0]
            falses += [2, 0, 0]
            tracks += [tracksTrue, 0, 0]
        }
        var out = [
            attr("nodes_treeids", ints: treeIds), attr("nodes_nodeids", ints: nodeIds), attr("nodes_featureids", ints: features),
            attr("nodes_modes", strings: modeList), attr("nodes_truenodeids", ints: trues),
            attr("nodes_falsenodeids", ints: falses), attr("nodes_missing_value_tracks_true", ints: tracks),
        ]
        if let doubles = valuesAsDoubleTensor {
            var perTree: [Double] = []
            for _ in modes { perTree += doubles }
            out.append(attr("nodes_values_as_tensor", doubles: perTree))
        } else {
            out.append(attr("nodes_values", floats: values))
        }
        return out
    }

    /// Leaf weights for the stumps above: `weights[t] = (true leaf, false leaf)` per tree.
    static func leafWeights(prefix: String, trees: Int, trueValue: Float = -1, falseValue: Float = 2, id: Int64 = 0) -> [Onnx_AttributeProto] {
        var treeIds: [Int64] = [], nodeIds: [Int64] = [], ids: [Int64] = [], weights: [Float] = []
        for t in 0..<trees {
            treeIds += [Int64(t), Int64(t)]
            nodeIds += [1, 2]
            ids += [id, id]
            weights += [trueValue, falseValue]
        }
        return [attr(prefix + "_treeids", ints: treeIds), attr(prefix + "_nodeids", ints: nodeIds),
                attr(prefix + "_ids", ints: ids), attr(prefix + "_weights", floats: weights)]
    }

    static func node(_ opType: String, name: String, inputs: [String], outputs: [String], domain: String = "ai.onnx.ml",
                     attributes: [Onnx_AttributeProto] = []) -> Onnx_NodeProto {
        var n = Onnx_NodeProto()
        n.opType = opType
        n.name = name
        n.domain = domain
        n.input = inputs
        n.output = outputs
        n.attribute = attributes
        return n
    }

    static func regressor(_ attributes: [Onnx_AttributeProto], input: String = "X") -> Onnx_NodeProto {
        node("TreeEnsembleRegressor", name: "trees", inputs: [input], outputs: ["variable"], attributes: attributes)
    }

    static func model(_ nodes: [Onnx_NodeProto], inputType: Onnx_TensorProto.DataType = .float, width: Int64? = 2) -> Data {
        var input = Onnx_ValueInfoProto()
        input.name = "X"
        var tensor = Onnx_TypeProto.Tensor()
        tensor.elemType = Int32(inputType.rawValue)
        var shape = Onnx_TensorShapeProto()
        var rows = Onnx_TensorShapeProto.Dimension()
        rows.dimParam = "N"
        var columns = Onnx_TensorShapeProto.Dimension()
        if let width { columns.dimValue = width }
        shape.dim = [rows, columns]
        tensor.shape = shape
        input.type.tensorType = tensor
        var graph = Onnx_GraphProto()
        graph.name = "test"
        graph.node = nodes
        graph.input = [input]
        var model = Onnx_ModelProto()
        model.irVersion = 8
        var ml = Onnx_OperatorSetIdProto()
        ml.domain = "ai.onnx.ml"
        ml.version = 3
        var core = Onnx_OperatorSetIdProto()
        core.domain = ""
        core.version = 15
        model.opsetImport = [core, ml]
        model.producerName = "sluice-tests"
        model.graph = graph
        let bytes: [UInt8] = try! model.serializedBytes()
        return Data(bytes)
    }

    static func stumpRegressor(mode: String = "BRANCH_LEQ", threshold: Float = 0.5, tracksTrue: Int64 = 0,
                               extra: [Onnx_AttributeProto] = []) -> Data {
        model([regressor(stumpNodes(modes: [mode], threshold: threshold, tracksTrue: tracksTrue)
                         + leafWeights(prefix: "target", trees: 1) + [attr("n_targets", int: 1)] + extra)])
    }

    // MARK: - Split semantics

    func testBranchLEQTrueIsLeftAndNaNFollowsTracksTrue() throws {
        let model = try LoadedModel.load(data: Self.stumpRegressor())
        XCTAssertEqual(model.format, "onnx")
        XCTAssertEqual(model.objective, .regression)
        XCTAssertEqual(model.featureCount, 2)
        XCTAssertEqual(model.ensemble.comparison, .lessThanOrEqual)
        XCTAssertEqual(model.ensemble.inputPrecision, .float32)
        XCTAssertEqual(model.ensemble.accumulation, .float64)
        XCTAssertEqual(try model.predict(row: [0.5, 0]).margin, -1)                       // x == t: true child
        XCTAssertEqual(try model.predict(row: [Double(Float(0.5).nextUp), 0]).margin, 2)
        XCTAssertEqual(try model.predict(row: [0.5 + 1e-12, 0]).margin, -1)               // rounds to 0.5 in float32
        XCTAssertEqual(try model.predict(row: [.nan, 0]).margin, 2)                       // tracks_true 0: false child
        let tracking = try LoadedModel.load(data: Self.stumpRegressor(tracksTrue: 1))
        XCTAssertEqual(try tracking.predict(row: [.nan, 0]).margin, -1)
        XCTAssertEqual(try tracking.predict(row: [7, 0]).margin, 2)
    }

    func testBranchLTIsStrict() throws {
        let model = try LoadedModel.load(data: Self.stumpRegressor(mode: "BRANCH_LT"))
        XCTAssertEqual(model.ensemble.comparison, .lessThan)
        XCTAssertEqual(try model.predict(row: [0.5, 0]).margin, 2)
        XCTAssertEqual(try model.predict(row: [0.4999, 0]).margin, -1)
        XCTAssertEqual(try model.predict(row: [.nan, 0]).margin, 2)
    }

    /// BRANCH_GT / BRANCH_GTE: true child iff x > t / x >= t; Sluice swaps the children.
    func testGreaterThanModesSwapChildrenAndKeepTheNaNDirection() throws {
        let gt = try LoadedModel.load(data: Self.stumpRegressor(mode: "BRANCH_GT"))
        XCTAssertEqual(gt.ensemble.comparison, .lessThanOrEqual)
        XCTAssertEqual(try gt.predict(row: [0.5, 0]).margin, 2)     // 0.5 > 0.5 false: false child
        XCTAssertEqual(try gt.predict(row: [0.6, 0]).margin, -1)
        XCTAssertEqual(try gt.predict(row: [.nan, 0]).margin, 2)    // tracks_true 0: false child
        let gtTracking = try LoadedModel.load(data: Self.stumpRegressor(mode: "BRANCH_GT", tracksTrue: 1))
        XCTAssertEqual(try gtTracking.predict(row: [.nan, 0]).margin, -1)

        let gte = try LoadedModel.load(data: Self.stumpRegressor(mode: "BRANCH_GTE"))
        XCTAssertEqual(gte.ensemble.comparison, .lessThan)
        XCTAssertEqual(try gte.predict(row: [0.5, 0]).margin, -1)   // 0.5 >= 0.5: true child
        XCTAssertEqual(try gte.predict(row: [0.4, 0]).margin, 2)
        XCTAssertEqual(try gte.predict(row: [.nan, 0]).margin, 2)

        // LEQ and GT mix (both are <=); LEQ and LT do not.
        let mixed = Self.model([Self.regressor(Self.stumpNodes(modes: ["BRANCH_LEQ", "BRANCH_GT"]) + Self.leafWeights(prefix: "target", trees: 2))])
        let both = try LoadedModel.load(data: mixed)
        XCTAssertEqual(try both.predict(row: [0.5, 0]).margin, 1)   // -1 + 2
        assertError(.unsupported, Self.model([Self.regressor(Self.stumpNodes(modes: ["BRANCH_LEQ", "BRANCH_LT"])
                                                             + Self.leafWeights(prefix: "target", trees: 2))]),
                    containing: "mixes BRANCH_LEQ")
    }

    func testRejectsEqualityModes() {
        assertError(.unsupported, Self.stumpRegressor(mode: "BRANCH_EQ"), containing: "BRANCH_EQ")
        assertError(.malformed, Self.stumpRegressor(mode: "BRANCH_FOO"), containing: "BRANCH_FOO")
    }

    func testDoubleInputIsComparedInFloat64() throws {
        let data = Self.model([Self.regressor(Self.stumpNodes(valuesAsDoubleTensor: [0.1, 0, 0]) + Self.leafWeights(prefix: "target", trees: 1))],
                              inputType: .double)
        let model = try LoadedModel.load(data: data)
        XCTAssertEqual(model.ensemble.inputPrecision, .float64)
        XCTAssertEqual(model.ensemble.threshold[0], 0.1)
        XCTAssertEqual(try model.predict(row: [0.1, 0]).margin, -1)
        XCTAssertEqual(try model.predict(row: [Double(0.1).nextUp, 0]).margin, 2)
    }

    /// A double threshold with a float input becomes the float32 value that decides every float32 the same.
    func testDoubleThresholdWithFloatInputIsRoundedTowardTheDecision() throws {
        let t = 0.1  // float32(0.1) = 0.100000001490116... > 0.1
        let leq = try LoadedModel.load(data: Self.model([Self.regressor(
            Self.stumpNodes(valuesAsDoubleTensor: [t, 0, 0]) + Self.leafWeights(prefix: "target", trees: 1))]))
        XCTAssertEqual(leq.ensemble.threshold[0], Double(Float(t).nextDown))
        XCTAssertEqual(try leq.predict(row: [Double(Float(t)), 0]).margin, 2)             // float32(0.1) > 0.1
        XCTAssertEqual(try leq.predict(row: [Double(Float(t).nextDown), 0]).margin, -1)

        let lt = try LoadedModel.load(data: Self.model([Self.regressor(
            Self.stumpNodes(modes: ["BRANCH_LT"], valuesAsDoubleTensor: [t, 0, 0]) + Self.leafWeights(prefix: "target", trees: 1))]))
        XCTAssertEqual(lt.ensemble.threshold[0], Double(Float(t)))
        XCTAssertEqual(try lt.predict(row: [Double(Float(t).nextDown), 0]).margin, -1)   // < 0.1
        XCTAssertEqual(try lt.predict(row: [Double(Float(t)), 0]).margin, 2)

        // Exhaustive around the threshold: same decisions as comparing float32(x) with the double.
        for u in [0.1, -0.3, 1e-40, 3.4e38, 1e39, -1e39, 123456.789] {
            for comparison in [TreeEnsemble.Comparison.lessThanOrEqual, .lessThan] {
                let f = TreeNodeReaderProbe.threshold(u, comparison)
                var x = Float(u).nextDown.nextDown
                for _ in 0..<5 {
                    let want = comparison == .lessThanOrEqual ? Double(x) <= u : Double(x) < u
                    let got = comparison == .lessThanOrEqual ? Double(x) <= f : Double(x) < f
                    XCTAssertEqual(got, want, "t \(u) x \(x) \(comparison)")
                    x = x.nextUp
                }
            }
        }
    }

    func testAsTensorAttributesWithRawData() throws {
        var attributes = Self.stumpNodes().filter { $0.name != "nodes_values" }
        attributes.append(Self.attr("nodes_values_as_tensor", floatTensor: [0.25, 0, 0], raw: true))
        attributes += Self.leafWeights(prefix: "target", trees: 1).filter { $0.name != "target_weights" }
        attributes.append(Self.attr("target_weights_as_tensor", doubles: [-1.5, 2.5], raw: true))
        attributes.append(Self.attr("base_values_as_tensor", floatTensor: [10], raw: false))
        let model = try LoadedModel.load(data: Self.model([Self.regressor(attributes)]))
        XCTAssertEqual(model.ensemble.threshold[0], 0.25)
        XCTAssertEqual(try model.predict(row: [0.25, 0]).margin, 8.5)
        XCTAssertEqual(try model.predict(row: [0.3, 0]).margin, 12.5)

        var both = attributes
        both.append(Self.attr("nodes_values", floats: [0.25, 0, 0]))
        assertError(.malformed, Self.model([Self.regressor(both)]), containing: "both 'nodes_values' and 'nodes_values_as_tensor'")
    }

    // MARK: - Aggregation and objectives

    func testAggregateFunctionsAndBaseValues() throws {
        let trees = Self.stumpNodes(modes: ["BRANCH_LEQ", "BRANCH_LEQ"]) + Self.leafWeights(prefix: "target", trees: 2)
        let sum = try LoadedModel.load(data: Self.model([Self.regressor(trees + [Self.attr("base_values", floats: [0.5])])]))
        XCTAssertEqual(try sum.predict(row: [0, 0]).margin, -1.5)
        let average = try LoadedModel.load(data: Self.model([Self.regressor(
            trees + [Self.attr("aggregate_function", string: "AVERAGE"), Self.attr("base_values", floats: [0.5])])]))
        XCTAssertEqual(average.ensemble.aggregation, .average)
        XCTAssertEqual(try average.predict(row: [0, 0]).margin, -0.5)   // (-1 - 1) / 2 + 0.5
        assertError(.unsupported, Self.model([Self.regressor(trees + [Self.attr("aggregate_function", string: "MAX")])]),
                    containing: "aggregate_function MAX")
        let logistic = try LoadedModel.load(data: Self.model([Self.regressor(trees + [Self.attr("post_transform", string: "LOGISTIC")])]))
        XCTAssertEqual(logistic.objective, .regressionLogistic)
        assertError(.unsupported, Self.model([Self.regressor(trees + [Self.attr("n_targets", int: 2)])]), containing: "targets")
    }

    static func classifier(labels: Int, postTransform: String, weights: [Onnx_AttributeProto], base: [Float]? = nil) -> Data {
        var attributes = stumpNodes() + weights
        attributes.append(attr("classlabels_int64s", ints: (0..<Int64(labels)).map { $0 }))
        attributes.append(attr("post_transform", string: postTransform))
        if let base { attributes.append(attr("base_values", floats: base)) }
        return model([node("TreeEnsembleClassifier", name: "clf", inputs: ["X"], outputs: ["label", "probabilities"], attributes: attributes),
                      node("ZipMap", name: "zipmap", inputs: ["probabilities"], outputs: ["output_probability"]),
                      node("Cast", name: "cast", inputs: ["label"], outputs: ["output_label"], domain: "")])
    }

    /// skl2onnx's binary form: one weight per leaf, class id 0, for the positive class.
    func testBinarySingleScoreIsThePositiveClass() throws {
        let forest = try LoadedModel.load(data: Self.classifier(labels: 2, postTransform: "NONE",
            weights: Self.leafWeights(prefix: "class", trees: 1, trueValue: 0.25, falseValue: 0.75)))
        XCTAssertEqual(forest.objective, .binaryProbability)
        XCTAssertEqual(try forest.predict(row: [0, 0]).output, 0.25)
        XCTAssertEqual(try forest.predict(row: [1, 0]).output, 0.75)

        let boosted = try LoadedModel.load(data: Self.classifier(labels: 2, postTransform: "LOGISTIC",
            weights: Self.leafWeights(prefix: "class", trees: 1, trueValue: -1, falseValue: 2), base: [0.5]))
        XCTAssertEqual(boosted.objective, .binaryLogistic)
        XCTAssertEqual(try boosted.predict(row: [1, 0]).margin, 2.5)
        XCTAssertEqual(try boosted.predict(row: [1, 0]).output, 1 / (1 + exp(-2.5)), accuracy: 1e-15)
    }

    /// Weights for both classes: NONE/LOGISTIC keep class 1's score, SOFTMAX uses s1 - s0.
    func testBinaryWithBothClassScores() throws {
        let weights = Self.leafWeights(prefix: "class", trees: 1, trueValue: 0.3, falseValue: 0.6, id: 0)
        let other = Self.leafWeights(prefix: "class", trees: 1, trueValue: 0.7, falseValue: 0.4, id: 1)
        func merged() -> [Onnx_AttributeProto] {
            zip(weights, other).map { a, b in
                var c = a
                c.ints = a.ints + b.ints
                c.floats = a.floats + b.floats
                return c
            }
        }
        let none = try LoadedModel.load(data: Self.classifier(labels: 2, postTransform: "NONE", weights: merged()))
        XCTAssertEqual(none.objective, .binaryProbability)
        XCTAssertEqual(try none.predict(row: [0, 0]).output, Double(Float(0.7)))
        let softmax = try LoadedModel.load(data: Self.classifier(labels: 2, postTransform: "SOFTMAX", weights: merged(), base: [0.1, 0.2]))
        XCTAssertEqual(softmax.objective, .binaryLogistic)
        let margin = (Double(Float(0.7)) - Double(Float(0.3))) + (Double(Float(0.2)) - Double(Float(0.1)))
        XCTAssertEqual(try softmax.predict(row: [0, 0]).margin, margin, accuracy: 1e-15)
        let s0 = Double(Float(0.3)) + Double(Float(0.1)), s1 = Double(Float(0.7)) + Double(Float(0.2))
        XCTAssertEqual(try softmax.predict(row: [0, 0]).output, exp(s1) / (exp(s0) + exp(s1)), accuracy: 1e-15)
    }

    func testMulticlassAndRejectedTransforms() throws {
        var weights = Self.leafWeights(prefix: "class", trees: 1, trueValue: 1, falseValue: 2, id: 2)
        let softmax = try LoadedModel.load(data: Self.classifier(labels: 3, postTransform: "SOFTMAX", weights: weights))
        XCTAssertEqual(softmax.objective, .multiclassSoftmax(classes: 3))
        XCTAssertEqual(try softmax.predict(row: [0, 0]).margins, [0, 0, 1])
        let probability = try LoadedModel.load(data: Self.classifier(labels: 3, postTransform: "NONE", weights: weights, base: [0.1, 0.2, 0.3]))
        XCTAssertEqual(probability.objective, .multiclassProbability(classes: 3))
        let base: [Double] = [Double(Float(0.1)), Double(Float(0.2)), Double(Float(0.3)) + 2]
        XCTAssertEqual(try probability.predict(row: [1, 0]).margins, base)
        for transform in ["SOFTMAX_ZERO", "PROBIT"] {
            assertError(.unsupported, Self.classifier(labels: 3, postTransform: transform, weights: weights), containing: transform)
        }
        assertError(.unsupported, Self.classifier(labels: 3, postTransform: "LOGISTIC", weights: weights), containing: "LOGISTIC")
        weights[2].ints = [3, 3]
        assertError(.malformed, Self.classifier(labels: 3, postTransform: "NONE", weights: weights), containing: "class id 3")
    }

    /// Random-forest multiclass leaves carry one weight per class (multi-output leaves).
    func testMulticlassLeavesWithOneWeightPerClass() throws {
        let perClass: [[Float]] = [[0.5, 0.25, 0.25], [0.1, 0.2, 0.7]]  // true leaf, false leaf
        var treeIds: [Int64] = [], nodeIds: [Int64] = [], ids: [Int64] = [], weights: [Float] = []
        for (leaf, values) in perClass.enumerated() {
            for (c, w) in values.enumerated() {
                treeIds.append(0)
                nodeIds.append(Int64(leaf + 1))
                ids.append(Int64(c))
                weights.append(w)
            }
        }
        let model = try LoadedModel.load(data: Self.classifier(labels: 3, postTransform: "NONE", weights: [
            Self.attr("class_treeids", ints: treeIds), Self.attr("class_nodeids", ints: nodeIds),
            Self.attr("class_ids", ints: ids), Self.attr("class_weights", floats: weights)]))
        XCTAssertEqual(model.objective, .multiclassProbability(classes: 3))
        XCTAssertFalse(model.ensemble.hasSingleValueLeaves)
        XCTAssertEqual(try model.predict(row: [0, 0]).outputs, perClass[0].map(Double.init))
        XCTAssertEqual(try model.predict(row: [1, 0]).outputs, perClass[1].map(Double.init))
    }

    // MARK: - Graph checks

    func testPreprocessingNodeIsRejectedByName() {
        let scaler = Self.node("Scaler", name: "scaler_1", inputs: ["X"], outputs: ["scaled"],
                               attributes: [Self.attr("scale", floats: [1, 1]), Self.attr("offset", floats: [0, 0])])
        let trees = Self.regressor(Self.stumpNodes() + Self.leafWeights(prefix: "target", trees: 1), input: "scaled")
        assertError(.unsupported, Self.model([scaler, trees]), containing: "Scaler 'scaler_1'")

        // Cast/Identity in front are fine; a Cast to float makes a double input float32.
        var cast = Self.node("Cast", name: "to_float", inputs: ["X"], outputs: ["Xf"], domain: "")
        cast.attribute = [Self.attr("to", int: Int64(Onnx_TensorProto.DataType.float.rawValue))]
        let identity = Self.node("Identity", name: "id", inputs: ["Xf"], outputs: ["Xi"], domain: "")
        let castTrees = Self.regressor(Self.stumpNodes() + Self.leafWeights(prefix: "target", trees: 1), input: "Xi")
        XCTAssertEqual(try LoadedModel.load(data: Self.model([cast, identity, castTrees], inputType: .double)).ensemble.inputPrecision, .float32)
    }

    func testPostprocessingThatChangesScoresIsRejected() {
        let trees = Self.regressor(Self.stumpNodes() + Self.leafWeights(prefix: "target", trees: 1))
        let sigmoid = Self.node("Sigmoid", name: "squash", inputs: ["variable"], outputs: ["y"], domain: "")
        assertError(.unsupported, Self.model([trees, sigmoid]), containing: "Sigmoid 'squash'")
    }

    func testSecondEnsembleAndOtherModelsAreRejected() {
        let a = Self.regressor(Self.stumpNodes() + Self.leafWeights(prefix: "target", trees: 1))
        var b = a
        b.name = "trees2"
        b.output = ["variable2"]
        assertError(.unsupported, Self.model([a, b]), containing: "2 tree ensemble nodes")
        let linear = Self.node("LinearRegressor", name: "lin", inputs: ["X"], outputs: ["y"])
        assertError(.unsupported, Self.model([linear]), containing: "no TreeEnsembleClassifier or TreeEnsembleRegressor")
        let v5 = Self.node("TreeEnsemble", name: "te5", inputs: ["X"], outputs: ["y"])
        assertError(.unsupported, Self.model([v5]), containing: "opset 5 TreeEnsemble")
    }

    func testUnsupportedAttributeAndInputType() {
        assertError(.unsupported, Self.stumpRegressor(extra: [Self.attr("nodes_frobnicate", ints: [1])]), containing: "'nodes_frobnicate'")
        assertError(.unsupported, Self.model([Self.regressor(Self.stumpNodes() + Self.leafWeights(prefix: "target", trees: 1))],
                                             inputType: .int64), containing: "only float and double")
        var attributes = Self.stumpNodes() + Self.leafWeights(prefix: "target", trees: 1)
        attributes.append(Self.attr("nodes_treeids", ints: [0, 0, 0]))
        assertError(.malformed, Self.model([Self.regressor(attributes)]), containing: "appears twice")
    }

    func testStructuralErrors() {
        // A child that does not exist.
        var attributes = Self.stumpNodes() + Self.leafWeights(prefix: "target", trees: 1)
        attributes[attributes.firstIndex { $0.name == "nodes_falsenodeids" }!].ints = [7, 0, 0]
        assertError(.malformed, Self.model([Self.regressor(attributes)]), containing: "child 7")
        // A cycle: node 2 points back at the root, so there is no root.
        attributes = Self.stumpNodes() + Self.leafWeights(prefix: "target", trees: 1)
        attributes[attributes.firstIndex { $0.name == "nodes_modes" }!].strings = ["BRANCH_LEQ", "LEAF", "BRANCH_LEQ"].map { Data($0.utf8) }
        attributes[attributes.firstIndex { $0.name == "nodes_truenodeids" }!].ints = [1, 0, 0]
        attributes[attributes.firstIndex { $0.name == "nodes_falsenodeids" }!].ints = [2, 0, 0]
        assertError(.malformed, Self.model([Self.regressor(attributes)]))
        // Array lengths disagree.
        attributes = Self.stumpNodes() + Self.leafWeights(prefix: "target", trees: 1)
        attributes[attributes.firstIndex { $0.name == "nodes_featureids" }!].ints = [0, 0]
        assertError(.malformed, Self.model([Self.regressor(attributes)]), containing: "nodes_featureids has 2 entries")
        // A weight on a split node.
        attributes = Self.stumpNodes() + Self.leafWeights(prefix: "target", trees: 1)
        attributes[attributes.firstIndex { $0.name == "target_nodeids" }!].ints = [0, 2]
        assertError(.malformed, Self.model([Self.regressor(attributes)]), containing: "not a LEAF")
        // A feature beyond the input width.
        attributes = Self.stumpNodes() + Self.leafWeights(prefix: "target", trees: 1)
        attributes[attributes.firstIndex { $0.name == "nodes_featureids" }!].ints = [5, 0, 0]
        assertError(.malformed, Self.model([Self.regressor(attributes)]), containing: "feature 5")
        // Without a stated width the model is as wide as its highest feature.
        XCTAssertEqual(try LoadedModel.load(data: Self.model([Self.regressor(attributes)], width: nil)).featureCount, 6)
    }

    func testTruncatedAndCorruptFiles() throws {
        let data = try Fixtures.data("onnx_gb_multiclass.onnx")
        XCTAssertNoThrow(try LoadedModel.load(data: data))
        for length in [2, 100, data.count / 2, data.count - 1] {
            assertError(.malformed, data.prefix(length), containing: "ONNX")
        }
        // Not ONNX at all.
        assertError(.unsupported, Data([0x00, 0x01, 0x02]), containing: "unrecognised")
    }
}

/// Exposes the threshold rule to the tests.
enum TreeNodeReaderProbe {
    static func threshold(_ t: Double, _ comparison: TreeEnsemble.Comparison) -> Double {
        ONNXThresholds.float32(t, comparison: comparison)
    }
}
