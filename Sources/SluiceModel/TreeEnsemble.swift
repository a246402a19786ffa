/// A format-neutral, validated ensemble of binary decision trees that sum to a raw score (margin).
///
/// Every format loader (XGBoost JSON now; LightGBM text and ONNX TreeEnsemble later) produces one of
/// these, and every evaluator (the scalar one here; SIMD/batch ones later) consumes it. The numeric
/// semantics that differ between libraries are explicit fields rather than assumptions:
///
/// - `inputPrecision`: XGBoost converts every input to float32 before comparing (`.float32`);
///   LightGBM compares doubles (`.float64`).
/// - `comparison`: XGBoost goes left iff `x < threshold`; LightGBM and ONNX's BRANCH_LEQ iff `x <= threshold`.
/// - `accumulation`: XGBoost adds leaf values into a float32 running sum that starts at the base
///   margin (`.float32`); LightGBM sums in double (`.float64`).
/// - Missing values (NaN) go to the node's default direction (`defaultLeft`).
///
/// Storage is flat (structure of arrays over all nodes of all trees): node `i` is a leaf iff
/// `splitFeature[i] < 0`; child indices are absolute node indices inside the same tree; tree `t`
/// owns the nodes `treeStart[t] ..< treeStart[t + 1]` (or `..< nodeCount` for the last one) and its
/// root is `treeStart[t]`.
public struct TreeEnsemble: Sendable, Equatable {
    public enum Precision: Sendable, Equatable {
        case float32
        case float64
    }

    public enum Comparison: Sendable, Equatable {
        /// Left iff `x < threshold` (XGBoost).
        case lessThan
        /// Left iff `x <= threshold` (LightGBM, ONNX BRANCH_LEQ).
        case lessThanOrEqual
    }

    /// Number of input features (row width).
    public let featureCount: Int
    /// Index of the feature tested by each node; -1 for leaves.
    public let splitFeature: [Int32]
    /// Split threshold of each node (unused for leaves). With `.float32` input precision every
    /// threshold is exactly a float32 value.
    public let threshold: [Double]
    /// Absolute node index of the left/right child; -1 for leaves.
    public let leftChild: [Int32]
    public let rightChild: [Int32]
    /// Direction a missing (NaN) input takes at each node.
    public let defaultLeft: [Bool]
    /// Value of each leaf (0 for split nodes).
    public let leafValue: [Double]
    /// First node (the root) of each tree.
    public let treeStart: [Int32]
    /// Added to the sum of the leaves to give the margin (already in margin space).
    public let baseMargin: Double
    public let inputPrecision: Precision
    public let comparison: Comparison
    public let accumulation: Precision

    public var treeCount: Int { treeStart.count }
    public var nodeCount: Int { splitFeature.count }

    /// Builds and validates an ensemble: array lengths agree, children stay inside their tree,
    /// every tree is a proper binary tree from its root (no cycles or shared nodes), features are in range.
    public init(
        featureCount: Int,
        splitFeature: [Int32],
        threshold: [Double],
        leftChild: [Int32],
        rightChild: [Int32],
        defaultLeft: [Bool],
        leafValue: [Double],
        treeStart: [Int32],
        baseMargin: Double,
        inputPrecision: Precision,
        comparison: Comparison,
        accumulation: Precision
    ) throws {
        let n = splitFeature.count
        guard featureCount >= 0 else { throw ModelError.malformed("negative feature count \(featureCount)") }
        guard threshold.count == n, leftChild.count == n, rightChild.count == n, defaultLeft.count == n,
              leafValue.count == n
        else { throw ModelError.malformed("tree ensemble node arrays have different lengths") }
        guard n <= Int(Int32.max) else { throw ModelError.unsupported("more than \(Int32.max) nodes") }
        guard baseMargin.isFinite else { throw ModelError.malformed("base margin is not finite (\(baseMargin))") }

        var visited = [Bool](repeating: false, count: n)
        var stack: [Int] = []
        for (t, start32) in treeStart.enumerated() {
            let start = Int(start32)
            let end = t + 1 < treeStart.count ? Int(treeStart[t + 1]) : n
            guard start >= 0, start < end, end <= n else {
                throw ModelError.malformed("tree \(t): node range \(start)..<\(end) is empty or out of bounds")
            }
            stack.append(start)
            while let i = stack.popLast() {
                guard !visited[i] else {
                    throw ModelError.malformed("tree \(t): node \(i - start) is reached twice (cycle or shared node)")
                }
                visited[i] = true
                let feature = Int(splitFeature[i])
                if feature < 0 {
                    guard leafValue[i].isFinite else {
                        throw ModelError.malformed("tree \(t) node \(i - start): leaf value \(leafValue[i]) is not finite")
                    }
                    continue
                }
                guard feature < featureCount else {
                    throw ModelError.malformed(
                        "tree \(t) node \(i - start): split on feature \(feature) but the model has \(featureCount) features")
                }
                guard !threshold[i].isNaN else {
                    throw ModelError.malformed("tree \(t) node \(i - start): threshold is NaN")
                }
                if inputPrecision == .float32 && Double(Float(threshold[i])) != threshold[i] {
                    throw ModelError.malformed("tree \(t) node \(i - start): threshold \(threshold[i]) is not a float32 value")
                }
                for child in [Int(leftChild[i]), Int(rightChild[i])] {
                    guard child >= start, child < end else {
                        throw ModelError.malformed("tree \(t) node \(i - start): child \(child - start) is outside the tree")
                    }
                    stack.append(child)
                }
            }
        }
        guard !treeStart.isEmpty || n == 0 else { throw ModelError.malformed("nodes without trees") }

        self.featureCount = featureCount
        self.splitFeature = splitFeature
        self.threshold = threshold
        self.leftChild = leftChild
        self.rightChild = rightChild
        self.defaultLeft = defaultLeft
        self.leafValue = leafValue
        self.treeStart = treeStart
        self.baseMargin = baseMargin
        self.inputPrecision = inputPrecision
        self.comparison = comparison
        self.accumulation = accumulation
    }
}

/// The straightforward evaluator: walks each tree from its root for each row.
///
/// Nodes are packed into one array of small structs (one cache line holds two nodes) with child
/// indices relative to the whole array. Inputs are first rounded to the ensemble's input precision
/// into a per-call scratch row, so the inner loop is a plain double comparison. A later, SIMD-fast
/// evaluator must reproduce these results exactly; this one is the reference.
struct ScalarTreeEvaluator: Sendable {
    private struct Node: Sendable {
        var threshold: Double   // split threshold, or leaf value for leaves
        var feature: Int32      // -1 for a leaf
        var left: Int32
        var right: Int32
        var defaultLeft: Bool
    }

    private let nodes: [Node]
    private let roots: [Int32]
    let featureCount: Int
    private let baseMargin: Double
    private let roundInputsToFloat: Bool
    private let lessOrEqual: Bool
    private let float32Sum: Bool

    init(_ ensemble: TreeEnsemble) {
        var nodes: [Node] = []
        nodes.reserveCapacity(ensemble.nodeCount)
        for i in 0..<ensemble.nodeCount {
            let isLeaf = ensemble.splitFeature[i] < 0
            nodes.append(Node(
                threshold: isLeaf ? ensemble.leafValue[i] : ensemble.threshold[i],
                feature: ensemble.splitFeature[i],
                left: ensemble.leftChild[i],
                right: ensemble.rightChild[i],
                defaultLeft: ensemble.defaultLeft[i]))
        }
        self.nodes = nodes
        self.roots = ensemble.treeStart
        self.featureCount = ensemble.featureCount
        self.baseMargin = ensemble.baseMargin
        self.roundInputsToFloat = ensemble.inputPrecision == .float32
        self.lessOrEqual = ensemble.comparison == .lessThanOrEqual
        self.float32Sum = ensemble.accumulation == .float32
    }

    /// Margins of `rowCount` row-major rows; `margins` must hold at least `rowCount` values.
    func margins(features: UnsafeBufferPointer<Double>, rowCount: Int, into margins: UnsafeMutableBufferPointer<Double>) {
        let width = featureCount
        withUnsafeTemporaryAllocation(of: Double.self, capacity: max(width, 1)) { scratch in
            nodes.withUnsafeBufferPointer { nodes in
                roots.withUnsafeBufferPointer { roots in
                    for row in 0..<rowCount {
                        let base = row * width
                        if roundInputsToFloat {
                            // NaN stays NaN; out-of-range values become ±inf, as in XGBoost's float cast.
                            for j in 0..<width { scratch[j] = Double(Float(features[base + j])) }
                        } else {
                            for j in 0..<width { scratch[j] = features[base + j] }
                        }
                        margins[row] = margin(row: UnsafeBufferPointer(scratch), nodes: nodes, roots: roots)
                    }
                }
            }
        }
    }

    @inline(__always)
    private func leafIndex(root: Int, row: UnsafeBufferPointer<Double>, nodes: UnsafeBufferPointer<Node>) -> Int {
        var i = root
        while true {
            let node = nodes[i]
            if node.feature < 0 { return i }
            let x = row[Int(node.feature)]
            let goLeft: Bool
            if x.isNaN {
                goLeft = node.defaultLeft
            } else if lessOrEqual {
                goLeft = x <= node.threshold
            } else {
                goLeft = x < node.threshold
            }
            i = Int(goLeft ? node.left : node.right)
        }
    }

    @inline(__always)
    private func margin(row: UnsafeBufferPointer<Double>, nodes: UnsafeBufferPointer<Node>, roots: UnsafeBufferPointer<Int32>) -> Double {
        if float32Sum {
            // XGBoost's CPU predictor initialises each output with the base margin (a float) and adds
            // each tree's float leaf value in tree order, rounding to float32 after every addition.
            // This reproduced XGBoost 3.2 `inplace_predict(..., predict_type="margin")` bit for bit on
            // the fixtures, where summing the leaves first and adding the base margin last, or summing
            // in double, differed by up to ~3e-6.
            var sum = Float(baseMargin)
            for root in roots {
                sum += Float(nodes[leafIndex(root: Int(root), row: row, nodes: nodes)].threshold)
            }
            return Double(sum)
        } else {
            var sum = baseMargin
            for root in roots {
                sum += nodes[leafIndex(root: Int(root), row: row, nodes: nodes)].threshold
            }
            return sum
        }
    }
}
