import Foundation

/// What a model's output means and how a margin becomes it.
public enum ModelObjective: Sendable, Hashable, CustomStringConvertible {
    /// Binary classification; output = sigmoid(margin), a probability.
    case binaryLogistic
    /// Regression with identity link; output = margin.
    case regression
    /// Regression on [0, 1] with logistic link; output = sigmoid(margin).
    case regressionLogistic

    /// True when the output is a probability of the positive class.
    public var outputIsProbability: Bool { self == .binaryLogistic }

    public var description: String {
        switch self {
        case .binaryLogistic: return "binary:logistic"
        case .regression: return "regression"
        case .regressionLogistic: return "regression:logistic"
        }
    }

    /// Maps a margin to the model's output.
    @inlinable
    public func transform(margin: Double) -> Double {
        switch self {
        case .regression:
            return margin
        case .binaryLogistic, .regressionLogistic:
            // In double, from the (float32-accumulated) margin. XGBoost computes 1/(1+expf(-x)) in
            // float32; the double result is within 1.2e-7 of it (the float rounding) on the fixtures.
            return 1 / (1 + exp(-margin))
        }
    }
}

/// A tree-ensemble model loaded from a file, ready to score. Immutable and `Sendable`: one instance
/// can be shared by every scoring thread.
public struct LoadedModel: Sendable {
    /// The detected file format: "xgboost-json".
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

    private let evaluator: ScalarTreeEvaluator

    init(format: String, objective: ModelObjective, featureNames: [String]?, contentHash: String, ensemble: TreeEnsemble) {
        self.format = format
        self.objective = objective
        self.featureNames = featureNames
        self.featureCount = ensemble.featureCount
        self.contentHash = contentHash
        self.ensemble = ensemble
        self.evaluator = ScalarTreeEvaluator(ensemble)
    }

    /// Reads and loads a model file, detecting its format.
    public static func load(contentsOf url: URL) throws -> LoadedModel {
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

    /// Loads a model from the bytes of a model file, detecting its format. Only XGBoost JSON
    /// (`save_model("*.json")`) is recognised for now.
    public static func load(data: Data) throws -> LoadedModel {
        let bytes = [UInt8](data)
        let hash = SHA256.hex(bytes)
        var start = 0
        if bytes.starts(with: [0xef, 0xbb, 0xbf]) { start = 3 }  // UTF-8 byte-order mark
        while start < bytes.count, [0x20, 0x09, 0x0a, 0x0d].contains(bytes[start]) { start += 1 }
        guard start < bytes.count else { throw ModelError.malformed("the model file is empty") }

        guard bytes[start] == UInt8(ascii: "{") else {
            if bytes[start...].starts(with: Array("tree\n".utf8)) || bytes[start...].starts(with: Array("tree\r\n".utf8)) {
                throw ModelError.unsupported("LightGBM text models are not supported yet")
            }
            throw ModelError.unsupported("unrecognised model format (expected an XGBoost JSON model)")
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

    /// Scores `rowCount` rows stored row-major in `features` (featureCount Doubles per row; NaN = missing).
    /// Writes margins and transformed outputs (probability for logistic objectives, value for regression).
    ///
    /// Inputs are compared as XGBoost does: converted to float32 first; a split goes left iff
    /// `Float(x) < threshold`; NaN takes the node's default direction.
    /// - Precondition: `features.count >= rowCount * featureCount`, `margins.count >= rowCount`,
    ///   `outputs.count >= rowCount`.
    public func predict(
        features: UnsafeBufferPointer<Double>,
        rowCount: Int,
        margins: UnsafeMutableBufferPointer<Double>,
        outputs: UnsafeMutableBufferPointer<Double>
    ) {
        precondition(rowCount >= 0, "negative rowCount")
        precondition(features.count >= rowCount * featureCount, "features holds fewer than rowCount * featureCount values")
        precondition(margins.count >= rowCount && outputs.count >= rowCount, "margins/outputs hold fewer than rowCount values")
        guard rowCount > 0 else { return }
        evaluator.margins(features: features, rowCount: rowCount, into: margins)
        let objective = self.objective
        for row in 0..<rowCount {
            outputs[row] = objective.transform(margin: margins[row])
        }
    }

    /// Scores one row of `featureCount` values (NaN = missing).
    public func predict(row: [Double]) throws -> (margin: Double, output: Double) {
        guard row.count == featureCount else {
            throw ModelError(.featureCountMismatch, "row has \(row.count) features, the model expects \(featureCount)")
        }
        var margin = 0.0
        var output = 0.0
        row.withUnsafeBufferPointer { features in
            withUnsafeMutablePointer(to: &margin) { m in
                withUnsafeMutablePointer(to: &output) { o in
                    predict(
                        features: features, rowCount: 1,
                        margins: UnsafeMutableBufferPointer(start: m, count: 1),
                        outputs: UnsafeMutableBufferPointer(start: o, count: 1))
                }
            }
        }
        return (margin, output)
    }
}
