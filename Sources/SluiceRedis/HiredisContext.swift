import CHiredis

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Owns one blocking hiredis `redisContext` and frees it on deinit.
///
/// Not thread-safe: hiredis contexts must not be used by two threads at once; `RedisConnection`
/// only touches it while holding its lock. After any failure hiredis leaves the context unusable,
/// so callers discard it on the first error.
final class HiredisContext {
    private let context: UnsafeMutablePointer<redisContext>

    private init(_ context: UnsafeMutablePointer<redisContext>) { self.context = context }

    deinit { redisFree(context) }

    /// Connects (bounded by `connectTimeout`) and sets `commandTimeout` on the socket. Throws `.connectionFailed`.
    static func connect(host: String, port: Int, connectTimeout: Duration, commandTimeout: Duration) throws(RedisError) -> HiredisContext {
        ignoreSIGPIPEOnce()
        guard let raw = redisConnectWithTimeout(host, Int32(port), makeTimeval(connectTimeout)) else {
            throw RedisError(.connectionFailed, "connect to \(host):\(port): hiredis could not allocate a context")
        }
        let context = HiredisContext(raw)
        if raw.pointee.err != 0 {
            throw RedisError(.connectionFailed, "connect to \(host):\(port): \(context.errorText)")
        }
        guard redisSetTimeout(raw, makeTimeval(commandTimeout)) == REDIS_OK else {
            throw RedisError(.connectionFailed, "connect to \(host):\(port): setting the socket timeout failed: \(context.errorText)")
        }
        _ = redisEnableKeepAlive(raw)
        #if canImport(Darwin)
        var one: Int32 = 1
        _ = setsockopt(raw.pointee.fd, SOL_SOCKET, SO_NOSIGPIPE, &one, socklen_t(MemoryLayout<Int32>.size))
        #endif
        return context
    }

    /// Queues one command in hiredis' output buffer (no I/O; hiredis copies the arguments).
    func append(argc: Int32, argv: UnsafeMutablePointer<UnsafePointer<CChar>?>, argvlen: UnsafePointer<Int>) throws(RedisError) {
        guard redisAppendCommandArgv(context, argc, argv, argvlen) == REDIS_OK else {
            throw failure()
        }
    }

    /// Flushes the output buffer if needed, then blocks for the next reply.
    func readReply() throws(RedisError) -> RedisReply {
        var raw: UnsafeMutableRawPointer?
        guard redisGetReply(context, &raw) == REDIS_OK else { throw failure() }
        guard let raw else { throw RedisError(.protocol, "hiredis returned no reply") }
        defer { freeReplyObject(raw) }
        return try RedisReply(copying: raw.assumingMemoryBound(to: redisReply.self))
    }

    /// Converts the context's error state (just set by a failed call) into a `RedisError`.
    private func failure() -> RedisError {
        let savedErrno = errno  // before anything else can overwrite it
        let text = errorText
        switch context.pointee.err {
        case REDIS_ERR_IO where savedErrno == EAGAIN || savedErrno == EWOULDBLOCK:
            return RedisError(.timeout, "no reply within the command timeout (\(text))")
        case REDIS_ERR_IO:
            return RedisError(.io, "I/O error: \(text)")
        case REDIS_ERR_EOF:
            return RedisError(.io, "connection closed by the server: \(text)")
        case REDIS_ERR_PROTOCOL:
            return RedisError(.protocol, "protocol error: \(text)")
        case REDIS_ERR_OOM:
            return RedisError(.io, "hiredis out of memory: \(text)")
        default:
            return RedisError(.io, "hiredis error \(context.pointee.err): \(text)")
        }
    }

    /// `redisContext.errstr` (a `char[128]`, imported as a tuple).
    private var errorText: String {
        withUnsafeBytes(of: &context.pointee.errstr) { raw in
            let bytes = raw.prefix { $0 != 0 }
            return String(decoding: bytes, as: UTF8.self)
        }
    }
}

extension RedisReply {
    /// Deep-copies a hiredis reply tree.
    init(copying reply: UnsafePointer<redisReply>) throws(RedisError) {
        let node = reply.pointee
        switch node.type {
        case REDIS_REPLY_STATUS:
            self = .status(Self.text(node))
        case REDIS_REPLY_ERROR:
            self = .error(Self.text(node))
        case REDIS_REPLY_INTEGER:
            self = .integer(Int64(node.integer))
        case REDIS_REPLY_STRING:
            self = .bulk(node.len == 0 ? [] : Array(UnsafeRawBufferPointer(start: node.str, count: node.len)))
        case REDIS_REPLY_NIL:
            self = .null
        case REDIS_REPLY_ARRAY:
            var elements: [RedisReply] = []
            elements.reserveCapacity(node.elements)
            for index in 0..<node.elements {
                guard let element = node.element[index] else {
                    throw RedisError(.protocol, "hiredis array reply has a missing element")
                }
                elements.append(try RedisReply(copying: element))
            }
            self = .array(elements)
        default:
            throw RedisError(.protocol, "unknown hiredis reply type \(node.type)")
        }
    }

    private static func text(_ node: redisReply) -> String {
        guard node.len > 0, let str = node.str else { return "" }
        return String(decoding: UnsafeRawBufferPointer(start: str, count: node.len), as: UTF8.self)
    }
}

private func makeTimeval(_ duration: Duration) -> timeval {
    let (seconds, attoseconds) = duration.components
    return timeval(tv_sec: .init(seconds), tv_usec: .init(attoseconds / 1_000_000_000_000))
}

/// hiredis writes with `write(2)`, so writing to a socket the server has closed raises SIGPIPE,
/// which kills the process by default. Linux has no per-socket opt-out (Darwin: SO_NOSIGPIPE
/// above), so the first connection ignores SIGPIPE process-wide, unless the process already
/// installed a handler or ignores it. Writes then fail with EPIPE, reported as `.io`.
private let ignoreSIGPIPE: Void = {
    #if os(Linux)
    var current = sigaction()
    if sigaction(SIGPIPE, nil, &current) == 0, current.__sigaction_handler.sa_handler == nil {
        _ = signal(SIGPIPE, SIG_IGN)
    }
    #endif
}()

private func ignoreSIGPIPEOnce() { ignoreSIGPIPE }
