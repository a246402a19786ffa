import Foundation

/// What a model's outputs mean and how margins become them.
public enum ModelObjective: Sendable, Hashable, CustomStringConvertible {
    /// Binary classification; output = sigmoid(margin), the probability of the positive class.
    case binaryLogistic
    /// Binary classification whose margin already is the positive-class probability (averaged forests).
    case binaryProbability
    /// Regression with identity link; output = margin.
    case regression
    /// Regression on [0, 1] with logistic link; output = sigmoid(margin).
    case regressionLogistic
    /// k-class classification; outputs = softmax(margins).
    case multiclassSoftmax(classes: Int)
    /// k-class classification whose margins already are class probabilities (averaged forests).
    case multiclassProbability(classes: Int)

    /// Margins (and outputs) per row.
    public var outputCount: Int {
        switch self {
        case .multiclassSoftmax(let k), .multiclassProbability(let k): return k
        default: return 1
        }
    }

    /// True for classifiers (outputs are probabilities).
    public var isClassifier: Bool {
        switch self {
        case .regression, .regressionLogistic: return false
        default: return true
        }
    }

    public var description: String {
        switch self {
        case .binaryLogistic: return "binary:logistic"
        case .binaryProbability: return "binary:probability"
        case .regression: return "regression"
        case .regressionLogistic: return "regression:logistic"
        case .multiclassSoftmax(let k): return "multiclass:softmax(\(k))"
        case .multiclassProbability(let k): return "multiclass:probability(\(k))"
        }
    }

    /// Maps one row's margins to its outputs (both `outputCount` long). In double: XGBoost computes
    /// the sigmoid and softmax in float32, which differs from this by at most ~1.2e-7 on the fixtures.
    @inlinable
    public func transform(margins: UnsafeBufferPointer<Double>, into outputs: UnsafeMutableBufferPointer<Double>) {
        switch self {
        case .regression, .binaryProbability, .multiclassProbability:
            for k in 0..<outputCount { outputs[k] = margins[k] }
        case .binaryLogistic, .regressionLogistic:
            outputs[0] = 1 / (1 + exp(-margins[0]))
        case .multiclassSoftmax(let classes):
            var largest = -Double.infinity
            for k in 0..<classes { largest = max(largest, margins[k]) }
            var total = 0.0
            for k in 0..<classes {
                outputs[k] = exp(margins[k] - largest)
                total += outputs[k]
            }
            for k in 0..<classes { outputs[k] /= total }
        }
    }

    /// The output of a single-output objective for `margin`.
    @inlinable
    public func transform(margin: Double) -> Double {
        var output = 0.0
        withUnsafePointer(to: margin) { m in
            withUnsafeMutablePointer(to: &output) { o in
                transform(margins: UnsafeBufferPointer(start: m, count: 1), into: UnsafeMutableBufferPointer(start: o, count: 1))
            }
        }
        return output
    }
}

/// A tree-ensemble model loaded from a file, ready to score. Immutable and `Sendable`: one instance
/// can be shared by every scoring thread.
public struct LoadedModel: Sendable {
    /// The detected file format: "xgboost-json", "lightgbm-text" or "onnx".
    public let format: String
    public let objective: ModelObjective
    /// Feature names in model column order; nil when the file has none.
    public let featureNames: [String]?
    /// Row width expected by `predict`.
    public let featureCount: Int
    /// SHA-256 of the file bytes, 64 lowercase hex digits.
    public let contentHash: String
    /// The format-neutral trees the predictions come from.
    public let ensemble: TreeEnsemble

    /// Margins per row (`objective.outputCount`).
    public var outputCount: Int { objective.outputCount }

    private let evaluator: CompiledEnsemble

    init(format: String, objective: ModelObjective, featureNames: [String]?, contentHash: String, ensemble: TreeEnsemble) {
        self.format = format
        self.objective = objective
        self.featureNames = featureNames
        self.featureCount = ensemble.featureCount
        self.contentHash = contentHash
        self.ensemble = ensemble
        self.evaluator = CompiledEnsemble(ensemble)
    }

    /// Reads and loads a model file, detecting its format.
    public static func load(contentsOf url: URL) throws -> LoadedModel {
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: url.path, isDirectory: &isDirectory), isDirectory.boolValue {
            return try MLflowModel.load(directory: url)  // an MLflow model directory (MLmodel + model file)
        }
        let data: Data
        do {
            data = try Data(contentsOf: url)
        } catch {
            throw ModelError(.fileUnreadable, "cannot read model file \(url.path): \(error.localizedDescription)")
        }
        do {
            return try load(data: data)
        } catch let error as ModelError {
            throw ModelError(error.code, "\(url.path): \(error.message)")
        }
    }

    /// Loads a model from the bytes of a model file, detecting its format: XGBoost JSON
    /// (`save_model("*.json")`, format "xgboost-json") or LightGBM text (`save_model("*.txt")`,
    /// starts with a `tree` line, format "lightgbm-text") or an ONNX model with one tree ensemble
    /// (format "onnx", see `ONNXTreeEnsembleLoader`).
    public static func load(data: Data) throws -> LoadedModel {
        let bytes = [UInt8](data)
        let hash = SHA256.hex(bytes)
        if ONNXTreeEnsembleLoader.startsLikeModelProto(bytes) {
            // A binary ONNX ModelProto (JSON and LightGBM text never start with byte 0x08).
            let result = try ONNXTreeEnsembleLoader.load(bytes)
            return LoadedModel(
                format: "onnx", objective: result.objective, featureNames: result.featureNames,
                contentHash: hash, ensemble: result.ensemble)
        }
        var start = 0
        if bytes.starts(with: [0xef, 0xbb, 0xbf]) { start = 3 }  // UTF-8 byte-order mark
        while start < bytes.count, [0x20, 0x09, 0x0a, 0x0d].contains(bytes[start]) { start += 1 }
        guard start < bytes.count else { throw ModelError.malformed("the model file is empty") }

        guard bytes[start] == UInt8(ascii: "{") else {
            if bytes[start...].starts(with: Array("tree\n".utf8)) || bytes[start...].starts(with: Array("tree\r\n".utf8)) {
                let result = try LightGBMTextLoader.load(bytes[start...])
                return LoadedModel(
                    format: "lightgbm-text", objective: result.objective, featureNames: result.featureNames,
                    contentHash: hash, ensemble: result.ensemble)
            }
            throw ModelError.unsupported("unrecognised model format (expected an XGBoost JSON, LightGBM text or ONNX model)")
        }
        // UBJSON (XGBoost's .ubj and default binary) also starts with '{' but is followed by a type
        // marker rather than a quoted member name.
        var next = start + 1
        while next < bytes.count, [0x20, 0x09, 0x0a, 0x0d].contains(bytes[next]) { next += 1 }
        if next < bytes.count, bytes[next] != UInt8(ascii: "\""), bytes[next] != UInt8(ascii: "}") {
            throw ModelError.unsupported(
                "this looks like a UBJSON model; save it as JSON (booster.save_model(\"model.json\"))")
        }

        let json = try JSONValue.parse(bytes)
        guard json["learner"] != nil else {
            throw ModelError.unsupported("unrecognised JSON model (no 'learner' object: not an XGBoost model)")
        }
        let result = try XGBoostJSONLoader.load(json)
        return LoadedModel(
            format: "xgboost-json",
            objective: result.objective,
            featureNames: result.featureNames,
            contentHash: hash,
            ensemble: result.ensemble)
    }

    /// Scores `rowCount` rows stored row-major in `features` (`featureCount` values per row;
    /// NaN = missing). Writes `outputCount` margins and outputs per row (probabilities for
    /// classifiers, values for regression), row-major.
    /// - Precondition: `features.count >= rowCount * featureCount`,
    ///   `margins.count` and `outputs.count >= rowCount * outputCount`.
    public func predict(
        features: UnsafeBufferPointer<Double>,
        rowCount: Int,
        margins: UnsafeMutableBufferPointer<Double>,
        outputs: UnsafeMutableBufferPointer<Double>
    ) {
        precondition(rowCount >= 0, "negative rowCount")
        precondition(features.count >= rowCount * featureCount, "features holds fewer than rowCount * featureCount values")
        let width = outputCount
        precondition(margins.count >= rowCount * width && outputs.count >= rowCount * width, "margins/outputs are too small")
        guard rowCount > 0 else { return }
        evaluator.margins(features: features, rowCount: rowCount, into: margins)
        let objective = self.objective
        for row in 0..<rowCount {
            objective.transform(
                margins: UnsafeBufferPointer(rebasing: margins[row * width..<(row + 1) * width]),
                into: UnsafeMutableBufferPointer(rebasing: outputs[row * width..<(row + 1) * width]))
        }
    }

    /// One row's scores: `outputCount` margins and outputs.
    public struct RowPrediction: Sendable, Equatable {
        public var margins: [Double]
        public var outputs: [Double]
        /// The first (for single-output models, the only) margin.
        public var margin: Double { margins[0] }
        /// The first (for single-output models, the only) output.
        public var output: Double { outputs[0] }
    }

    /// Scores one row of `featureCount` values (NaN = missing).
    public func predict(row: [Double]) throws -> RowPrediction {
        guard row.count == featureCount else {
            throw ModelError(.featureCountMismatch, "row has \(row.count) features, the model expects \(featureCount)")
        }
        var margins = [Double](repeating: 0, count: outputCount)
        var outputs = [Double](repeating: 0, count: outputCount)
        row.withUnsafeBufferPointer { features in
            margins.withUnsafeMutableBufferPointer { m in
                outputs.withUnsafeMutableBufferPointer { o in
                    predict(features: features, rowCount: 1, margins: m, outputs: o)
                }
            }
        }
        return RowPrediction(margins: margins, outputs: outputs)
    }

    /// The reference evaluator's margins, for tests that check the fast path against it.
    public func referenceMargins(features: [Double], rowCount: Int) -> [Double] {
        var margins = [Double](repeating: 0, count: rowCount * outputCount)
        features.withUnsafeBufferPointer { f in
            margins.withUnsafeMutableBufferPointer { ReferenceEvaluator(ensemble: ensemble).margins(features: f, rowCount: rowCount, into: $0) }
        }
        return margins
    }
}
