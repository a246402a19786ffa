/// How split tests become small-integer comparisons.
///
/// Every numeric node tests `x < t` (XGBoost) or `x <= t` (LightGBM, ONNX) against one of its
/// feature's thresholds. Sorting each feature's distinct thresholds t₀ < t₁ < … turns every test
/// into `bin(x) <= k`, where k is the node threshold's rank and bin(x) counts the thresholds that
/// x passes (`t ≤ x` for `<`, `t < x` for `<=`). That is exact (one binary search per feature and
/// row, in the input precision), and it lets the evaluators compare narrow integers.
///
/// Missing values depend on the node, so each feature has up to five *column variants*, each a
/// complete bin assignment in which NaN (and, for LightGBM's zero-as-missing, |x| ≤ 1e-35) is
/// pinned to the lowest bin (always left) or the highest (always right), or NaN is read as 0.
/// Categorical nodes get a column of their own holding 0 (left) or "high" (right) per row.
struct ColumnLayout: Sendable {
    enum Variant: UInt8, Sendable {
        case nanLeft, nanRight, zeroOrNaNLeft, zeroOrNaNRight, nanAsZero
    }

    enum Source: Sendable, Equatable {
        case numeric(feature: Int, variant: Variant)
        /// The categorical node whose test this column holds.
        case categorical(node: Int)
    }

    /// Sorted distinct thresholds per feature, in the input precision.
    let thresholds: [[Double]]
    let columns: [Source]
    /// Per node: its column and threshold rank (0 for categorical nodes); unused for leaves.
    let nodeColumn: [Int32]
    let nodeRank: [Int32]
    let lessThan: Bool
    let roundToFloat: Bool

    init(_ e: TreeEnsemble) {
        var perFeature = [Set<Double>](repeating: [], count: e.featureCount)
        for i in 0..<e.nodeCount where e.splitFeature[i] >= 0 && !e.isCategorical[i] {
            perFeature[Int(e.splitFeature[i])].insert(e.threshold[i])
        }
        thresholds = perFeature.map { $0.sorted() }
        lessThan = e.comparison == .lessThan
        roundToFloat = e.inputPrecision == .float32
        var columns: [Source] = []
        var index: [Source: Int] = [:]
        var nodeColumn = [Int32](repeating: -1, count: e.nodeCount)
        var nodeRank = [Int32](repeating: 0, count: e.nodeCount)
        for i in 0..<e.nodeCount where e.splitFeature[i] >= 0 {
            let source: Source
            if e.isCategorical[i] {
                source = .categorical(node: i)
            } else {
                let feature = Int(e.splitFeature[i])
                let variant: Variant
                switch e.missing[i] {
                case .nanTakesDefault: variant = e.defaultLeft[i] ? .nanLeft : .nanRight
                case .zeroOrNaNTakesDefault: variant = e.defaultLeft[i] ? .zeroOrNaNLeft : .zeroOrNaNRight
                case .nanAsZero: variant = .nanAsZero
                }
                source = .numeric(feature: feature, variant: variant)
                nodeRank[i] = Int32(Self.rank(of: e.threshold[i], in: thresholds[feature]))
            }
            if let existing = index[source] {
                nodeColumn[i] = Int32(existing)
            } else {
                index[source] = columns.count
                nodeColumn[i] = Int32(columns.count)
                columns.append(source)
            }
        }
        self.columns = columns
        self.nodeColumn = nodeColumn
        self.nodeRank = nodeRank
    }

    private static func rank(of value: Double, in sorted: [Double]) -> Int {
        var low = 0
        var high = sorted.count
        while low < high {
            let mid = (low + high) / 2
            if sorted[mid] < value { low = mid + 1 } else { high = mid }
        }
        return low
    }

    /// What a column holds for one row value: a bin, or "always left"/"always right".
    enum ColumnValue {
        case bin(Int)
        case left
        case right
    }

    /// Column `c`'s value for the raw input `rawInput`; `count` gives a feature's bin for a non-NaN value.
    @inline(__always)
    func value(column c: Int, rawInput: Double, ensemble e: TreeEnsemble, count: (Int, Double) -> Int) -> ColumnValue {
        let x = roundToFloat ? Double(Float(rawInput)) : rawInput
        switch columns[c] {
        case .categorical(let node):
            return e.goesLeft(node: node, x: x) ? .left : .right
        case .numeric(let feature, let variant):
            let isZero = x.isNaN || abs(x) <= TreeEnsemble.zeroThreshold
            switch variant {
            case .nanLeft: return x.isNaN ? .left : .bin(count(feature, x))
            case .nanRight: return x.isNaN ? .right : .bin(count(feature, x))
            case .zeroOrNaNLeft: return isZero ? .left : .bin(count(feature, x))
            case .zeroOrNaNRight: return isZero ? .right : .bin(count(feature, x))
            case .nanAsZero: return .bin(count(feature, x.isNaN ? 0 : x))
            }
        }
    }

    /// The input feature a column reads.
    func feature(ofColumn c: Int, ensemble e: TreeEnsemble) -> Int {
        switch columns[c] {
        case .categorical(let node): return Int(e.splitFeature[node])
        case .numeric(let feature, _): return feature
        }
    }
}

extension ColumnLayout.Source: Hashable {}
extension ColumnLayout.Variant: Hashable {}
