/// The fast evaluator (placeholder: delegates to the reference until the SIMD layout lands).
struct CompiledEnsemble: Sendable {
    let reference: ReferenceEvaluator
    init(_ ensemble: TreeEnsemble) { reference = ReferenceEvaluator(ensemble: ensemble) }
    func margins(features: UnsafeBufferPointer<Double>, rowCount: Int, into margins: UnsafeMutableBufferPointer<Double>) {
        reference.margins(features: features, rowCount: rowCount, into: margins)
    }
}
