/// An error from the Redis connection: a failure to connect, an I/O or protocol failure, a timeout,
/// or an error reply from the server.
///
/// The context names the command (its first argument only: the other arguments may be binary or
/// secret, e.g. `AUTH`) and, for pipelines, the command's position in the pipeline.
public struct RedisError: Error, CustomStringConvertible, Sendable {
    public struct Code: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
        public let rawValue: String
        public init(rawValue: String) { self.rawValue = rawValue }
        public var description: String { rawValue }

        /// The configuration or a command is invalid (bad URL, empty command). Nothing was sent.
        public static let invalidArgument = Code(rawValue: "invalid_argument")
        /// Connecting (TCP connect, `AUTH`, `SELECT`) failed, or the reconnect policy gave up.
        /// Nothing was sent for the command that got this error.
        public static let connectionFailed = Code(rawValue: "connection_failed")
        /// The server rejected the configured credentials. Nothing was sent.
        public static let authenticationFailed = Code(rawValue: "authentication_failed")
        /// The connection broke while sending or receiving (including the server closing it).
        /// The command(s) may or may not have been executed.
        public static let io = Code(rawValue: "io")
        /// No reply within `commandTimeout`. The command(s) may or may not have been executed.
        public static let timeout = Code(rawValue: "timeout")
        /// The server sent something that is not RESP. The command(s) may or may not have been executed.
        public static let `protocol` = Code(rawValue: "protocol")
        /// The server answered with an error reply (e.g. `WRONGTYPE ...`); the connection is fine.
        public static let replyError = Code(rawValue: "reply_error")
        /// The connection was closed with `RedisConnection.close()`. Nothing was sent.
        public static let closed = Code(rawValue: "closed")
    }

    public var code: Code
    /// What went wrong; for `.replyError`, the server's error text verbatim.
    public var message: String
    /// The command's name (its first argument), when the error concerns a command.
    public var command: String?
    /// The command's position in its pipeline (0-based), when it was sent in a pipeline.
    public var commandIndex: Int?

    public init(_ code: Code, _ message: String, command: String? = nil, commandIndex: Int? = nil) {
        self.code = code
        self.message = message
        self.command = command
        self.commandIndex = commandIndex
    }

    /// True when the connection failed after the command(s) may have reached the server, so the
    /// caller cannot tell whether they ran (`.io`, `.timeout`, `.protocol`). Replaying is safe
    /// only for idempotent commands; the connection never replays anything by itself.
    public var outcomeIsUnknown: Bool {
        code == .io || code == .timeout || code == .protocol
    }

    /// True when the server is unreachable or not ready (connection lost, timeout, or a reply
    /// such as LOADING after a restart): waiting and retrying is the right response.
    public var isTransient: Bool {
        switch code {
        case .connectionFailed, .io, .timeout, .closed: return true
        case .replyError: return ["LOADING", "BUSY", "TRYAGAIN", "CLUSTERDOWN", "MASTERDOWN"].contains { message.hasPrefix($0) }
        default: return false
        }
    }

    public var description: String {
        var text = "redis \(code.rawValue): \(message)"
        switch (command, commandIndex) {
        case let (command?, index?): text += " (command \(index) '\(command)' of a pipeline)"
        case let (command?, nil): text += " (command '\(command)')"
        case let (nil, index?): text += " (command \(index) of a pipeline)"
        case (nil, nil): break
        }
        return text
    }
}
