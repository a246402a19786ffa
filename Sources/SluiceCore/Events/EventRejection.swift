/// Why an input record is not a valid event. Travels with the original bytes to the dead-letter topic.
public struct EventRejection: Error, Equatable, Sendable, CustomStringConvertible {
    public struct Code: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
        public let rawValue: String
        public init(rawValue: String) { self.rawValue = rawValue }
        public var description: String { rawValue }

        public static let notJSON = Code(rawValue: "not_json")
        public static let notAnObject = Code(rawValue: "not_an_object")
        public static let missingField = Code(rawValue: "missing_field")
        public static let wrongType = Code(rawValue: "wrong_type")
        public static let invalidValue = Code(rawValue: "invalid_value")
        public static let implausibleTime = Code(rawValue: "implausible_event_time")
        public static let oversized = Code(rawValue: "oversized")
    }

    public let code: Code
    /// The offending field, when one is to blame.
    public let field: String?
    public let detail: String

    public init(_ code: Code, field: String? = nil, _ detail: String) {
        self.code = code
        self.field = field
        self.detail = detail
    }

    public var description: String {
        field.map { "\(code.rawValue): \($0): \(detail)" } ?? "\(code.rawValue): \(detail)"
    }
}
