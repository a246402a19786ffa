import ArgumentParser
import Foundation
import SluiceModel

struct ModelCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "model",
        abstract: "Inspect or benchmark a model file.",
        subcommands: [ModelInspectCommand.self, ModelBenchCommand.self])
}

/// `sluice model inspect PATH`
struct ModelInspectCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "inspect", abstract: "Describe a model: format, objective, shape, features, content hash.")

    @Argument(help: "Model file or MLflow model directory.") var path: String

    func run() throws {
        let model = try loadOrExit(path)
        let e = model.ensemble
        emit("""
            format:      \(model.format)
            objective:   \(model.objective)
            outputs:     \(model.outputCount)
            trees:       \(e.treeCount)
            nodes:       \(e.nodeCount)
            max depth:   \(e.maxDepth)
            features:    \(model.featureCount)\(model.featureNames.map { " (" + $0.joined(separator: ", ") + ")" } ?? " (unnamed)")
            sha256:      \(model.contentHash)
            """)
    }
}

/// `sluice model bench --model PATH --input CSV [--batch N | --single] [--seconds S]`: scores the rows
/// repeatedly on one thread; the last line is `ns_per_row=<median over rounds>`.
struct ModelBenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "bench", abstract: "Time scoring on one thread; last line: ns_per_row=<median>.")

    @Option(help: "Model file.") var model: String
    @Option(help: "Feature CSV (header = feature names).") var input: String
    @Option(help: "Rows per predict call.") var batch = 64
    @Flag(help: "Score one row per call (the API path).") var single = false
    @Option(help: "Approximate run time.") var seconds = 3.0

    func run() throws {
        let loaded = try loadOrExit(model)
        let (rowCount, features) = try PredictCommand.readFeatures(input: input, model: loaded)
        guard rowCount > 0 else { throw ValidationError("no rows in \(input)") }
        let perCall = single ? 1 : max(1, batch)
        let outputs = loaded.outputCount
        var margins = [Double](repeating: 0, count: perCall * outputs)
        var results = [Double](repeating: 0, count: perCall * outputs)
        var checksum = 0.0
        func round() -> Double {
            let start = DispatchTime.now().uptimeNanoseconds
            var row = 0
            features.withUnsafeBufferPointer { all in
                margins.withUnsafeMutableBufferPointer { m in
                    results.withUnsafeMutableBufferPointer { o in
                        while row < rowCount {
                            let n = min(perCall, rowCount - row)
                            loaded.predict(
                                features: UnsafeBufferPointer(rebasing: all[row * loaded.featureCount..<(row + n) * loaded.featureCount]),
                                rowCount: n, margins: m, outputs: o)
                            checksum += o[0]
                            row += n
                        }
                    }
                }
            }
            return Double(DispatchTime.now().uptimeNanoseconds - start) / Double(rowCount)
        }
        _ = round()  // warm-up
        var samples: [Double] = []
        let deadline = Date().addingTimeInterval(seconds)
        repeat { samples.append(round()) } while Date() < deadline || samples.count < 5
        samples.sort()
        let median = samples[samples.count / 2]
        emit("model=\(model) rows=\(rowCount) \(single ? "single" : "batch=\(perCall)") rounds=\(samples.count) "
            + "min=\(String(format: "%.1f", samples[0])) checksum=\(checksum)")
        emit("ns_per_row=\(String(format: "%.1f", median))")
    }
}

private func loadOrExit(_ path: String) throws -> LoadedModel {
    do {
        return try LoadedModel.load(contentsOf: URL(fileURLWithPath: path))
    } catch {
        FileHandle.standardError.write(Data("error: \(error)\n".utf8))
        throw ExitCode.failure
    }
}
