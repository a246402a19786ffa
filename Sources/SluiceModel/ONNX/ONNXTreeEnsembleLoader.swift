import Foundation
import SwiftProtobuf

/// Reads an ONNX `ModelProto` whose graph scores with one `ai.onnx.ml` `TreeEnsembleClassifier` or
/// `TreeEnsembleRegressor` (opset 1 attributes, and the opset 3 `*_as_tensor` variants), as skl2onnx
/// writes for scikit-learn's RandomForest, ExtraTrees, GradientBoosting and HistGradientBoosting.
///
/// Semantics (checked against scikit-learn and onnxruntime by the ONNX parity tests):
///
/// - Node `(tree id, node id)`; the true child becomes the left one. `BRANCH_LEQ` and `BRANCH_LT`
///   map to `<=` / `<`; `BRANCH_GT` and `BRANCH_GTE` are their negations, so their children are swapped
///   (left = false child) and they become `<=` / `<`. One model must end up with a single comparison
///   (a mix of `<=` and `<` nodes is rejected); `BRANCH_EQ` / `BRANCH_NEQ` are rejected.
/// - A missing input (NaN) takes the true child iff `nodes_missing_value_tracks_true` is 1, else the
///   false child (NaN compares false), which is the left child for GT/GTE nodes.
///   Trap: skl2onnx 1.20 writes 0 for every node of RandomForest/ExtraTrees exports, ignoring
///   scikit-learn's `tree_.missing_go_to_left`, so such exports send NaN right everywhere and disagree
///   with scikit-learn on rows with missing values unless the attribute is repaired before saving
///   (scripts/models/make_onnx_fixtures.py does it). Nothing in the file tells a repaired export from a
///   broken one; the loader reads the attribute as written.
/// - A float tensor input is compared in float32 (`inputPrecision = .float32`), a double one in
///   float64. Double thresholds (`nodes_values_as_tensor` of type double) used with a float input are
///   replaced by the float32 value giving the same decision for every float32 input (`x <= t` iff
///   `x <= largest float32 ≤ t`; `x < t` iff `x < smallest float32 ≥ t`).
/// - Thresholds: skl2onnx writes, for RandomForest/ExtraTrees/GradientBoosting, the largest float32 not
///   above scikit-learn's double threshold, which reproduces scikit-learn (it compares float32(x) with
///   the double) exactly. For HistGradientBoosting, which compares the double input with a double
///   threshold t, it writes the nearest float32 t32, so a node decides differently from scikit-learn
///   exactly when float32(x) == t32 and x > t (for float32-valued inputs: x == t32 > t). No float-input
///   ONNX file can avoid that; Sluice then agrees with onnxruntime (see Fixtures/README.md).
/// - Leaves add their `class_weights` / `target_weights` (skl2onnx folds 1/n_estimators for forests and
///   the learning rate for boosting into them) in double (`accumulation = .float64`, as scikit-learn;
///   onnxruntime sums in float32). `aggregate_function` `SUM` or `AVERAGE` (regressor only; `MIN`/`MAX`
///   are rejected); then `base_values` are added and `post_transform` applied.
/// - Binary classifiers: skl2onnx writes one weight per leaf with class id 0 that is the score of the
///   *positive* class (second label), so Sluice's single output is P(class 1): `NONE` (averaged
///   forests) → `.binaryProbability`, `LOGISTIC` (boosting) → `.binaryLogistic` with
///   margin = score + base value. Models with weights for both classes use class 1's score (`NONE`,
///   `LOGISTIC`) or the difference class 1 − class 0 (`SOFTMAX`, so sigmoid(margin) = softmax[1]).
/// - k > 2 classes: `NONE` → `.multiclassProbability(k)`, `SOFTMAX` → `.multiclassSoftmax(k)`.
///   `SOFTMAX_ZERO`, `PROBIT` and `LOGISTIC` with k > 2 are rejected.
/// - The graph may hold, besides the tree node, `Cast`/`Identity` in front of it and output-formatting
///   nodes after it (`ZipMap`, `Cast`, `Identity`, `Reshape`, ...). Any other node (a `Scaler`, an
///   `Imputer`, a `Sigmoid` after the trees, a second ensemble) is rejected by name, since Sluice scores
///   the raw feature rows with the trees alone.
enum ONNXTreeEnsembleLoader {
    struct Result {
        var ensemble: TreeEnsemble
        var objective: ModelObjective
        /// Always nil: an ONNX model takes one unnamed feature tensor.
        var featureNames: [String]?
    }

    /// True when the bytes start like a serialized `ModelProto`: field 1 (`ir_version`, a varint),
    /// which every ONNX writer emits first and the ONNX checker requires. Neither JSON nor LightGBM
    /// text can start with byte 0x08.
    static func startsLikeModelProto(_ bytes: [UInt8]) -> Bool {
        bytes.count >= 2 && bytes[0] == 0x08
    }

    static let treeOps: Set<String> = ["TreeEnsembleClassifier", "TreeEnsembleRegressor"]
    /// Nodes allowed in front of the tree ensemble (on the path from the graph input).
    static let inputPassThrough: Set<String> = ["Cast", "Identity"]
    /// Nodes allowed after the tree ensemble: they only rename, reshape, retype or repackage outputs.
    static let outputFormatting: Set<String> = [
        "ZipMap", "Cast", "Identity", "Reshape", "Flatten", "Squeeze", "Unsqueeze", "Constant", "CastMap",
    ]

    static func load(_ bytes: [UInt8]) throws -> Result {
        let model: Onnx_ModelProto
        do {
            model = try Onnx_ModelProto(serializedBytes: bytes)
        } catch {
            throw ModelError.malformed("not a readable ONNX model (protobuf decoding failed: \(error); truncated file?)")
        }
        guard model.hasGraph else { throw ModelError.malformed("the ONNX model has no graph") }
        let graph = model.graph

        let treeIndices = graph.node.indices.filter { treeOps.contains(graph.node[$0].opType) && isMLDomain(graph.node[$0].domain) }
        let treeNodes = treeIndices.map { graph.node[$0] }
        guard let treeIndex = treeIndices.first else {
            if let node = graph.node.first(where: { $0.opType == "TreeEnsemble" }) {
                throw ModelError.unsupported(
                    "\(describe(node)): the ai.onnx.ml opset 5 TreeEnsemble operator is not supported; export with "
                    + "target_opset={'ai.onnx.ml': 3} (TreeEnsembleClassifier/TreeEnsembleRegressor)")
            }
            let ops = graph.node.map(\.opType)
            throw ModelError.unsupported(
                "the ONNX graph has no TreeEnsembleClassifier or TreeEnsembleRegressor node (operators: "
                + (ops.isEmpty ? "none" : ops.joined(separator: ", ")) + ")")
        }
        guard treeNodes.count == 1 else {
            throw ModelError.unsupported(
                "the ONNX graph has \(treeNodes.count) tree ensemble nodes (" + treeNodes.map(describe).joined(separator: ", ")
                + "); only a graph with a single ensemble can be scored")
        }
        let tree = graph.node[treeIndex]
        let precision = try checkGraph(graph, treeIndex: treeIndex)
        let name = describe(tree)
        do {
            return try TreeNodeReader(node: tree, graph: graph, inputPrecision: precision).read()
        } catch let error as ModelError {
            throw ModelError(error.code, "\(name): \(error.message)")
        }
    }

    private static func isMLDomain(_ domain: String) -> Bool { domain == "ai.onnx.ml" }

    static func describe(_ node: Onnx_NodeProto) -> String {
        node.name.isEmpty ? node.opType : "\(node.opType) '\(node.name)'"
    }

    /// Checks that the tree ensemble reads a graph input directly (through Cast/Identity at most) and
    /// that every other node only formats outputs. Returns the precision the trees see the features in.
    private static func checkGraph(_ graph: Onnx_GraphProto, treeIndex: Int) throws -> TreeEnsemble.Precision {
        let tree = graph.node[treeIndex]
        guard let firstInput = tree.input.first, !firstInput.isEmpty else {
            throw ModelError.malformed("\(describe(tree)) has no input")
        }
        var producer: [String: Int] = [:]
        for (index, node) in graph.node.enumerated() {
            for output in node.output where !output.isEmpty { producer[output] = index }
        }
        let initializers = Set(graph.initializer.map(\.name))

        // Walk back from the tree input to a graph input.
        var upstream = Set<Int>()
        var name = firstInput
        var casts: [Int32] = []
        while let index = producer[name] {
            let node = graph.node[index]
            guard inputPassThrough.contains(node.opType), node.domain.isEmpty || node.domain == "ai.onnx" else {
                throw ModelError.unsupported(
                    "\(describe(node)) transforms the features before \(describe(tree)); Sluice scores raw feature rows "
                    + "with the trees alone (export the trees without preprocessing, or apply it upstream)")
            }
            guard upstream.insert(index).inserted, let next = node.input.first else {
                throw ModelError.malformed("\(describe(node)) has no input or is part of a cycle")
            }
            if node.opType == "Cast" {
                guard let to = node.attribute.first(where: { $0.name == "to" }), to.hasI else {
                    throw ModelError.malformed("\(describe(node)) has no 'to' attribute")
                }
                casts.append(Int32(truncatingIfNeeded: to.i))
            }
            name = next
        }
        guard !initializers.contains(name), let input = graph.input.first(where: { $0.name == name }) else {
            throw ModelError.unsupported("\(describe(tree)) does not read a graph input (it reads '\(name)')")
        }
        let realInputs = graph.input.filter { !initializers.contains($0.name) }
        guard realInputs.count == 1 else {
            throw ModelError.unsupported(
                "the ONNX graph has \(realInputs.count) inputs (" + realInputs.map(\.name).joined(separator: ", ")
                + "); Sluice feeds one feature tensor")
        }

        for (index, node) in graph.node.enumerated() where index != treeIndex && !upstream.contains(index) {
            guard outputFormatting.contains(node.opType) else {
                throw ModelError.unsupported(
                    "\(describe(node)) (domain '\(node.domain)') is not supported next to \(describe(tree)): only Cast/Identity "
                    + "before the trees and output formatting (ZipMap, Cast, Identity, Reshape, ...) after them are allowed")
            }
        }

        // Precision: the coarsest type along graph input -> casts -> tree.
        guard case .tensorType(let tensorType)? = input.type.value else {
            throw ModelError.unsupported("graph input '\(input.name)' is not a tensor")
        }
        var precision = try precisionOf(elementType: tensorType.elemType, what: "graph input '\(input.name)'")
        for to in casts.reversed() {
            let step = try precisionOf(elementType: to, what: "a Cast in front of the trees")
            if step == .float32 { precision = .float32 }
        }
        return precision
    }

    private static func precisionOf(elementType: Int32, what: String) throws -> TreeEnsemble.Precision {
        switch Onnx_TensorProto.DataType(rawValue: Int(elementType)) {
        case .float?: return .float32
        case .double?: return .float64
        default:
            throw ModelError.unsupported("\(what) has element type \(dataTypeName(elementType)); only float and double tensors are supported")
        }
    }

    static func dataTypeName(_ type: Int32) -> String {
        if let known = Onnx_TensorProto.DataType(rawValue: Int(type)) { return "\(known) (\(type))" }
        return "\(type)"
    }
}

/// Reads the attributes of one TreeEnsembleClassifier/TreeEnsembleRegressor node into a `TreeEnsemble`.
private struct TreeNodeReader {
    let node: Onnx_NodeProto
    let graph: Onnx_GraphProto
    let inputPrecision: TreeEnsemble.Precision
    let isClassifier: Bool
    let attributes: [String: Onnx_AttributeProto]

    static let commonAttributes: Set<String> = [
        "nodes_falsenodeids", "nodes_featureids", "nodes_hitrates", "nodes_hitrates_as_tensor",
        "nodes_missing_value_tracks_true", "nodes_modes", "nodes_nodeids", "nodes_treeids", "nodes_truenodeids",
        "nodes_values", "nodes_values_as_tensor", "post_transform", "base_values", "base_values_as_tensor",
    ]
    static let classifierAttributes: Set<String> = [
        "class_ids", "class_nodeids", "class_treeids", "class_weights", "class_weights_as_tensor",
        "classlabels_int64s", "classlabels_strings",
    ]
    static let regressorAttributes: Set<String> = [
        "aggregate_function", "n_targets", "target_ids", "target_nodeids", "target_treeids", "target_weights",
        "target_weights_as_tensor",
    ]

    init(node: Onnx_NodeProto, graph: Onnx_GraphProto, inputPrecision: TreeEnsemble.Precision) throws {
        self.node = node
        self.graph = graph
        self.inputPrecision = inputPrecision
        isClassifier = node.opType == "TreeEnsembleClassifier"
        let allowed = Self.commonAttributes.union(isClassifier ? Self.classifierAttributes : Self.regressorAttributes)
        var attributes: [String: Onnx_AttributeProto] = [:]
        for attribute in node.attribute {
            guard allowed.contains(attribute.name) else {
                throw ModelError.unsupported("unsupported attribute '\(attribute.name)'")
            }
            guard attributes.updateValue(attribute, forKey: attribute.name) == nil else {
                throw ModelError.malformed("attribute '\(attribute.name)' appears twice")
            }
        }
        self.attributes = attributes
    }

    // MARK: Attribute access

    private func ints(_ name: String) throws -> [Int64] {
        guard let a = attributes[name] else { return [] }
        guard a.type == .ints || (a.type == .undefined && a.strings.isEmpty && a.floats.isEmpty) else {
            throw ModelError.malformed("attribute '\(name)' has type \(a.type), expected ints")
        }
        return a.ints
    }

    private func int(_ name: String) throws -> Int64? {
        guard let a = attributes[name] else { return nil }
        guard a.type == .int || (a.type == .undefined && a.hasI) else {
            throw ModelError.malformed("attribute '\(name)' has type \(a.type), expected int")
        }
        return a.i
    }

    private func string(_ name: String) throws -> String? {
        guard let a = attributes[name] else { return nil }
        guard a.type == .string || (a.type == .undefined && a.hasS) else {
            throw ModelError.malformed("attribute '\(name)' has type \(a.type), expected string")
        }
        return String(decoding: a.s, as: UTF8.self)
    }

    private func strings(_ name: String) throws -> [String] {
        guard let a = attributes[name] else { return [] }
        guard a.type == .strings || (a.type == .undefined && a.ints.isEmpty && a.floats.isEmpty) else {
            throw ModelError.malformed("attribute '\(name)' has type \(a.type), expected strings")
        }
        return a.strings.map { String(decoding: $0, as: UTF8.self) }
    }

    /// `name` (floats) or `name_as_tensor` (a float or double tensor); `isFloat32` tells whether every
    /// value came from float32 storage.
    private func reals(_ name: String) throws -> (values: [Double], isFloat32: Bool)? {
        let plain = attributes[name]
        let tensor = attributes[name + "_as_tensor"]
        if plain != nil && tensor != nil {
            throw ModelError.malformed("both '\(name)' and '\(name)_as_tensor' are set")
        }
        if let a = plain {
            guard a.type == .floats || (a.type == .undefined && a.ints.isEmpty && a.strings.isEmpty) else {
                throw ModelError.malformed("attribute '\(name)' has type \(a.type), expected floats")
            }
            return (a.floats.map(Double.init), true)
        }
        if let a = tensor {
            guard a.type == .tensor || (a.type == .undefined && a.hasT) else {
                throw ModelError.malformed("attribute '\(name)_as_tensor' has type \(a.type), expected tensor")
            }
            return try Self.decode(tensor: a.t, name: name + "_as_tensor")
        }
        return nil
    }

    static func decode(tensor t: Onnx_TensorProto, name: String) throws -> (values: [Double], isFloat32: Bool) {
        guard t.dataLocation != .external, t.externalData.isEmpty else {
            throw ModelError.unsupported("tensor '\(name)' keeps its data in an external file")
        }
        let values: [Double]
        let isFloat32: Bool
        switch Onnx_TensorProto.DataType(rawValue: Int(t.dataType)) {
        case .float?:
            isFloat32 = true
            if t.hasRawData {
                values = try littleEndian(t.rawData, width: 4, name: name).map { Double(Float(bitPattern: UInt32(truncatingIfNeeded: $0))) }
            } else {
                values = t.floatData.map(Double.init)
            }
        case .double?:
            isFloat32 = false
            if t.hasRawData {
                values = try littleEndian(t.rawData, width: 8, name: name).map { Double(bitPattern: $0) }
            } else {
                values = t.doubleData
            }
        default:
            throw ModelError.unsupported("tensor '\(name)' has element type \(ONNXTreeEnsembleLoader.dataTypeName(t.dataType)); expected float or double")
        }
        if !t.dims.isEmpty {
            var count: Int64 = 1
            for d in t.dims {
                guard d >= 0 else { throw ModelError.malformed("tensor '\(name)' has a negative dimension") }
                count = count.multipliedReportingOverflow(by: d).partialValue
            }
            guard count == Int64(values.count) else {
                throw ModelError.malformed("tensor '\(name)' has dims \(t.dims) but \(values.count) values")
            }
        }
        return (values, isFloat32)
    }

    private static func littleEndian(_ data: Data, width: Int, name: String) throws -> [UInt64] {
        guard data.count % width == 0 else {
            throw ModelError.malformed("tensor '\(name)' has \(data.count) raw bytes, not a multiple of \(width)")
        }
        let bytes = [UInt8](data)
        return stride(from: 0, to: bytes.count, by: width).map { start in
            var value: UInt64 = 0
            for k in (0..<width).reversed() { value = value << 8 | UInt64(bytes[start + k]) }
            return value
        }
    }

    // MARK: Reading

    private enum Mode {
        case leaf
        case branch(TreeEnsemble.Comparison, trueIsLeft: Bool)
    }

    private struct Key: Hashable {
        var tree: Int64
        var node: Int64
    }

    func read() throws -> ONNXTreeEnsembleLoader.Result {
        // Nodes.
        let nodeIds = try ints("nodes_nodeids")
        let treeIds = try ints("nodes_treeids")
        let featureIds = try ints("nodes_featureids")
        let modes = try strings("nodes_modes")
        let trueIds = try ints("nodes_truenodeids")
        let falseIds = try ints("nodes_falsenodeids")
        var tracks = try ints("nodes_missing_value_tracks_true")
        guard let nodeValues = try reals("nodes_values") else {
            throw ModelError.malformed("missing attribute 'nodes_values'")
        }
        let (thresholds, thresholdsAreFloat32) = nodeValues
        let n = nodeIds.count
        guard n > 0 else { throw ModelError.malformed("no nodes (nodes_nodeids is empty)") }
        for (label, count) in [("nodes_treeids", treeIds.count), ("nodes_featureids", featureIds.count), ("nodes_modes", modes.count),
                               ("nodes_truenodeids", trueIds.count), ("nodes_falsenodeids", falseIds.count),
                               ("nodes_values", thresholds.count)] where count != n {
            throw ModelError.malformed("\(label) has \(count) entries, nodes_nodeids \(n)")
        }
        if tracks.isEmpty { tracks = Array(repeating: 0, count: n) }
        guard tracks.count == n else {
            throw ModelError.malformed("nodes_missing_value_tracks_true has \(tracks.count) entries, nodes_nodeids \(n)")
        }

        var parsedModes: [Mode] = []
        parsedModes.reserveCapacity(n)
        var comparison: TreeEnsemble.Comparison?
        for (i, text) in modes.enumerated() {
            let mode: Mode
            switch text {
            case "LEAF": mode = .leaf
            case "BRANCH_LEQ": mode = .branch(.lessThanOrEqual, trueIsLeft: true)
            case "BRANCH_LT": mode = .branch(.lessThan, trueIsLeft: true)
            case "BRANCH_GT": mode = .branch(.lessThanOrEqual, trueIsLeft: false)   // x > t  ⇔  !(x <= t)
            case "BRANCH_GTE": mode = .branch(.lessThan, trueIsLeft: false)         // x >= t ⇔  !(x < t)
            case "BRANCH_EQ", "BRANCH_NEQ":
                throw ModelError.unsupported("node \(i) (tree \(treeIds[i]) node \(nodeIds[i])): mode \(text) is not supported")
            default:
                throw ModelError.malformed("node \(i): unknown mode '\(text)'")
            }
            if case .branch(let c, _) = mode {
                if let existing = comparison, existing != c {
                    throw ModelError.unsupported(
                        "the model mixes BRANCH_LEQ/BRANCH_GT with BRANCH_LT/BRANCH_GTE nodes (node \(i), tree \(treeIds[i]) node "
                        + "\(nodeIds[i]), is \(text)); Sluice scores one comparison per model")
                }
                comparison = c
            }
            parsedModes.append(mode)
        }

        // Trees, in the order their ids first appear (the order onnxruntime sums them in).
        var treeOrder: [Int64] = []
        var membersOf: [Int64: [Int]] = [:]
        var indexOf: [Key: Int] = [:]
        for i in 0..<n {
            guard treeIds[i] >= 0, nodeIds[i] >= 0 else {
                throw ModelError.malformed("node \(i) has a negative tree or node id")
            }
            guard indexOf.updateValue(i, forKey: Key(tree: treeIds[i], node: nodeIds[i])) == nil else {
                throw ModelError.malformed("tree \(treeIds[i]) has two nodes with id \(nodeIds[i])")
            }
            if membersOf[treeIds[i]] == nil { treeOrder.append(treeIds[i]) }
            membersOf[treeIds[i], default: []].append(i)
        }

        // Leaf weights.
        let weightPrefix = isClassifier ? "class" : "target"
        let weightTrees = try ints(weightPrefix + "_treeids")
        let weightNodes = try ints(weightPrefix + "_nodeids")
        let weightIds = try ints(weightPrefix + "_ids")
        let weights = try reals(weightPrefix + "_weights")?.values ?? []
        for (label, count) in [("\(weightPrefix)_nodeids", weightNodes.count), ("\(weightPrefix)_ids", weightIds.count),
                               ("\(weightPrefix)_weights", weights.count)] where count != weightTrees.count {
            throw ModelError.malformed("\(label) has \(count) entries, \(weightPrefix)_treeids \(weightTrees.count)")
        }
        var leafWeights: [Int: [(id: Int, weight: Double)]] = [:]
        for k in 0..<weightTrees.count {
            guard let i = indexOf[Key(tree: weightTrees[k], node: weightNodes[k])] else {
                throw ModelError.malformed("weight \(k) refers to tree \(weightTrees[k]) node \(weightNodes[k]), which does not exist")
            }
            guard case .leaf = parsedModes[i] else {
                throw ModelError.malformed("weight \(k) is attached to tree \(weightTrees[k]) node \(weightNodes[k]), which is not a LEAF")
            }
            guard weightIds[k] >= 0, weightIds[k] < Int64(Int32.max) else {
                throw ModelError.malformed("weight \(k) has \(weightPrefix) id \(weightIds[k])")
            }
            leafWeights[i, default: []].append((Int(weightIds[k]), weights[k]))
        }
        let usedIds = Set(weightIds)

        // Outputs and objective.
        let postTransform = try string("post_transform") ?? "NONE"
        let baseValues = try reals("base_values")?.values ?? []
        let plan = try isClassifier
            ? classifierPlan(postTransform: postTransform, baseValues: baseValues, usedIds: usedIds)
            : regressorPlan(postTransform: postTransform, baseValues: baseValues, usedIds: usedIds)

        // Features.
        let maxFeature = zip(parsedModes, featureIds).compactMap { mode, f -> Int64? in
            if case .branch = mode { return f }
            return nil
        }.max() ?? 0
        let featureCount = try featureCountFromInput(atLeast: Int(clamping: maxFeature) + 1)

        var builder = TreeEnsembleBuilder(
            featureCount: featureCount, outputCount: plan.objective.outputCount, baseMargins: plan.baseMargins,
            inputPrecision: inputPrecision, comparison: comparison ?? .lessThanOrEqual, accumulation: .float64)
        builder.aggregation = plan.aggregation

        for treeId in treeOrder {
            let members = membersOf[treeId]!
            var local: [Int64: Int] = [:]
            var referenced = Set<Int64>()
            for i in members {
                if case .branch = parsedModes[i] {
                    for child in [trueIds[i], falseIds[i]] {
                        guard indexOf[Key(tree: treeId, node: child)] != nil else {
                            throw ModelError.malformed("tree \(treeId) node \(nodeIds[i]) has child \(child), which does not exist")
                        }
                        referenced.insert(child)
                    }
                }
            }
            let roots = members.filter { !referenced.contains(nodeIds[$0]) }
            guard roots.count == 1 else {
                throw ModelError.malformed(roots.isEmpty
                    ? "tree \(treeId) has no root (every node is some node's child)"
                    : "tree \(treeId) has \(roots.count) nodes that are no node's child (node ids "
                      + roots.prefix(5).map { String(nodeIds[$0]) }.joined(separator: ", ") + ")")
            }
            // Root first, then the others in file order.
            let ordered = roots + members.filter { $0 != roots[0] }
            for (position, i) in ordered.enumerated() { local[nodeIds[i]] = position }

            var specs: [TreeNodeSpec] = []
            specs.reserveCapacity(ordered.count)
            for i in ordered {
                switch parsedModes[i] {
                case .leaf:
                    var outputs = (leafWeights[i] ?? []).flatMap { plan.map($0.id, $0.weight) }
                    if outputs.isEmpty { outputs = [TreeNodeSpec.LeafOutput(target: 0, weight: 0)] }
                    specs.append(.leaf(outputs))
                case .branch(let c, let trueIsLeft):
                    let trueChild = local[trueIds[i]]!
                    let falseChild = local[falseIds[i]]!
                    guard featureIds[i] >= 0 else {
                        throw ModelError.malformed("tree \(treeId) node \(nodeIds[i]) splits on feature \(featureIds[i])")
                    }
                    let tracksTrue = tracks[i] != 0
                    let threshold = Self.threshold(thresholds[i], for: c, precision: inputPrecision, isFloat32: thresholdsAreFloat32)
                    specs.append(.split(
                        feature: Int(featureIds[i]), threshold: threshold,
                        left: trueIsLeft ? trueChild : falseChild, right: trueIsLeft ? falseChild : trueChild,
                        defaultLeft: trueIsLeft ? tracksTrue : !tracksTrue, missing: .nanTakesDefault))
                }
            }
            try builder.addTree(specs, name: "tree \(treeId)")
        }
        return ONNXTreeEnsembleLoader.Result(ensemble: try builder.build(), objective: plan.objective, featureNames: nil)
    }

    /// The threshold Sluice compares with. With float32 inputs a double threshold is replaced by the
    /// float32 one that decides every float32 input the same way.
    static func threshold(_ t: Double, for comparison: TreeEnsemble.Comparison, precision: TreeEnsemble.Precision,
                          isFloat32: Bool) -> Double {
        guard precision == .float32, !isFloat32 else { return t }
        return ONNXThresholds.float32(t, comparison: comparison)
    }

    private func featureCountFromInput(atLeast needed: Int) throws -> Int {
        // The graph input's second dimension, when the file states it.
        let initializers = Set(graph.initializer.map(\.name))
        if let input = graph.input.first(where: { !initializers.contains($0.name) }),
           case .tensorType(let t)? = input.type.value, t.hasShape, t.shape.dim.count == 2,
           case .dimValue(let width)? = t.shape.dim[1].value, width > 0 {
            guard width >= needed else {
                throw ModelError.malformed("a node splits on feature \(needed - 1) but the input '\(input.name)' has \(width) columns")
            }
            guard width <= Int64(Int32.max) else { throw ModelError.unsupported("input width \(width) is too large") }
            return Int(width)
        }
        return needed
    }

    // MARK: Objectives

    private struct Plan {
        var objective: ModelObjective
        var baseMargins: [Double]
        var aggregation: TreeEnsemble.Aggregation = .sum
        /// Maps a (class or target id, weight) pair to Sluice leaf outputs (possibly none).
        var map: (Int, Double) -> [TreeNodeSpec.LeafOutput]
    }

    private func regressorPlan(postTransform: String, baseValues: [Double], usedIds: Set<Int64>) throws -> Plan {
        let targets = try int("n_targets") ?? (usedIds.max().map { $0 + 1 } ?? 1)
        guard targets == 1, usedIds.isSubset(of: [0]) else {
            throw ModelError.unsupported("regression with \(max(targets, Int64(usedIds.count))) targets (n_targets = \(targets)); only one target is supported")
        }
        let objective: ModelObjective
        switch postTransform {
        case "NONE": objective = .regression
        case "LOGISTIC": objective = .regressionLogistic
        default: throw ModelError.unsupported("post_transform \(postTransform) is not supported for a regressor (NONE or LOGISTIC)")
        }
        guard baseValues.count <= 1 else {
            throw ModelError.malformed("\(baseValues.count) base_values for one target")
        }
        var plan = Plan(objective: objective, baseMargins: [baseValues.first ?? 0]) { _, w in [.init(target: 0, weight: w)] }
        switch try string("aggregate_function") ?? "SUM" {
        case "SUM": plan.aggregation = .sum
        case "AVERAGE": plan.aggregation = .average
        case let other: throw ModelError.unsupported("aggregate_function \(other) is not supported (SUM or AVERAGE)")
        }
        return plan
    }

    private func classifierPlan(postTransform: String, baseValues: [Double], usedIds: Set<Int64>) throws -> Plan {
        let intLabels = try ints("classlabels_int64s")
        let stringLabels = try strings("classlabels_strings")
        guard intLabels.isEmpty || stringLabels.isEmpty else {
            throw ModelError.malformed("both classlabels_int64s and classlabels_strings are set")
        }
        let k = max(intLabels.count, stringLabels.count)
        guard k >= 2 else { throw ModelError.malformed("a classifier with \(k) class labels") }
        if let bad = usedIds.first(where: { $0 >= Int64(k) }) {
            throw ModelError.malformed("class id \(bad) but only \(k) class labels")
        }
        switch postTransform {
        case "NONE", "LOGISTIC", "SOFTMAX": break
        default:
            throw ModelError.unsupported("post_transform \(postTransform) is not supported (NONE, LOGISTIC or SOFTMAX)")
        }

        if k == 2 && usedIds.isSubset(of: [0]) {
            // skl2onnx's binary form: one score per leaf, filed under class id 0, for the positive class.
            guard baseValues.count <= 1 else {
                throw ModelError.unsupported("a binary classifier with one score per leaf and \(baseValues.count) base_values")
            }
            let objective: ModelObjective
            switch postTransform {
            case "NONE": objective = .binaryProbability
            case "LOGISTIC": objective = .binaryLogistic
            default: throw ModelError.unsupported("post_transform \(postTransform) on a binary classifier with one score per leaf")
            }
            return Plan(objective: objective, baseMargins: [baseValues.first ?? 0]) { _, w in [.init(target: 0, weight: w)] }
        }

        guard baseValues.isEmpty || baseValues.count == k else {
            throw ModelError.malformed("\(baseValues.count) base_values for \(k) classes")
        }
        let base = baseValues.isEmpty ? Array(repeating: 0.0, count: k) : baseValues
        if k == 2 {
            // Weights for both classes: output P(class 1).
            switch postTransform {
            case "SOFTMAX":
                // softmax([s0, s1])[1] = sigmoid(s1 - s0).
                return Plan(objective: .binaryLogistic, baseMargins: [base[1] - base[0]]) { id, w in
                    [.init(target: 0, weight: id == 1 ? w : -w)]
                }
            default:
                return Plan(objective: postTransform == "NONE" ? .binaryProbability : .binaryLogistic, baseMargins: [base[1]]) { id, w in
                    id == 1 ? [.init(target: 0, weight: w)] : []
                }
            }
        }
        let objective: ModelObjective
        switch postTransform {
        case "NONE": objective = .multiclassProbability(classes: k)
        case "SOFTMAX": objective = .multiclassSoftmax(classes: k)
        default: throw ModelError.unsupported("post_transform \(postTransform) with \(k) classes (per-class logistic) is not supported")
        }
        return Plan(objective: objective, baseMargins: base) { id, w in [.init(target: id, weight: w)] }
    }
}

enum ONNXThresholds {
    /// The float32 value `f` with `x <= f` iff `x <= t` (or `x < f` iff `x < t`) for every float32 `x`:
    /// the largest float32 not above `t` for `<=`, the smallest not below it for `<`.
    static func float32(_ t: Double, comparison: TreeEnsemble.Comparison) -> Double {
        guard !t.isNaN else { return t }
        let nearest = Float(t)
        if Double(nearest) == t { return t }
        switch comparison {
        case .lessThanOrEqual: return Double(Double(nearest) <= t ? nearest : nearest.nextDown)
        case .lessThan: return Double(Double(nearest) >= t ? nearest : nearest.nextUp)
        }
    }
}
