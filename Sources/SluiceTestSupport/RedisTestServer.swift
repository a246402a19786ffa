import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A private `redis-server` for one test, on 127.0.0.1 and a free port, in its own temporary
/// directory (data and `redis.log`), stopped and removed on deinit.
///
/// Thread-safe: every method may be called from any thread.
// @unchecked Sendable: the only mutable state, `process`, is guarded by `lock`.
public final class RedisTestServer: @unchecked Sendable {
    public enum Persistence: Sendable {
        /// `--save "" --appendonly no`: nothing survives a restart.
        case none
        /// `--appendonly yes --appendfsync always` in `directory`: every acknowledged write
        /// survives `restart()`, even after `kill9()`.
        case appendOnly
    }

    public let host = "127.0.0.1"
    /// Fixed once the server first starts; `restart()` reuses it.
    public private(set) var port: Int
    /// When set, the server is started with `--requirepass`.
    public let password: String?
    /// The server's working directory (`--dir`): append-only files and `redis.log`.
    public let directory: String
    public let persistence: Persistence

    private let executable: String
    /// Server arguments without `--port`, which `start` adds.
    private let arguments: [String]
    private let removesDirectory: Bool
    private let lock = NSLock()
    private var process: ManagedProcess?  // guarded by `lock`

    /// `redis://[:password@]127.0.0.1:port` (the password percent-encoded).
    public var url: String {
        let credentials = password.map { ":" + ($0.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? $0) + "@" } ?? ""
        return "redis://\(credentials)\(host):\(port)"
    }

    public var logFile: String { (directory as NSString).appendingPathComponent("redis.log") }

    /// Starts the server and waits until it answers PING.
    /// - Parameters:
    ///   - directory: the data directory; by default a new temporary one, removed on deinit.
    ///   - extraArguments: more `redis-server` options, e.g. `["--maxmemory", "10mb"]`.
    public init(
        persistence: Persistence = .none,
        password: String? = nil,
        directory: String? = nil,
        extraArguments: [String] = [],
        startupTimeout: Duration = .seconds(15)
    ) throws {
        guard let executable = ManagedProcess.findExecutable(named: "redis-server", extraDirectories: ["/usr/bin", "/usr/local/bin"]) else {
            throw ManagedProcessError("redis-server not found in PATH or /usr/bin (apt-get install redis-server)")
        }
        self.executable = executable
        self.port = findFreeTCPPort()
        self.password = password
        self.persistence = persistence
        if let directory {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            self.directory = directory
            self.removesDirectory = false
        } else {
            let template = (NSTemporaryDirectory() as NSString).appendingPathComponent("sluice-redis-XXXXXX")
            var buffer = Array(template.utf8CString)
            guard mkdtemp(&buffer) != nil else { throw ManagedProcessError("mkdtemp failed: errno \(errno)") }
            self.directory = String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
            self.removesDirectory = true
        }

        var arguments = [
            "--bind", host, "--daemonize", "no",
            "--dir", self.directory, "--logfile", "", "--save", "",
        ]
        switch persistence {
        case .none: arguments += ["--appendonly", "no"]
        case .appendOnly: arguments += ["--appendonly", "yes", "--appendfsync", "always"]
        }
        if let password { arguments += ["--requirepass", password] }
        self.arguments = arguments + extraArguments
        // A free port can be taken by another process before redis-server binds it: try a few.
        var attempt = 1
        while true {
            do {
                try start(timeout: startupTimeout)
                return
            } catch {
                stop()
                guard attempt < 3 else { throw error }
                attempt += 1
                port = findFreeTCPPort()
            }
        }
    }

    deinit {
        stop()
        if removesDirectory { try? FileManager.default.removeItem(atPath: directory) }
    }

    /// Whether the server process is running.
    public var isRunning: Bool { lock.withLock { process?.isRunning ?? false } }

    /// Stops the server with SIGTERM (Redis shuts down cleanly), SIGKILL after 10 s. Idempotent.
    public func stop() {
        let process = lock.withLock { () -> ManagedProcess? in
            defer { self.process = nil }
            return self.process
        }
        process?.stop()
    }

    /// Kills the server with SIGKILL, as in a crash.
    public func kill9() {
        let process = lock.withLock { () -> ManagedProcess? in
            defer { self.process = nil }
            return self.process
        }
        process?.kill9()
    }

    /// Stops the server if it runs, then starts it again on the same port with the same directory.
    public func restart(timeout: Duration = .seconds(15)) throws {
        stop()
        try start(timeout: timeout)
    }

    /// The end of the server's log, for failure messages.
    public func logTail(maxBytes: Int = 4000) -> String {
        guard let data = FileManager.default.contents(atPath: logFile) else { return "(no log at \(logFile))" }
        return String(decoding: data.suffix(maxBytes), as: UTF8.self)
    }

    private func start(timeout: Duration) throws {
        let process = try ManagedProcess(executable: executable, arguments: arguments + ["--port", String(port)], logFile: logFile)
        lock.withLock { self.process = process }
        try process.waitUntil(timeout: timeout, what: "redis-server on port \(port) to answer PING") {
            answersPing()
        }
    }

    /// Sends `[AUTH password] PING` on a fresh socket; true when the server answers PONG
    /// (false while it refuses connections or is still loading its data).
    private func answersPing() -> Bool {
        guard let fd = connectTCP(host: host, port: port, timeout: .seconds(1)) else { return false }
        defer { close(fd) }
        var request = ""
        var expectedLines = 1
        if let password {
            request += "*2\r\n$4\r\nAUTH\r\n$\(password.utf8.count)\r\n\(password)\r\n"
            expectedLines = 2
        }
        request += "*1\r\n$4\r\nPING\r\n"
        let bytes = Array(request.utf8)
        guard bytes.withUnsafeBytes({ send(fd, $0.baseAddress, $0.count, 0) }) == bytes.count else { return false }

        var received: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 512)
        while received.count(where: { $0 == UInt8(ascii: "\n") }) < expectedLines {
            let count = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if count <= 0 { return false }
            received += buffer[..<count]
        }
        let lines = String(decoding: received, as: UTF8.self).split(separator: "\r\n")
        return lines.last == "+PONG"
    }
}
