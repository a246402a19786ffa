import Foundation
import XCTest
@testable import SluiceModel

/// Parity checks shared by the LightGBM and XGBoost multiclass fixture tests
/// (scripts/models/make_tree_fixtures.py).
enum TreeParity {
    /// One fixture: `<model>`, `<input>_input.csv`, `<expected>_expected.csv`.
    struct Case {
        var name: String
        var modelFile: String
        var input: String
        var objective: ModelObjective
        var trees: Int
        var minRows: Int
    }

    struct Stats {
        var rows = 0
        var maxOutputError = 0.0
        var maxMarginError = 0.0
        var exactMargins = 0
        var marginCount = 0
        /// Rows whose margins differ from the library's by more than the tolerance.
        var mismatchedRows = 0

        var summary: String {
            "rows \(rows), max |Δoutput| \(maxOutputError), max |Δmargin| \(maxMarginError), "
                + "bit-exact margins \(exactMargins)/\(marginCount)"
        }
    }

    static func score(_ model: LoadedModel, _ features: [Double], rows: Int) -> (margins: [Double], outputs: [Double]) {
        var margins = [Double](repeating: .nan, count: rows * model.outputCount)
        var outputs = [Double](repeating: .nan, count: rows * model.outputCount)
        features.withUnsafeBufferPointer { f in
            margins.withUnsafeMutableBufferPointer { m in
                outputs.withUnsafeMutableBufferPointer { o in
                    model.predict(features: f, rowCount: rows, margins: m, outputs: o)
                }
            }
        }
        return (margins, outputs)
    }

    /// The expected margins (row-major, `outputCount` per row) and outputs of a fixture.
    static func expected(_ table: Fixtures.Table, objective: ModelObjective) -> (margins: [Double], outputs: [Double]) {
        let k = objective.outputCount
        let marginColumns: [String]
        let outputColumns: [String]
        switch objective {
        case .regression:
            marginColumns = ["value"]
            outputColumns = ["value"]
        default:
            marginColumns = k == 1 ? ["margin"] : (0..<k).map { "margin_\($0)" }
            outputColumns = k == 1 ? ["prob"] : (0..<k).map { "prob_\($0)" }
        }
        let margins = marginColumns.map { table.column($0) }
        let outputs = outputColumns.map { table.column($0) }
        var m: [Double] = [], o: [Double] = []
        for row in 0..<table.rows.count {
            for j in 0..<k {
                m.append(margins[j].count > row ? margins[j][row] : .nan)
                o.append(outputs[j].count > row ? outputs[j][row] : .nan)
            }
        }
        return (m, o)
    }

    /// Compares a model's predictions on a fixture with the library's: |Δprob| ≤ 1e-6 (regression
    /// values ≤ 1e-5 relative), |Δmargin| ≤ 1e-5, on every row; and the fast path with the reference
    /// evaluator bit for bit. With `assert: false` only counts (for tests showing that wrong
    /// semantics break parity).
    @discardableResult
    static func compare(_ model: LoadedModel, input: Fixtures.Table, expected table: Fixtures.Table, label: String,
                        assert: Bool = true, file: StaticString = #filePath, line: UInt = #line) -> Stats {
        let rows = input.rows.count
        let k = model.outputCount
        let features = input.flattened
        let (margins, outputs) = score(model, features, rows: rows)
        let (expectedMargins, expectedOutputs) = expected(table, objective: model.objective)
        var stats = Stats(rows: rows)
        if assert {
            XCTAssertEqual(table.rows.count, rows, "\(label): expected rows", file: file, line: line)
            XCTAssertEqual(expectedMargins.count, margins.count, "\(label): expected columns", file: file, line: line)
            let reference = model.referenceMargins(features: features, rowCount: rows)
            let differing = zip(reference, margins).filter { $0.bitPattern != $1.bitPattern }.count
            XCTAssertEqual(differing, 0, "\(label): predict margins differ from the reference evaluator's", file: file, line: line)
        }
        guard expectedMargins.count == margins.count else { return stats }
        var failures = 0
        for row in 0..<rows {
            var rowMismatch = false
            for j in 0..<k {
                let i = row * k + j
                let marginError = abs(margins[i] - expectedMargins[i])
                stats.maxMarginError = max(stats.maxMarginError, marginError.isNaN ? .infinity : marginError)
                stats.marginCount += 1
                if margins[i].bitPattern == expectedMargins[i].bitPattern || margins[i] == expectedMargins[i] { stats.exactMargins += 1 }
                let outputError = abs(outputs[i] - expectedOutputs[i])
                stats.maxOutputError = max(stats.maxOutputError, outputError.isNaN ? .infinity : outputError)
                let outputTolerance = model.objective == .regression ? 1e-5 * max(1, abs(expectedOutputs[i])) : 1e-6
                if !(marginError <= 1e-5) || !(outputError <= outputTolerance) { rowMismatch = true }
                if assert && failures < 20 {
                    if !(marginError <= 1e-5) {
                        failures += 1
                        XCTFail("\(label) row \(row) output \(j): margin \(margins[i]) vs \(expectedMargins[i])", file: file, line: line)
                    }
                    if !(outputError <= outputTolerance) {
                        failures += 1
                        XCTFail("\(label) row \(row) output \(j): \(outputs[i]) vs \(expectedOutputs[i])", file: file, line: line)
                    }
                }
            }
            if rowMismatch { stats.mismatchedRows += 1 }
        }
        return stats
    }

    /// Single-row margins of every row through every node format of `RowWalker` (the automatic
    /// choice, and the fallbacks the small fixtures would not otherwise reach), each compared bit
    /// for bit with the reference evaluator. Returns the automatic choice.
    @discardableResult
    static func checkRowWalkerFormats(_ model: LoadedModel, input: Fixtures.Table, label: String,
                                      file: StaticString = #filePath, line: UInt = #line) -> RowWalker.Format? {
        let e = model.ensemble
        let rows = input.rows.count
        let k = model.outputCount
        let features = input.flattened
        let reference = model.referenceMargins(features: features, rowCount: rows)
        for format in [nil, RowWalker.Format.compactStreams, .compactBlocks, .compactBreadthFirst, .wide] {
            // (A format that does not fit would leave single rows to the reference evaluator.)
            XCTAssertNotNil(RowWalker(e, layout: ColumnLayout(e), format: format), "\(label): \(String(describing: format))", file: file, line: line)
            let compiled = CompiledEnsemble(e, rowNodes: format)
            var margins = [Double](repeating: .nan, count: rows * k)
            features.withUnsafeBufferPointer { f in
                margins.withUnsafeMutableBufferPointer { m in
                    for row in 0..<rows {
                        compiled.margins(features: UnsafeBufferPointer(rebasing: f[row * e.featureCount..<(row + 1) * e.featureCount]),
                                         rowCount: 1, into: UnsafeMutableBufferPointer(rebasing: m[row * k..<(row + 1) * k]))
                    }
                }
            }
            let differing = zip(reference, margins).filter { $0.bitPattern != $1.bitPattern }.count
            XCTAssertEqual(differing, 0, "\(label): single-row margins (\(format.map { "\($0)" } ?? "automatic")) differ from the reference", file: file, line: line)
        }
        return RowWalker(e, layout: ColumnLayout(e))?.format
    }

    /// A copy of `model` scoring with `ensemble`.
    static func with(_ model: LoadedModel, _ ensemble: TreeEnsemble) -> LoadedModel {
        LoadedModel(format: model.format, objective: model.objective, featureNames: model.featureNames,
                    contentHash: model.contentHash, ensemble: ensemble)
    }

    /// A copy of `e` with some arrays replaced (for tests that prove the fixtures catch wrong semantics).
    static func rebuilt(
        _ e: TreeEnsemble, threshold: [Double]? = nil, leftChild: [Int32]? = nil, rightChild: [Int32]? = nil,
        defaultLeft: [Bool]? = nil, missing: [TreeEnsemble.MissingRule]? = nil, leafTarget: [Int32]? = nil,
        baseMargins: [Double]? = nil, aggregation: TreeEnsemble.Aggregation? = nil
    ) -> TreeEnsemble {
        TreeEnsemble(
            featureCount: e.featureCount, outputCount: e.outputCount, splitFeature: e.splitFeature,
            threshold: threshold ?? e.threshold, leftChild: leftChild ?? e.leftChild, rightChild: rightChild ?? e.rightChild,
            defaultLeft: defaultLeft ?? e.defaultLeft, missing: missing ?? e.missing, isCategorical: e.isCategorical,
            categoryStart: e.categoryStart, categories: e.categories, leafStart: e.leafStart,
            leafTarget: leafTarget ?? e.leafTarget, leafWeight: e.leafWeight, treeStart: e.treeStart,
            baseMargins: baseMargins ?? e.baseMargins, inputPrecision: e.inputPrecision, comparison: e.comparison,
            accumulation: e.accumulation, aggregation: aggregation ?? e.aggregation)
    }

    /// Loads a fixture case and checks what the loader reported about it.
    static func load(_ c: Case, format: String, featureCount: Int, file: StaticString = #filePath, line: UInt = #line) throws
        -> (LoadedModel, Fixtures.Table, Fixtures.Table)
    {
        let model = try LoadedModel.load(contentsOf: Fixtures.url(c.modelFile))
        let input = try Fixtures.csv(c.input + "_input.csv")
        let expected = try Fixtures.csv(c.name + "_expected.csv")
        XCTAssertEqual(model.format, format, c.name, file: file, line: line)
        XCTAssertEqual(model.objective, c.objective, c.name, file: file, line: line)
        XCTAssertEqual(model.featureCount, featureCount, c.name, file: file, line: line)
        XCTAssertEqual(model.ensemble.treeCount, c.trees, c.name, file: file, line: line)
        XCTAssertEqual(model.featureNames, input.header, c.name, file: file, line: line)
        XCTAssertGreaterThanOrEqual(input.rows.count, c.minRows, c.name, file: file, line: line)
        XCTAssertTrue(input.flattened.contains { $0.isNaN }, "\(c.name): fixture must contain missing values", file: file, line: line)
        XCTAssertTrue(input.flattened.contains { $0 == 0 }, "\(c.name): fixture must contain zeros", file: file, line: line)
        return (model, input, expected)
    }
}
