/// An error loading a model or scoring with it.
///
/// `code` is stable and meant for programs (metrics labels, tests); `message` is for people and says
/// what was wrong and where (file offset, tree and node index, JSON path) when that is known.
public struct ModelError: Error, CustomStringConvertible, Sendable, Equatable {
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        public let rawValue: String
        public init(_ rawValue: String) { self.rawValue = rawValue }
        public var description: String { rawValue }

        /// The model file could not be read (missing, permissions, I/O error).
        public static let fileUnreadable = Code("fileUnreadable")
        /// The file is not a well-formed model of the detected format (bad JSON, truncated,
        /// inconsistent arrays, child indices out of range, cycles, ...).
        public static let malformed = Code("malformed")
        /// The file is a well-formed model that this version cannot score exactly
        /// (objective, multiclass, categorical splits, booster kind, file format).
        public static let unsupported = Code("unsupported")
        /// A row does not have the model's number of features.
        public static let featureCountMismatch = Code("featureCountMismatch")
    }

    public let code: Code
    public let message: String

    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { "\(code.rawValue): \(message)" }

    static func malformed(_ message: String) -> ModelError { ModelError(.malformed, message) }
    static func unsupported(_ message: String) -> ModelError { ModelError(.unsupported, message) }
}
