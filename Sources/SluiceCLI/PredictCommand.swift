import ArgumentParser
import Foundation
import SluiceModel

/// `sluice predict --model PATH --input CSV --output CSV`: scores a CSV file offline with a model
/// file, exactly as the engine would.
///
/// Input: header row of feature names, one row per event; an empty field or `NaN` is a missing value.
/// When the model has feature names, columns are matched by name (any order; every model feature must
/// be present and no other column may be); otherwise by position (the column count must equal the
/// model's feature count).
/// Output: one row per input row, same order: `prob,margin` for binary:logistic models, `value` for
/// regression models, printed with full round-trip precision. `-` means stdin/stdout.
struct PredictCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "predict",
        abstract: "Score a CSV file with a model file (offline, no Kafka or Redis).",
        discussion: """
            The input CSV's header names the features (matched to the model's feature names when it \
            has them, else by position). An empty field or NaN is a missing value. The output has the \
            columns prob,margin for binary:logistic models and value for regression models, one row \
            per input row in the same order.
            """)

    @Option(name: .long, help: ArgumentHelp("Model file (XGBoost JSON).", valueName: "path"))
    var model: String

    @Option(name: .long, help: ArgumentHelp("Input CSV with a header of feature names ('-' for stdin).", valueName: "csv"))
    var input: String

    @Option(name: .long, help: ArgumentHelp("Output CSV to write ('-' for stdout).", valueName: "csv"))
    var output: String

    func run() throws {
        do {
            try predict()
        } catch let failure as PredictFailure {
            Self.printError(failure.message)
            throw ExitCode.failure
        } catch let error as ModelError {
            Self.printError("model \(model): \(error.description)")
            throw ExitCode.failure
        }
    }

    private func predict() throws {
        let loaded: LoadedModel
        do {
            loaded = try LoadedModel.load(contentsOf: URL(fileURLWithPath: model))
        } catch let error as ModelError {
            throw PredictFailure("cannot load model: \(error.description)")
        }

        let (rowCount, features) = try Self.readFeatures(input: input, model: loaded)
        let k = loaded.outputCount
        var margins = [Double](repeating: 0, count: rowCount * k)
        var outputs = [Double](repeating: 0, count: rowCount * k)
        features.withUnsafeBufferPointer { f in
            margins.withUnsafeMutableBufferPointer { m in
                outputs.withUnsafeMutableBufferPointer { o in
                    loaded.predict(features: f, rowCount: rowCount, margins: m, outputs: o)
                }
            }
        }

        let header: [String]
        var rows: [[String]] = []
        rows.reserveCapacity(rowCount)
        // Swift's description of a Double is the shortest text that reads back as the same value.
        switch loaded.objective {
        case .binaryLogistic, .binaryProbability:
            header = ["prob", "margin"]
            for r in 0..<rowCount { rows.append([outputs[r].description, margins[r].description]) }
        case .multiclassSoftmax, .multiclassProbability:
            header = (0..<k).map { "prob_\($0)" } + (0..<k).map { "margin_\($0)" }
            for r in 0..<rowCount {
                rows.append(outputs[r * k..<(r + 1) * k].map(\.description) + margins[r * k..<(r + 1) * k].map(\.description))
            }
        case .regression, .regressionLogistic:
            header = ["value"]
            for r in 0..<rowCount { rows.append([outputs[r].description]) }
        }
        let data = CSVTable.render(header: header, rows: rows)
        do {
            if output == "-" {
                FileHandle.standardOutput.write(data)
            } else {
                try data.write(to: URL(fileURLWithPath: output), options: .atomic)
            }
        } catch {
            throw PredictFailure("cannot write output \(output): \(error.localizedDescription)")
        }
    }

    /// Reads a feature CSV (header = feature names, empty or NaN = missing) into row-major values
    /// in the model's column order.
    static func readFeatures(input: String, model: LoadedModel) throws -> (rows: Int, features: [Double]) {
        let inputData: Data
        do {
            inputData = input == "-" ? FileHandle.standardInput.readDataToEndOfFile()
                : try Data(contentsOf: URL(fileURLWithPath: input))
        } catch {
            throw PredictFailure("cannot read input \(input): \(error.localizedDescription)")
        }
        let table: CSVTable
        do {
            table = try CSVTable.parse(inputData)
        } catch let error as CSVTable.ParseError {
            throw PredictFailure("input \(input): \(error.description)")
        }

        let columnOfFeature = try mapColumns(header: table.header, model: model, inputName: input)
        let width = model.featureCount
        var features = [Double](repeating: .nan, count: table.rows.count * width)
        for (r, row) in table.rows.enumerated() {
            for feature in 0..<width {
                let column = columnOfFeature[feature]
                guard let value = parseValue(row.fields[column]) else {
                    throw PredictFailure(
                        "input \(input) line \(row.line), column '\(table.header[column])': "
                            + "'\(row.fields[column])' is not a number (use an empty field or NaN for missing)")
                }
                features[r * width + feature] = value
            }
        }

        return (table.rows.count, features)
    }

    /// For each model feature, the input column holding it.
    static func mapColumns(header: [String], model: LoadedModel, inputName: String) throws -> [Int] {
        let names = header.map { $0.trimmingCharacters(in: .whitespaces) }
        guard let modelNames = model.featureNames else {
            guard names.count == model.featureCount else {
                throw PredictFailure(
                    "input \(inputName): the header has \(names.count) columns but the model (which has no feature "
                        + "names) expects \(model.featureCount) features, matched by position")
            }
            return Array(0..<model.featureCount)
        }
        var columnByName: [String: Int] = [:]
        for (column, name) in names.enumerated() {
            if columnByName[name] != nil {
                throw PredictFailure("input \(inputName): column '\(name)' appears more than once in the header")
            }
            columnByName[name] = column
        }
        let missing = modelNames.filter { columnByName[$0] == nil }
        let known = Set(modelNames)
        let unknown = names.filter { !known.contains($0) }
        if !missing.isEmpty || !unknown.isEmpty {
            var parts: [String] = []
            if !missing.isEmpty { parts.append("missing model feature(s) \(Self.list(missing))") }
            if !unknown.isEmpty { parts.append("unknown column(s) \(Self.list(unknown))") }
            throw PredictFailure(
                "input \(inputName): the header does not match the model's features: " + parts.joined(separator: "; ")
                    + ". The model expects: " + modelNames.joined(separator: ","))
        }
        return modelNames.map { columnByName[$0]! }
    }

    /// A feature value: empty or NaN (any case) is missing; otherwise a decimal number.
    static func parseValue(_ field: String) -> Double? {
        let text = field.trimmingCharacters(in: .whitespaces)
        if text.isEmpty || text.lowercased() == "nan" { return .nan }
        return Double(text)
    }

    private static func list(_ names: [String]) -> String {
        let shown = names.prefix(10).map { "'\($0)'" }.joined(separator: ", ")
        return names.count > 10 ? shown + " and \(names.count - 10) more" : shown
    }

    private static func printError(_ message: String) {
        FileHandle.standardError.write(Data("error: \(message)\n".utf8))
    }
}

/// A failure of `predict` with a message for the user.
struct PredictFailure: Error, CustomStringConvertible {
    let message: String
    init(_ message: String) { self.message = message }
    var description: String { message }
}
