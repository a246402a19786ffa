import Logging

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Synchronization

/// A blocking connection to one Redis server, over hiredis.
///
/// Threading: every call blocks the calling thread until the reply arrives (or `commandTimeout`
/// passes); it is meant to be driven from one dedicated thread, never from a Swift concurrency
/// executor thread. Calls from several threads are safe but serialised by an internal lock held
/// for the whole round trip. `isConnected` and `reconnectCount` never wait for a command.
///
/// Failures: when the connection breaks (`.io`, `.timeout`, `.protocol`), the hiredis context is
/// freed and the error is thrown to the caller; nothing is replayed, since the commands may have
/// run (`RedisError.outcomeIsUnknown`). The next call reconnects first: the first attempt
/// immediately, later ones after an exponential, jittered backoff (the call sleeps for what is
/// left of it). A call makes at most one connection attempt, so it blocks at most about
/// `reconnectMaxBackoff + connectTimeout` before failing with `.connectionFailed`, and the caller
/// keeps control between attempts. After `maxReconnectAttempts` consecutive failed attempts the
/// connection gives up and every call fails at once. `AUTH` and `SELECT` are re-sent on every connect.
// @unchecked Sendable: the hiredis context and all mutable state are only touched while holding
// `lock` (the statistics under `statisticsLock`), so one thread at a time uses the context.
public final class RedisConnection: @unchecked Sendable {
    public let configuration: RedisConfiguration
    private let logger: Logger

    private let lock = Mutex(())
    // Guarded by `lock`:
    private var context: HiredisContext?
    private var isClosed = false
    private var failedReconnectAttempts = 0
    private var nextReconnectAttempt: ContinuousClock.Instant?
    private var scratchBatch = RedisCommandBatch()
    private var argvScratch: [UnsafePointer<CChar>?] = []

    private let statisticsLock = Mutex(())
    // Guarded by `statisticsLock`:
    private var connected = false
    private var reconnects = 0

    /// Connects, authenticates and selects the database; throws `.connectionFailed` (or
    /// `.authenticationFailed`, `.invalidArgument`) without retrying.
    public init(configuration: RedisConfiguration, logger: Logger) throws(RedisError) {
        try configuration.validate()
        var logger = logger
        logger[metadataKey: "redis.endpoint"] = "\(configuration.host):\(configuration.port)"
        self.configuration = configuration
        self.logger = logger
        self.context = try Self.establish(configuration)
        self.connected = true
        logger.debug("connected to redis", metadata: ["redis.database": "\(configuration.database)"])
    }

    /// Whether a connection is currently established (false between a failure and the reconnect).
    public var isConnected: Bool { statisticsLock.withLock { _ in connected } }

    /// How many times the connection was re-established after being lost (for metrics).
    public var reconnectCount: Int { statisticsLock.withLock { _ in reconnects } }

    /// Sends one command and waits for its reply.
    ///
    /// An error reply is thrown as `.replyError` (with the server's text); the connection stays usable.
    /// Example: `try connection.execute(["SET", .bytes(key), .bytes(value)])`.
    public func execute(_ arguments: [RedisArgument]) throws(RedisError) -> RedisReply {
        try lock.withLock { (_: inout Void) throws(RedisError) -> RedisReply in
            scratchBatch.removeAll(keepingCapacity: scratchBatch.bytes.capacity <= Self.scratchCapacityLimit)
            scratchBatch.append(arguments)
            let reply = try sendLocked(scratchBatch)[0]
            if case .error(let message) = reply {
                throw RedisError(.replyError, message, command: scratchBatch.commandName(at: 0))
            }
            return reply
        }
    }

    /// Sends one command and waits for its reply (see `execute(_:)`).
    public func execute(_ arguments: RedisArgument...) throws(RedisError) -> RedisReply {
        try execute(arguments)
    }

    /// Sends all commands in one write and then reads all their replies: one round trip.
    ///
    /// Returns one reply per command, in order. Error replies are returned in place as `.error`
    /// (the other commands still ran); use `throwingErrors()` to turn them into a thrown error.
    /// A connection failure throws and loses every reply, including those already read.
    public func pipeline(_ commands: [[RedisArgument]]) throws(RedisError) -> [RedisReply] {
        try lock.withLock { (_: inout Void) throws(RedisError) -> [RedisReply] in
            scratchBatch.removeAll(keepingCapacity: scratchBatch.bytes.capacity <= Self.scratchCapacityLimit)
            for command in commands { scratchBatch.append(command) }
            return try sendLocked(scratchBatch)
        }
    }

    /// Sends a prepared batch in one round trip (see `pipeline(_:)` for the reply contract).
    public func pipeline(_ batch: RedisCommandBatch) throws(RedisError) -> [RedisReply] {
        try lock.withLock { (_: inout Void) throws(RedisError) -> [RedisReply] in try sendLocked(batch) }
    }

    /// Closes the connection; later calls fail with `.closed`. Waits for a call in progress.
    public func close() {
        lock.withLock { _ in
            isClosed = true
            context = nil
        }
        statisticsLock.withLock { _ in connected = false }
    }

    // MARK: - Internals (all called with `lock` held)

    /// Scratch buffers that grew beyond this are released after use instead of kept.
    private static let scratchCapacityLimit = 1 << 20

    private func sendLocked(_ batch: RedisCommandBatch) throws(RedisError) -> [RedisReply] {
        if batch.isEmpty { return [] }
        if let index = batch.indexOfFirstEmptyCommand {
            throw RedisError(.invalidArgument, "command has no arguments; nothing was sent",
                             commandIndex: batch.count > 1 ? index : nil)
        }
        let context = try connectedContextLocked(for: batch)
        var index = 0
        do {
            try batch.withEachCommandArgv(argvScratch: &argvScratch) { (commandIndex, argc, argv, argvlen) throws(RedisError) in
                index = commandIndex
                try context.append(argc: argc, argv: argv, argvlen: argvlen)
            }
            var replies: [RedisReply] = []
            replies.reserveCapacity(batch.count)
            for replyIndex in 0..<batch.count {
                index = replyIndex
                replies.append(try context.readReply())
            }
            return replies
        } catch var error {
            error.command = batch.commandName(at: index)
            error.commandIndex = batch.count > 1 ? index : nil
            dropConnectionLocked(after: error)
            throw error
        }
    }

    /// Returns the live context, reconnecting first (per the backoff policy) when there is none.
    /// Errors name the batch's first command (nothing of the batch was sent).
    private func connectedContextLocked(for batch: RedisCommandBatch) throws(RedisError) -> HiredisContext {
        if isClosed { throw RedisError(.closed, "the connection was closed", command: batch.commandName(at: 0)) }
        if let context { return context }

        if let limit = configuration.maxReconnectAttempts, failedReconnectAttempts >= limit {
            throw RedisError(.connectionFailed,
                             "gave up reconnecting after \(failedReconnectAttempts) failed attempts; nothing was sent",
                             command: batch.commandName(at: 0))
        }
        if let nextReconnectAttempt {
            let wait = nextReconnectAttempt - ContinuousClock.now
            if wait > .zero { Self.sleep(for: wait) }
        }
        do {
            let context = try Self.establish(configuration)
            self.context = context
            let attempts = failedReconnectAttempts + 1
            failedReconnectAttempts = 0
            nextReconnectAttempt = nil
            statisticsLock.withLock { _ in
                connected = true
                reconnects += 1
            }
            logger.info("reconnected to redis", metadata: ["redis.attempts": "\(attempts)"])
            return context
        } catch {
            failedReconnectAttempts += 1
            let delay = configuration.reconnectDelay(afterFailedAttempts: failedReconnectAttempts,
                                                     jitter: Double.random(in: 0.5...1.0))
            nextReconnectAttempt = ContinuousClock.now + delay
            logger.warning("redis reconnect attempt failed", metadata: [
                "redis.attempt": "\(failedReconnectAttempts)",
                "redis.nextAttemptIn": "\(delay)",
                "error": "\(error)",
            ])
            var error = error
            error.message = "reconnect attempt \(failedReconnectAttempts) failed, nothing was sent: \(error.message)"
            error.command = batch.commandName(at: 0)
            throw error
        }
    }

    private func dropConnectionLocked(after error: RedisError) {
        context = nil  // frees the hiredis context
        failedReconnectAttempts = 0
        nextReconnectAttempt = nil  // the first reconnect attempt is immediate
        statisticsLock.withLock { _ in connected = false }
        logger.warning("redis connection lost; will reconnect on the next call", metadata: ["error": "\(error)"])
    }

    /// Connects, then sends `AUTH` and `SELECT` as configured.
    private static func establish(_ configuration: RedisConfiguration) throws(RedisError) -> HiredisContext {
        let context = try HiredisContext.connect(
            host: configuration.host, port: configuration.port,
            connectTimeout: configuration.connectTimeout, commandTimeout: configuration.commandTimeout)
        if let password = configuration.password {
            var command: [RedisArgument] = ["AUTH"]
            if let username = configuration.username { command.append(.string(username)) }
            command.append(.string(password))
            let reply = try handshake(context, command, name: "AUTH")
            if case .error(let message) = reply {
                throw RedisError(.authenticationFailed, message, command: "AUTH")
            }
        }
        if configuration.database != 0 {
            let reply = try handshake(context, ["SELECT", .integer(configuration.database)], name: "SELECT")
            if case .error(let message) = reply {
                throw RedisError(.connectionFailed, "SELECT \(configuration.database): \(message)", command: "SELECT")
            }
        }
        return context
    }

    /// Sends one command on a fresh context; any failure is reported as `.connectionFailed`.
    private static func handshake(_ context: HiredisContext, _ arguments: [RedisArgument], name: String) throws(RedisError) -> RedisReply {
        var batch = RedisCommandBatch()
        batch.append(arguments)
        var argv: [UnsafePointer<CChar>?] = []
        do {
            try batch.withEachCommandArgv(argvScratch: &argv) { (_, argc, argv, argvlen) throws(RedisError) in
                try context.append(argc: argc, argv: argv, argvlen: argvlen)
            }
            return try context.readReply()
        } catch {
            throw RedisError(.connectionFailed, "\(name) after connecting: \(error.message)", command: name)
        }
    }

    private static func sleep(for duration: Duration) {
        let (seconds, attoseconds) = duration.components
        var request = timespec(tv_sec: .init(seconds), tv_nsec: .init(attoseconds / 1_000_000_000))
        var remaining = timespec()
        while nanosleep(&request, &remaining) == -1 && errno == EINTR {
            request = remaining
        }
    }
}
