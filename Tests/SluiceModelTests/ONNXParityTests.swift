import Foundation
import XCTest
@testable import SluiceModel

/// Compares Sluice's predictions for skl2onnx exports with scikit-learn's own (double) predictions and
/// with onnxruntime's (float32) on the fixtures of scripts/models/make_onnx_fixtures.py. The inputs hold
/// NaN (except for GradientBoosting) and rows planted on split thresholds and their float32 neighbours.
///
/// Rows flagged `path_differs` reach another leaf in scikit-learn than the ONNX file's float32
/// thresholds allow (HistGradientBoosting only, see Fixtures/README.md): they are compared with
/// onnxruntime, every other row with scikit-learn.
final class ONNXParityTests: XCTestCase {
    struct Case {
        var name: String
        var objective: ModelObjective
        var trees: Int
        var pathDiffers: Int
        var hasNaN: Bool
    }

    static let cases = [
        Case(name: "onnx_rf_binary", objective: .binaryProbability, trees: 50, pathDiffers: 0, hasNaN: true),
        Case(name: "onnx_et_regression", objective: .regression, trees: 30, pathDiffers: 0, hasNaN: true),
        Case(name: "onnx_gb_multiclass", objective: .multiclassSoftmax(classes: 3), trees: 90, pathDiffers: 0, hasNaN: false),
        Case(name: "onnx_hgb_binary", objective: .binaryLogistic, trees: 60, pathDiffers: 54, hasNaN: true),
    ]

    private func score(_ model: LoadedModel, _ input: Fixtures.Table) -> (margins: [Double], outputs: [Double]) {
        let features = input.flattened
        let count = input.rows.count * model.outputCount
        var margins = [Double](repeating: .nan, count: count)
        var outputs = [Double](repeating: .nan, count: count)
        features.withUnsafeBufferPointer { f in
            margins.withUnsafeMutableBufferPointer { m in
                outputs.withUnsafeMutableBufferPointer { o in
                    model.predict(features: f, rowCount: input.rows.count, margins: m, outputs: o)
                }
            }
        }
        return (margins, outputs)
    }

    /// Expected outputs per row (`outputCount` each), scikit-learn's and onnxruntime's.
    private func expectedColumns(_ expected: Fixtures.Table, _ objective: ModelObjective)
        -> (sklearn: [[Double]], margin: [[Double]]?, ort: [[Double]]) {
        switch objective {
        case .multiclassSoftmax(let k), .multiclassProbability(let k):
            let sk = (0..<k).map { expected.column("prob_\($0)") }
            let margin = (0..<k).map { expected.column("margin_\($0)") }
            let ort = (0..<k).map { expected.column("ort_prob_\($0)") }
            return (sk, margin, ort)
        case .regression, .regressionLogistic:
            return ([expected.column("value")], nil, [expected.column("ort_value")])
        default:
            return ([expected.column("prob")], [expected.column("margin")], [expected.column("ort_prob")])
        }
    }

    /// |Δ| <= 1e-6 against scikit-learn on every row whose path agrees (relative for regression values),
    /// margins within 1e-5; rows whose path cannot agree match onnxruntime within 1e-5.
    func testParityWithScikitLearnAndOnnxRuntime() throws {
        for testCase in Self.cases {
            let label = testCase.name
            let model = try LoadedModel.load(contentsOf: Fixtures.url(label + ".onnx"))
            let input = try Fixtures.csv(label + "_input.csv")
            let expected = try Fixtures.csv(label + "_expected.csv")

            XCTAssertEqual(model.format, "onnx", label)
            XCTAssertEqual(model.objective, testCase.objective, label)
            XCTAssertEqual(model.featureCount, 12, label)
            XCTAssertNil(model.featureNames, label)
            XCTAssertEqual(model.ensemble.treeCount, testCase.trees, label)
            XCTAssertEqual(model.ensemble.inputPrecision, .float32, label)
            XCTAssertEqual(model.ensemble.accumulation, .float64, label)
            XCTAssertEqual(model.ensemble.comparison, .lessThanOrEqual, label)
            XCTAssertEqual(input.header.count, 12, label)
            XCTAssertGreaterThanOrEqual(input.rows.count, 1000, label)
            XCTAssertEqual(input.rows.count, expected.rows.count, label)
            XCTAssertEqual(input.flattened.contains { $0.isNaN }, testCase.hasNaN, "\(label): missing values")

            let differs = expected.column("path_differs").map { $0 != 0 }
            XCTAssertEqual(differs.filter { $0 }.count, testCase.pathDiffers, "\(label): rows whose path cannot agree")

            let (margins, outputs) = score(model, input)
            let k = model.outputCount
            let columns = expectedColumns(expected, testCase.objective)
            let isRegression = !testCase.objective.isClassifier
            var maxSklearn = 0.0, maxMargin = 0.0, maxOrt = 0.0, maxOrtDiffering = 0.0, minSklearnDiffering = Double.infinity
            for row in 0..<input.rows.count {
                var rowSklearn = 0.0
                for c in 0..<k {
                    let ours = outputs[row * k + c]
                    let sk = columns.sklearn[c][row]
                    let ort = columns.ort[c][row]
                    let skError = abs(ours - sk)
                    let ortError = abs(ours - ort)
                    rowSklearn = max(rowSklearn, skError)
                    maxOrt = max(maxOrt, ortError)
                    if differs[row] {
                        maxOrtDiffering = max(maxOrtDiffering, ortError)
                        XCTAssertLessThanOrEqual(ortError, 1e-5 * (isRegression ? max(1, abs(ort)) : 1),
                            "\(label) row \(row) (path differs from scikit-learn) class \(c): \(ours) vs onnxruntime \(ort)")
                        continue
                    }
                    maxSklearn = max(maxSklearn, skError)
                    XCTAssertLessThanOrEqual(skError, 1e-6 * (isRegression ? max(1, abs(sk)) : 1),
                        "\(label) row \(row) class \(c): \(ours) vs scikit-learn \(sk)")
                    if let margin = columns.margin {
                        let marginError = abs(margins[row * k + c] - margin[c][row])
                        maxMargin = max(maxMargin, marginError)
                        XCTAssertLessThanOrEqual(marginError, 1e-5 * max(1, abs(margin[c][row])),
                            "\(label) row \(row) class \(c): margin \(margins[row * k + c]) vs scikit-learn \(margin[c][row])")
                    }
                }
                if differs[row] { minSklearnDiffering = min(minSklearnDiffering, rowSklearn) }
            }
            if testCase.pathDiffers > 0 {
                // Those rows are real disagreements with scikit-learn, not noise.
                let far = (0..<input.rows.count).filter { differs[$0] && abs(outputs[$0 * k] - columns.sklearn[0][$0]) > 1e-6 }.count
                XCTAssertGreaterThan(far, testCase.pathDiffers / 2, "\(label): path_differs rows should disagree with scikit-learn")
            }
            print("\(label) parity: rows \(input.rows.count), max |Δ| vs scikit-learn \(maxSklearn) (rows with the same path), "
                  + "max |Δmargin| \(maxMargin), max |Δ| vs onnxruntime \(maxOrt) (all rows), \(maxOrtDiffering) on the "
                  + "\(testCase.pathDiffers) rows whose path differs from scikit-learn")
        }
    }

    /// The fixtures are sensitive to every rule the loader maps: NaN direction, float32 inputs, `<=`.
    func testFixturesDetectWrongSemantics() throws {
        for name in ["onnx_rf_binary", "onnx_et_regression", "onnx_hgb_binary", "onnx_gb_multiclass"] {
            let model = try LoadedModel.load(contentsOf: Fixtures.url(name + ".onnx"))
            let input = try Fixtures.csv(name + "_input.csv")
            let reference = score(model, input).outputs
            let e = model.ensemble

            func mismatches(_ wrong: TreeEnsemble) -> Int {
                let wrongModel = LoadedModel(format: model.format, objective: model.objective, featureNames: nil,
                                             contentHash: model.contentHash, ensemble: wrong)
                return zip(score(wrongModel, input).outputs, reference).filter { abs($0 - $1) > 1e-6 }.count
            }
            XCTAssertGreaterThan(mismatches(e.withSemantics(comparison: .lessThan)), 20, "\(name): < instead of <=")
            XCTAssertGreaterThan(mismatches(e.withSemantics(inputPrecision: .float64)), 20, "\(name): float64 inputs")
            if name != "onnx_gb_multiclass" {
                XCTAssertGreaterThan(mismatches(e.withSemantics(defaultLeft: e.defaultLeft.map { !$0 })), 20, "\(name): NaN direction")
            }
        }
    }

    /// What the fixture script repairs: with skl2onnx's raw nodes_missing_value_tracks_true = 0 (NaN to the
    /// false child everywhere) the RandomForest export disagrees with scikit-learn on rows with NaN.
    func testUnrepairedMissingValueTracksDisagreeWithScikitLearn() throws {
        let model = try LoadedModel.load(contentsOf: Fixtures.url("onnx_rf_binary.onnx"))
        let input = try Fixtures.csv("onnx_rf_binary_input.csv")
        let expected = try Fixtures.csv("onnx_rf_binary_expected.csv").column("prob")
        let e = model.ensemble
        XCTAssertTrue(e.defaultLeft.contains(true), "the repaired fixture sends NaN left somewhere")
        let raw = e.withSemantics(defaultLeft: Array(repeating: false, count: e.nodeCount))
        let rawModel = LoadedModel(format: "onnx", objective: model.objective, featureNames: nil, contentHash: model.contentHash, ensemble: raw)
        let outputs = score(rawModel, input).outputs
        var wrongWithNaN = 0
        var wrongWithoutNaN = 0
        for (row, values) in input.rows.enumerated() where abs(outputs[row] - expected[row]) > 1e-6 {
            if values.contains(where: \.isNaN) { wrongWithNaN += 1 } else { wrongWithoutNaN += 1 }
        }
        XCTAssertGreaterThan(wrongWithNaN, 100)
        XCTAssertEqual(wrongWithoutNaN, 0)
    }

    func testSingleRowMatchesBatch() throws {
        for name in ["onnx_gb_multiclass", "onnx_hgb_binary"] {
            let model = try LoadedModel.load(contentsOf: Fixtures.url(name + ".onnx"))
            let input = try Fixtures.csv(name + "_input.csv")
            let (margins, outputs) = score(model, input)
            let k = model.outputCount
            for row in stride(from: 0, to: input.rows.count, by: 11) {
                let single = try model.predict(row: input.rows[row])
                XCTAssertEqual(single.margins, Array(margins[row * k..<(row + 1) * k]), "\(name) row \(row)")
                XCTAssertEqual(single.outputs, Array(outputs[row * k..<(row + 1) * k]), "\(name) row \(row)")
            }
        }
    }

    func testReferenceEvaluatorAgreesWithCompiled() throws {
        for testCase in Self.cases {
            let model = try LoadedModel.load(contentsOf: Fixtures.url(testCase.name + ".onnx"))
            let input = try Fixtures.csv(testCase.name + "_input.csv")
            XCTAssertEqual(model.referenceMargins(features: input.flattened, rowCount: input.rows.count), score(model, input).margins,
                           testCase.name)
        }
    }
}
