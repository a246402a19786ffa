/// A format-neutral, validated ensemble of binary decision trees whose leaves add to one or more
/// raw scores (margins).
///
/// Every format loader (XGBoost JSON, LightGBM text, ONNX TreeEnsemble) produces one of these
/// through `TreeEnsembleBuilder`, and every evaluator (the scalar reference, the compiled SIMD one)
/// consumes it. The numeric rules that differ between libraries are explicit, never assumed:
///
/// - `inputPrecision`: XGBoost and ONNX (float tensors) compare float32 inputs (`.float32`);
///   LightGBM compares doubles (`.float64`).
/// - `comparison`: XGBoost goes left iff `x < threshold`; LightGBM and ONNX BRANCH_LEQ iff `x <= threshold`.
/// - `accumulation`: XGBoost adds leaf values into a float32 running sum that starts at the base
///   margin (`.float32`); LightGBM and scikit-learn sum in double (`.float64`).
/// - `aggregation`: `.sum` of the trees, or `.average` over the trees (random forests).
/// - Per node, `missing` says what a missing input does (see `MissingRule`).
/// - Categorical nodes go left iff the input is an integer in the node's category set; missing
///   inputs take the default direction; anything else goes right.
///
/// Storage is flat (structure of arrays over all nodes of all trees): node `i` is a leaf iff
/// `splitFeature[i] < 0`; child indices are absolute node indices inside the same tree; tree `t`
/// owns the nodes `treeStart[t] ..< treeStart[t + 1]` (or `..< nodeCount`) and its root is
/// `treeStart[t]`. Leaf `i` adds `leafWeight[k]` to output `leafTarget[k]` for
/// `k in leafStart[i] ..< leafStart[i + 1]`.
public struct TreeEnsemble: Sendable, Equatable {
    public enum Precision: Sendable, Equatable {
        case float32
        case float64
    }

    public enum Comparison: Sendable, Equatable {
        /// Left iff `x < threshold` (XGBoost, ONNX BRANCH_LT).
        case lessThan
        /// Left iff `x <= threshold` (LightGBM, ONNX BRANCH_LEQ).
        case lessThanOrEqual
    }

    public enum Aggregation: Sendable, Equatable {
        case sum
        /// Each output is the sum over trees divided by the number of trees (random forests).
        case average
    }

    /// What a node does with a missing input.
    public enum MissingRule: UInt8, Sendable, Equatable {
        /// NaN takes the default direction; every other value is compared (XGBoost, ONNX, LightGBM `NaN` type).
        case nanTakesDefault = 0
        /// NaN and values with |x| ≤ 1e-35 take the default direction (LightGBM `Zero` missing type).
        case zeroOrNaNTakesDefault = 1
        /// NaN is compared as 0.0 (LightGBM `None` missing type).
        case nanAsZero = 2
    }

    /// LightGBM's kZeroThreshold (1e-35f, a float): values this close to zero count as zero.
    public static let zeroThreshold = Double(Float(1e-35))

    public let featureCount: Int
    /// Number of margins per row (1 for binary and regression, k for k classes).
    public let outputCount: Int
    /// Index of the feature tested by each node; -1 for leaves.
    public let splitFeature: [Int32]
    /// Threshold of each numeric split (unused for leaves and categorical nodes). With `.float32`
    /// input precision every threshold is exactly a float32 value.
    public let threshold: [Double]
    public let leftChild: [Int32]
    public let rightChild: [Int32]
    public let defaultLeft: [Bool]
    public let missing: [MissingRule]
    /// For categorical nodes, the categories going left are `categories[categoryStart[i] ..< categoryStart[i + 1]]`
    /// (sorted, distinct, ≥ 0); the range is empty for numeric nodes.
    public let isCategorical: [Bool]
    public let categoryStart: [Int32]
    public let categories: [Int32]
    public let leafStart: [Int32]
    public let leafTarget: [Int32]
    public let leafWeight: [Double]
    public let treeStart: [Int32]
    /// Added to each output's aggregated leaves (after averaging), in margin space.
    public let baseMargins: [Double]
    public let inputPrecision: Precision
    public let comparison: Comparison
    public let accumulation: Precision
    public let aggregation: Aggregation

    public var treeCount: Int { treeStart.count }
    public var nodeCount: Int { splitFeature.count }
    /// The base margin of a single-output ensemble.
    public var baseMargin: Double { baseMargins[0] }

    /// True when every leaf adds exactly one value (one target per leaf), as in gradient boosting.
    public var hasSingleValueLeaves: Bool {
        (0..<nodeCount).allSatisfy { splitFeature[$0] >= 0 || leafStart[$0 + 1] - leafStart[$0] == 1 }
    }

    /// The node range of tree `t`.
    public func nodes(ofTree t: Int) -> Range<Int> {
        Int(treeStart[t])..<(t + 1 < treeStart.count ? Int(treeStart[t + 1]) : nodeCount)
    }

    /// Depth of the deepest leaf (a single-leaf tree has depth 0).
    public var maxDepth: Int { (0..<treeCount).map(depth(ofTree:)).max() ?? 0 }

    /// Depth of the deepest leaf of tree `t`.
    public func depth(ofTree t: Int) -> Int {
        var deepest = 0
        var stack = [(Int(treeStart[t]), 0)]
        while let (node, depth) = stack.popLast() {
            if splitFeature[node] < 0 {
                deepest = max(deepest, depth)
            } else {
                stack.append((Int(leftChild[node]), depth + 1))
                stack.append((Int(rightChild[node]), depth + 1))
            }
        }
        return deepest
    }

    init(
        featureCount: Int, outputCount: Int, splitFeature: [Int32], threshold: [Double], leftChild: [Int32],
        rightChild: [Int32], defaultLeft: [Bool], missing: [MissingRule], isCategorical: [Bool], categoryStart: [Int32],
        categories: [Int32], leafStart: [Int32], leafTarget: [Int32], leafWeight: [Double], treeStart: [Int32],
        baseMargins: [Double], inputPrecision: Precision, comparison: Comparison, accumulation: Precision,
        aggregation: Aggregation
    ) {
        self.featureCount = featureCount
        self.outputCount = outputCount
        self.splitFeature = splitFeature
        self.threshold = threshold
        self.leftChild = leftChild
        self.rightChild = rightChild
        self.defaultLeft = defaultLeft
        self.missing = missing
        self.isCategorical = isCategorical
        self.categoryStart = categoryStart
        self.categories = categories
        self.leafStart = leafStart
        self.leafTarget = leafTarget
        self.leafWeight = leafWeight
        self.treeStart = treeStart
        self.baseMargins = baseMargins
        self.inputPrecision = inputPrecision
        self.comparison = comparison
        self.accumulation = accumulation
        self.aggregation = aggregation
    }

    /// A copy with different split semantics, for tests that prove the fixtures detect wrong semantics.
    func withSemantics(inputPrecision: Precision? = nil, comparison: Comparison? = nil, defaultLeft: [Bool]? = nil) -> TreeEnsemble {
        TreeEnsemble(
            featureCount: featureCount, outputCount: outputCount, splitFeature: splitFeature, threshold: threshold,
            leftChild: leftChild, rightChild: rightChild, defaultLeft: defaultLeft ?? self.defaultLeft, missing: missing,
            isCategorical: isCategorical, categoryStart: categoryStart, categories: categories, leafStart: leafStart,
            leafTarget: leafTarget, leafWeight: leafWeight, treeStart: treeStart, baseMargins: baseMargins,
            inputPrecision: inputPrecision ?? self.inputPrecision, comparison: comparison ?? self.comparison,
            accumulation: accumulation, aggregation: aggregation)
    }

    /// Which way a numeric or categorical node sends `x` (already rounded to the input precision).
    /// This is the reference definition every evaluator must reproduce.
    @inline(__always)
    func goesLeft(node i: Int, x rawValue: Double) -> Bool {
        var x = rawValue
        switch missing[i] {
        case .nanTakesDefault:
            if x.isNaN { return defaultLeft[i] }
        case .zeroOrNaNTakesDefault:
            if x.isNaN || abs(x) <= Self.zeroThreshold { return defaultLeft[i] }
        case .nanAsZero:
            if x.isNaN { x = 0 }
        }
        if isCategorical[i] {
            // Categories are compared as integers after truncation toward zero, as LightGBM and XGBoost
            // do; negative and out-of-range values match no category.
            guard x > -1, x < 2_147_483_648 else { return false }
            let category = Int32(x.rounded(.towardZero))
            let set = categories[Int(categoryStart[i])..<Int(categoryStart[i + 1])]
            return set.contains(category)
        }
        return comparison == .lessThan ? x < threshold[i] : x <= threshold[i]
    }
}

/// One node of a tree being added to a `TreeEnsembleBuilder`; child indices are tree-local.
public enum TreeNodeSpec: Sendable, Equatable {
    case split(feature: Int, threshold: Double, left: Int, right: Int, defaultLeft: Bool, missing: TreeEnsemble.MissingRule)
    /// Left iff the input (truncated to an integer) is in `leftCategories`.
    case categorical(feature: Int, leftCategories: [Int32], left: Int, right: Int, defaultLeft: Bool, missing: TreeEnsemble.MissingRule)
    /// Adds each weight to its target output.
    case leaf([LeafOutput])

    public struct LeafOutput: Sendable, Equatable {
        public var target: Int
        public var weight: Double
        public init(target: Int, weight: Double) {
            self.target = target
            self.weight = weight
        }
    }

    public static func leaf(_ value: Double, target: Int = 0) -> TreeNodeSpec { .leaf([LeafOutput(target: target, weight: value)]) }
}

/// Assembles and validates a `TreeEnsemble` tree by tree.
public struct TreeEnsembleBuilder: Sendable {
    public let featureCount: Int
    public let outputCount: Int
    public var baseMargins: [Double]
    public var inputPrecision: TreeEnsemble.Precision
    public var comparison: TreeEnsemble.Comparison
    public var accumulation: TreeEnsemble.Precision
    public var aggregation: TreeEnsemble.Aggregation = .sum

    private var splitFeature: [Int32] = []
    private var threshold: [Double] = []
    private var leftChild: [Int32] = []
    private var rightChild: [Int32] = []
    private var defaultLeft: [Bool] = []
    private var missing: [TreeEnsemble.MissingRule] = []
    private var isCategorical: [Bool] = []
    private var categoryStart: [Int32] = [0]
    private var categories: [Int32] = []
    private var leafStart: [Int32] = [0]
    private var leafTarget: [Int32] = []
    private var leafWeight: [Double] = []
    private var treeStart: [Int32] = []

    public init(
        featureCount: Int, outputCount: Int, baseMargins: [Double], inputPrecision: TreeEnsemble.Precision,
        comparison: TreeEnsemble.Comparison, accumulation: TreeEnsemble.Precision
    ) {
        self.featureCount = featureCount
        self.outputCount = outputCount
        self.baseMargins = baseMargins
        self.inputPrecision = inputPrecision
        self.comparison = comparison
        self.accumulation = accumulation
    }

    public var treeCount: Int { treeStart.count }

    /// Adds one tree whose root is `nodes[0]`. Checks that it is a proper binary tree (every node
    /// reached exactly once from the root), that features, targets and values are valid, and that
    /// float32 models have float32 thresholds. `name` prefixes error messages (e.g. "tree 12").
    public mutating func addTree(_ nodes: [TreeNodeSpec], name: String) throws {
        guard !nodes.isEmpty else { throw ModelError.malformed("\(name): no nodes") }
        guard splitFeature.count + nodes.count <= Int(Int32.max) else { throw ModelError.unsupported("model too large") }
        var reached = [Bool](repeating: false, count: nodes.count)
        var stack = [0]
        while let i = stack.popLast() {
            guard !reached[i] else { throw ModelError.malformed("\(name): node \(i) is reached twice (cycle or shared node)") }
            reached[i] = true
            switch nodes[i] {
            case .split(_, _, let left, let right, _, _), .categorical(_, _, let left, let right, _, _):
                for child in [left, right] {
                    guard child > 0, child < nodes.count else {
                        throw ModelError.malformed("\(name): node \(i) has child \(child) outside the tree")
                    }
                    stack.append(child)
                }
            case .leaf: break
            }
        }
        if let orphan = reached.firstIndex(of: false) {
            throw ModelError.malformed("\(name): node \(orphan) is not reachable from the root")
        }
        let offset = Int32(splitFeature.count)
        treeStart.append(offset)
        for (i, node) in nodes.enumerated() {
            switch node {
            case .split(let feature, let value, let left, let right, let defaultsLeft, let rule):
                try checkFeature(feature, name: name, node: i)
                guard !value.isNaN else { throw ModelError.malformed("\(name) node \(i): threshold is NaN") }
                if inputPrecision == .float32 && Double(Float(value)) != value {
                    throw ModelError.malformed("\(name) node \(i): threshold \(value) is not a float32 value")
                }
                appendSplit(feature: feature, threshold: value, left: offset + Int32(left), right: offset + Int32(right),
                            defaultLeft: defaultsLeft, missing: rule, categorical: false)
            case .categorical(let feature, let set, let left, let right, let defaultsLeft, let rule):
                try checkFeature(feature, name: name, node: i)
                let sorted = Array(Set(set)).sorted()
                guard sorted.first.map({ $0 >= 0 }) ?? true else {
                    throw ModelError.malformed("\(name) node \(i): negative category in a categorical split")
                }
                categories += sorted
                appendSplit(feature: feature, threshold: 0, left: offset + Int32(left), right: offset + Int32(right),
                            defaultLeft: defaultsLeft, missing: rule, categorical: true)
                categoryStart[categoryStart.count - 1] = Int32(categories.count)
            case .leaf(let outputs):
                guard !outputs.isEmpty else { throw ModelError.malformed("\(name) node \(i): leaf without a value") }
                for output in outputs {
                    guard output.target >= 0, output.target < outputCount else {
                        throw ModelError.malformed("\(name) node \(i): leaf targets output \(output.target) of \(outputCount)")
                    }
                    guard output.weight.isFinite else { throw ModelError.malformed("\(name) node \(i): leaf value \(output.weight) is not finite") }
                    leafTarget.append(Int32(output.target))
                    leafWeight.append(output.weight)
                }
                splitFeature.append(-1)
                threshold.append(0)
                leftChild.append(-1)
                rightChild.append(-1)
                defaultLeft.append(false)
                missing.append(.nanTakesDefault)
                isCategorical.append(false)
                categoryStart.append(Int32(categories.count))
            }
            leafStart.append(Int32(leafTarget.count))
        }
    }

    private func checkFeature(_ feature: Int, name: String, node: Int) throws {
        guard feature >= 0, feature < featureCount else {
            throw ModelError.malformed("\(name) node \(node): split on feature \(feature) but the model has \(featureCount) features")
        }
    }

    private mutating func appendSplit(feature: Int, threshold value: Double, left: Int32, right: Int32, defaultLeft defaultsLeft: Bool,
                                      missing rule: TreeEnsemble.MissingRule, categorical: Bool) {
        splitFeature.append(Int32(feature))
        threshold.append(value)
        leftChild.append(left)
        rightChild.append(right)
        defaultLeft.append(defaultsLeft)
        missing.append(rule)
        isCategorical.append(categorical)
        categoryStart.append(Int32(categories.count))
    }

    public func build() throws -> TreeEnsemble {
        guard featureCount >= 1 else { throw ModelError.malformed("the model has \(featureCount) features") }
        guard outputCount >= 1 else { throw ModelError.malformed("the model has \(outputCount) outputs") }
        guard baseMargins.count == outputCount else {
            throw ModelError.malformed("\(baseMargins.count) base margins for \(outputCount) outputs")
        }
        guard baseMargins.allSatisfy(\.isFinite) else { throw ModelError.malformed("a base margin is not finite (\(baseMargins))") }
        guard !treeStart.isEmpty else { throw ModelError.malformed("the model has no trees") }
        return TreeEnsemble(
            featureCount: featureCount, outputCount: outputCount, splitFeature: splitFeature, threshold: threshold,
            leftChild: leftChild, rightChild: rightChild, defaultLeft: defaultLeft, missing: missing,
            isCategorical: isCategorical, categoryStart: categoryStart, categories: categories, leafStart: leafStart,
            leafTarget: leafTarget, leafWeight: leafWeight, treeStart: treeStart, baseMargins: baseMargins,
            inputPrecision: inputPrecision, comparison: comparison, accumulation: accumulation, aggregation: aggregation)
    }
}
