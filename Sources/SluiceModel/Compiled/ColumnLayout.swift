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

    /// A numeric input as the columns read it: rounded to the input precision, with the two
    /// properties the missing-value variants test.
    struct Input {
        var x: Double
        var isNaN: Bool
        /// NaN, or |x| ≤ LightGBM's zero threshold.
        var isZero: Bool

        @inline(__always)
        init(_ raw: Double, roundToFloat: Bool) {
            x = roundToFloat ? Double(Float(raw)) : raw
            isNaN = x.isNaN
            isZero = isNaN || abs(x) <= TreeEnsemble.zeroThreshold
        }
    }
}

extension ColumnLayout.Variant {
    enum Pin { case left, right }

    /// Which inputs this variant pins (those that are NaN, or those that count as zero, NaN
    /// included) and to which side; nil for `.nanAsZero`, which never pins (NaN is binned as 0).
    var pinRule: (zero: Bool, side: Pin)? {
        switch self {
        case .nanLeft: return (false, .left)
        case .nanRight: return (false, .right)
        case .zeroOrNaNLeft: return (true, .left)
        case .zeroOrNaNRight: return (true, .right)
        case .nanAsZero: return nil
        }
    }

    /// Where this variant pins `input`, or nil when the input is compared through its bin.
    @inline(__always)
    func pin(_ input: ColumnLayout.Input) -> Pin? {
        guard let rule = pinRule, rule.zero ? input.isZero : input.isNaN else { return nil }
        return rule.side
    }
}

extension ColumnLayout.Source: Hashable {}
extension ColumnLayout.Variant: Hashable {}
