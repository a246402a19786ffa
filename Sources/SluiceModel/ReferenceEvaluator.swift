/// The plain evaluator every faster one must agree with bit for bit: walks each tree from its
/// root for each row, using `TreeEnsemble.goesLeft`, and accumulates exactly as the format's
/// library does:
///
/// - `.float32` accumulation (XGBoost): each output starts at its float32 base margin and adds each
///   tree's float leaf value in tree order, rounding after every addition. This reproduced XGBoost
///   3.2 `inplace_predict(..., predict_type="margin")` bit for bit, where summing the leaves first
///   and adding the base margin last, or summing in double, differed by up to ~3e-6.
/// - `.float64` accumulation (LightGBM, scikit-learn): leaves are summed in double in tree order
///   from 0, averaged when the ensemble averages, then the base margin is added.
struct ReferenceEvaluator: Sendable {
    let ensemble: TreeEnsemble

    /// Margins of `rowCount` row-major rows, `outputCount` per row.
    func margins(features: UnsafeBufferPointer<Double>, rowCount: Int, into margins: UnsafeMutableBufferPointer<Double>) {
        let e = ensemble
        let width = e.featureCount
        let outputs = e.outputCount
        var row = [Double](repeating: 0, count: width)
        var sum32 = [Float](repeating: 0, count: outputs)
        var sum64 = [Double](repeating: 0, count: outputs)
        for r in 0..<rowCount {
            for j in 0..<width {
                let x = features[r * width + j]
                row[j] = e.inputPrecision == .float32 ? Double(Float(x)) : x
            }
            for k in 0..<outputs {
                sum32[k] = Float(e.baseMargins[k])
                sum64[k] = 0
            }
            for t in 0..<e.treeCount {
                var i = Int(e.treeStart[t])
                while e.splitFeature[i] >= 0 {
                    i = Int(e.goesLeft(node: i, x: row[Int(e.splitFeature[i])]) ? e.leftChild[i] : e.rightChild[i])
                }
                for k in Int(e.leafStart[i])..<Int(e.leafStart[i + 1]) {
                    let target = Int(e.leafTarget[k])
                    if e.accumulation == .float32 {
                        sum32[target] += Float(e.leafWeight[k])
                    } else {
                        sum64[target] += e.leafWeight[k]
                    }
                }
            }
            for k in 0..<outputs {
                if e.accumulation == .float32 {
                    margins[r * outputs + k] = Double(sum32[k])
                } else {
                    let aggregated = e.aggregation == .average ? sum64[k] / Double(e.treeCount) : sum64[k]
                    margins[r * outputs + k] = aggregated + e.baseMargins[k]
                }
            }
        }
    }
}
