import CRdKafka

/// An error from librdkafka or from this adapter, with the librdkafka code when there is one.
public struct KafkaError: Error, CustomStringConvertible, Sendable {
    public struct Code: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
        public let rawValue: String
        public init(rawValue: String) { self.rawValue = rawValue }
        public var description: String { rawValue }

        public static let configuration = Code(rawValue: "configuration")
        public static let unsupportedLibrary = Code(rawValue: "unsupported_library")
        public static let clientCreation = Code(rawValue: "client_creation")
        public static let produce = Code(rawValue: "produce")
        public static let delivery = Code(rawValue: "delivery")
        public static let consume = Code(rawValue: "consume")
        public static let commit = Code(rawValue: "commit")
        public static let admin = Code(rawValue: "admin")
        public static let metadata = Code(rawValue: "metadata")
        public static let transaction = Code(rawValue: "transaction")
        public static let fenced = Code(rawValue: "fenced")
        public static let timeout = Code(rawValue: "timeout")
    }

    public let code: Code
    public let message: String
    /// librdkafka's error code (`rd_kafka_resp_err_t`), 0 when the error is the adapter's own.
    public let librdkafkaCode: Int32
    /// librdkafka says retrying the same operation may succeed.
    public let isRetriable: Bool
    /// librdkafka says the client instance is unusable (e.g. fenced producer).
    public let isFatal: Bool
    /// A transactional error that requires `abortTransaction` before continuing.
    public let requiresAbort: Bool

    public init(_ code: Code, _ message: String, librdkafkaCode: Int32 = 0, isRetriable: Bool = false, isFatal: Bool = false, requiresAbort: Bool = false) {
        self.code = code
        self.message = message
        self.librdkafkaCode = librdkafkaCode
        self.isRetriable = isRetriable
        self.isFatal = isFatal
        self.requiresAbort = requiresAbort
    }

    init(_ code: Code, _ context: String, response: rd_kafka_resp_err_t) {
        let text = String(cString: rd_kafka_err2str(response))
        self.init(code, "\(context): \(text)", librdkafkaCode: response.rawValue)
    }

    /// Takes ownership of an `rd_kafka_error_t` and destroys it.
    init(_ code: Code, _ context: String, consuming error: OpaquePointer) {
        defer { rd_kafka_error_destroy(error) }
        let fenced = rd_kafka_error_code(error) == RD_KAFKA_RESP_ERR__FENCED
            || rd_kafka_error_code(error) == RD_KAFKA_RESP_ERR_PRODUCER_FENCED
            || rd_kafka_error_code(error) == RD_KAFKA_RESP_ERR_INVALID_PRODUCER_EPOCH
        self.init(
            fenced ? .fenced : code,
            "\(context): \(String(cString: rd_kafka_error_string(error)))",
            librdkafkaCode: rd_kafka_error_code(error).rawValue,
            isRetriable: rd_kafka_error_is_retriable(error) != 0,
            isFatal: rd_kafka_error_is_fatal(error) != 0,
            requiresAbort: rd_kafka_error_txn_requires_abort(error) != 0)
    }

    public var description: String { "kafka \(code.rawValue): \(message)" }
}
