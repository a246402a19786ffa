import Foundation
import XCTest
@testable import SluiceModel

/// Compares Sluice's predictions with XGBoost's own `inplace_predict` outputs on the fixtures
/// (scripts/models/make_xgboost_fixture.py). The input rows include NaN, values exactly equal to
/// split thresholds, their float32 neighbours, and doubles that equal a threshold only once rounded
/// to float32, so a predictor with the wrong comparison, precision or missing-value rule fails here.
final class XGBoostParityTests: XCTestCase {
    private func score(_ model: LoadedModel, _ input: Fixtures.Table) -> (margins: [Double], outputs: [Double]) {
        let features = input.flattened
        var margins = [Double](repeating: .nan, count: input.rows.count)
        var outputs = [Double](repeating: .nan, count: input.rows.count)
        features.withUnsafeBufferPointer { f in
            margins.withUnsafeMutableBufferPointer { m in
                outputs.withUnsafeMutableBufferPointer { o in
                    model.predict(features: f, rowCount: input.rows.count, margins: m, outputs: o)
                }
            }
        }
        return (margins, outputs)
    }

    /// One model fixture: `<name>.json`, `<name>_input.csv`, `<name>_expected.csv`.
    struct Case {
        var name: String
        var objective: ModelObjective
        var trees: Int
        var minRows: Int
    }

    static let cases = [
        Case(name: "xgb_binary", objective: .binaryLogistic, trees: 100, minRows: 2000),        // XGBoost 3.2
        Case(name: "xgb_regression", objective: .regression, trees: 60, minRows: 2000),         // XGBoost 3.2
        Case(name: "xgb_reglogistic", objective: .regressionLogistic, trees: 30, minRows: 400), // XGBoost 3.2
        Case(name: "xgb17_binary", objective: .binaryLogistic, trees: 30, minRows: 400),        // XGBoost 1.7
        Case(name: "xgb17_reglogistic", objective: .regressionLogistic, trees: 30, minRows: 400), // XGBoost 1.7
    ]

    func testSingleRowNodeFormatsMatchReference() throws {
        for testCase in Self.cases {
            let model = try LoadedModel.load(contentsOf: Fixtures.url(testCase.name + ".json"))
            let input = try Fixtures.csv(testCase.name + "_input.csv")
            XCTAssertEqual(TreeParity.checkRowWalkerFormats(model, input: input, label: testCase.name), .compactStreams, testCase.name)
        }
    }

    /// |p_sluice - p_xgb| <= 1e-6 for probabilities, <= 1e-5 for margins, <= 1e-5 relative for
    /// regression values, on every row of every fixture.
    func testParityWithXGBoost() throws {
        for testCase in Self.cases {
            let model = try LoadedModel.load(contentsOf: Fixtures.url(testCase.name + ".json"))
            let input = try Fixtures.csv(testCase.name + "_input.csv")
            let expected = try Fixtures.csv(testCase.name + "_expected.csv")
            let label = testCase.name

            XCTAssertEqual(model.format, "xgboost-json", label)
            XCTAssertEqual(model.objective, testCase.objective, label)
            XCTAssertEqual(model.featureCount, 12, label)
            XCTAssertEqual(model.ensemble.treeCount, testCase.trees, label)
            XCTAssertEqual(model.featureNames, input.header, label)
            XCTAssertGreaterThanOrEqual(input.rows.count, testCase.minRows, label)
            XCTAssertEqual(input.rows.count, expected.rows.count, label)
            XCTAssertTrue(input.flattened.contains { $0.isNaN }, "\(label): fixture must contain missing values")

            let (margins, outputs) = score(model, input)
            let outputColumn = testCase.objective == .binaryLogistic ? "prob" : "value"
            let expectedOutput = expected.column(outputColumn)
            let expectedMargin = expected.header.contains("margin") ? expected.column("margin") : nil
            var maxOutputError = 0.0
            var maxMarginError = 0.0
            var exactMargins = 0
            for row in 0..<input.rows.count {
                let outputError = abs(outputs[row] - expectedOutput[row])
                maxOutputError = max(maxOutputError, outputError)
                switch testCase.objective {
                case .binaryLogistic, .regressionLogistic:
                    XCTAssertLessThanOrEqual(outputError, 1e-6,
                        "\(label) row \(row): \(outputColumn) \(outputs[row]) vs xgboost \(expectedOutput[row])")
                default:
                    XCTAssertEqual(margins[row], outputs[row], "regression output is the margin")
                    XCTAssertLessThanOrEqual(outputError, 1e-5 * max(1, abs(expectedOutput[row])),
                        "\(label) row \(row): value \(outputs[row]) vs xgboost \(expectedOutput[row])")
                }
                let referenceMargin = expectedMargin?[row] ?? expectedOutput[row]
                let marginError = abs(margins[row] - referenceMargin)
                maxMarginError = max(maxMarginError, marginError)
                if marginError == 0 { exactMargins += 1 }
                XCTAssertLessThanOrEqual(marginError, 1e-5 * max(1, abs(referenceMargin)),
                    "\(label) row \(row): margin \(margins[row]) vs xgboost \(referenceMargin)")
            }
            print("\(label) parity: rows \(input.rows.count), max |Δ\(outputColumn)| \(maxOutputError), "
                  + "max |Δmargin| \(maxMarginError), bit-exact margins \(exactMargins)/\(input.rows.count)")
        }
    }

    func testSingleRowMatchesBatch() throws {
        let model = try LoadedModel.load(contentsOf: Fixtures.url("xgb_binary.json"))
        let input = try Fixtures.csv("xgb_binary_input.csv")
        let (margins, probs) = score(model, input)
        for row in stride(from: 0, to: input.rows.count, by: 7) {
            let single = try model.predict(row: input.rows[row])
            XCTAssertEqual(single.margin, margins[row], "row \(row)")
            XCTAssertEqual(single.output, probs[row], "row \(row)")
        }
    }

    /// The fixtures are sensitive: the same trees evaluated with float64 inputs or `<=` disagree with
    /// XGBoost on some rows (so the parity tests above can fail).
    func testFixturesDetectWrongSplitSemantics() throws {
        let model = try LoadedModel.load(contentsOf: Fixtures.url("xgb_binary.json"))
        let input = try Fixtures.csv("xgb_binary_input.csv")
        let expectedMargin = try Fixtures.csv("xgb_binary_expected.csv").column("margin")

        for (precision, comparison) in [(TreeEnsemble.Precision.float64, TreeEnsemble.Comparison.lessThan),
                                        (.float32, .lessThanOrEqual)] {
            let e = model.ensemble
            let wrong = e.withSemantics(inputPrecision: precision, comparison: comparison)
            let wrongModel = LoadedModel(format: model.format, objective: model.objective, featureNames: model.featureNames,
                                         contentHash: model.contentHash, ensemble: wrong)
            let margins = score(wrongModel, input).margins
            let mismatches = zip(margins, expectedMargin).filter { abs($0 - $1) > 1e-5 }.count
            XCTAssertGreaterThan(mismatches, 20, "\(precision) \(comparison) should disagree with XGBoost")
        }

        // Missing values sent the other way also disagree.
        let e = model.ensemble
        let flipped = e.withSemantics(defaultLeft: e.defaultLeft.map { !$0 })
        let flippedModel = LoadedModel(format: model.format, objective: model.objective, featureNames: model.featureNames,
                                       contentHash: model.contentHash, ensemble: flipped)
        let margins = score(flippedModel, input).margins
        XCTAssertGreaterThan(zip(margins, expectedMargin).filter { abs($0 - $1) > 1e-5 }.count, 20)
    }

    /// XGBoost 3.x writes "base_score":"[2.516E-1]", 1.x/2.x "base_score":"5E-1": rewriting one form
    /// into the other must not change a single prediction.
    func testBaseScorePlainAndBracketedFormatsAgree() throws {
        for name in ["xgb_binary", "xgb_regression", "xgb_reglogistic", "xgb17_binary", "xgb17_reglogistic"] {
            let original = try Fixtures.data(name + ".json")
            let text = String(decoding: original, as: UTF8.self)
            guard let range = text.range(of: #""base_score":"[^"]*""#, options: .regularExpression) else {
                XCTFail("\(name): no base_score")
                continue
            }
            let field = String(text[range])
            let isBracketed = field.contains("[")
            XCTAssertEqual(isBracketed, !name.hasPrefix("xgb17"), "\(name): \(field)")
            let value = field.dropFirst(#""base_score":""#.count).dropLast().filter { $0 != "[" && $0 != "]" }
            let other = isBracketed ? #""base_score":"\#(value)""# : #""base_score":"[\#(value)]""#
            let rewritten = text.replacingCharacters(in: range, with: other)
            XCTAssertNotEqual(rewritten, text)

            let a = try LoadedModel.load(data: original)
            let b = try LoadedModel.load(data: Data(rewritten.utf8))
            XCTAssertEqual(a.ensemble.baseMargin, b.ensemble.baseMargin, name)
            XCTAssertNotEqual(a.contentHash, b.contentHash)
            let input = try Fixtures.csv(name + "_input.csv")
            XCTAssertEqual(score(a, input).margins, score(b, input).margins, name)
        }
    }

    func testBaseMarginValues() throws {
        for testCase in Self.cases {
            let data = try Fixtures.data(testCase.name + ".json")
            let text = String(decoding: data, as: UTF8.self)
            guard let range = text.range(of: #""base_score":"\[?[^\]"]*"#, options: .regularExpression) else {
                XCTFail("\(testCase.name): no base_score")
                continue
            }
            let scoreText = text[range].dropFirst(#""base_score":""#.count).drop { $0 == "[" }
            let score = Float(String(scoreText))!
            let model = try LoadedModel.load(data: data)
            switch testCase.objective {
            case .binaryLogistic, .regressionLogistic:
                // XGBoost's float32 formula, and close to the exact logit.
                let floatLogit: Float = -log(1 / score - 1)
                XCTAssertEqual(model.ensemble.baseMargin, Double(floatLogit), testCase.name)
                let p = Double(score)
                XCTAssertEqual(model.ensemble.baseMargin, log(p / (1 - p)), accuracy: 1e-6, testCase.name)
            default:
                XCTAssertEqual(model.ensemble.baseMargin, Double(score), testCase.name)
            }
        }
    }

    func testContentHashIsSHA256OfTheFile() throws {
        let data = try Fixtures.data("xgb_binary.json")
        let model = try LoadedModel.load(data: data)
        XCTAssertEqual(model.contentHash, SHA256.hex([UInt8](data)))
        XCTAssertEqual(model.contentHash.count, 64)
        XCTAssertEqual(try LoadedModel.load(contentsOf: Fixtures.url("xgb_binary.json")).contentHash, model.contentHash)
    }

    /// The model file is read once and shared: scoring from several threads gives the same results.
    func testConcurrentScoringIsConsistent() throws {
        let model = try LoadedModel.load(contentsOf: Fixtures.url("xgb_binary.json"))
        let input = try Fixtures.csv("xgb_binary_input.csv")
        let reference = score(model, input).margins
        let rows = input.rows
        let results = Mutex4Test(count: 4)
        DispatchQueue.concurrentPerform(iterations: 4) { worker in
            var ok = true
            for row in stride(from: worker, to: rows.count, by: 4) {
                if let r = try? model.predict(row: rows[row]), r.margin == reference[row] { continue }
                ok = false
            }
            results.set(worker, ok)
        }
        XCTAssertEqual(results.values, [true, true, true, true])
    }
}

/// Tiny lock-protected result array for the concurrency test.
final class Mutex4Test: @unchecked Sendable {
    private let lock = NSLock()
    private var storage: [Bool]
    init(count: Int) { storage = Array(repeating: false, count: count) }
    func set(_ index: Int, _ value: Bool) { lock.lock(); storage[index] = value; lock.unlock() }
    var values: [Bool] { lock.lock(); defer { lock.unlock() }; return storage }
}
