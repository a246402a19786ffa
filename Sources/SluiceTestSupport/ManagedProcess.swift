import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// An error from `ManagedProcess` or a test server, with the tail of the process's log when useful.
public struct ManagedProcessError: Error, CustomStringConvertible, Sendable {
    public let message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

/// A child process for tests (a Redis server, a Kafka broker, ...): started on init, its stdout and
/// stderr appended to `logFile`, killed with SIGKILL on deinit if still running.
///
/// Thread-safe: every method may be called from any thread.
// @unchecked Sendable: `Process` is only used through its thread-safe accessors, and the log
// handle is only closed under `lock`.
public final class ManagedProcess: @unchecked Sendable {
    public let executable: String
    public let arguments: [String]
    public let logFile: String

    private let process = Process()
    private let lock = NSLock()
    private var logHandle: FileHandle?  // guarded by `lock`

    /// Starts `executable` (a path) with `arguments`. `environment` entries are added to (and
    /// override) the inherited environment. Output is appended to `logFile`, created if needed.
    public init(executable: String, arguments: [String] = [], environment: [String: String] = [:], logFile: String) throws {
        self.executable = executable
        self.arguments = arguments
        self.logFile = logFile

        let fileManager = FileManager.default
        let directory = (logFile as NSString).deletingLastPathComponent
        if !directory.isEmpty { try fileManager.createDirectory(atPath: directory, withIntermediateDirectories: true) }
        if !fileManager.fileExists(atPath: logFile) {
            guard fileManager.createFile(atPath: logFile, contents: nil) else {
                throw ManagedProcessError("cannot create log file \(logFile)")
            }
        }
        guard let handle = FileHandle(forWritingAtPath: logFile) else {
            throw ManagedProcessError("cannot open log file \(logFile)")
        }
        handle.seekToEndOfFile()
        handle.write(Data("=== \(Date()) starting \(([executable] + arguments).joined(separator: " "))\n".utf8))
        logHandle = handle

        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        if !environment.isEmpty {
            process.environment = ProcessInfo.processInfo.environment.merging(environment) { _, new in new }
        }
        process.standardInput = FileHandle.nullDevice
        process.standardOutput = handle
        process.standardError = handle
        do {
            try process.run()
        } catch {
            try? handle.close()
            throw ManagedProcessError("cannot start \(executable): \(error)")
        }
    }

    deinit {
        if process.isRunning { kill9() }
        closeLog()
    }

    public var pid: Int32 { process.processIdentifier }
    public var isRunning: Bool { process.isRunning }

    /// The exit status (or terminating signal number), `nil` while running.
    public var exitStatus: Int32? { process.isRunning ? nil : process.terminationStatus }

    /// Waits until something accepts TCP connections on `host:port`. Throws if `timeout` passes
    /// or the process exits first (the error includes the end of the log).
    public func waitForPort(_ port: Int, host: String = "127.0.0.1", timeout: Duration = .seconds(15)) throws {
        try waitUntil(timeout: timeout, what: "\(host):\(port) to accept connections") {
            isTCPPortAcceptingConnections(host: host, port: port)
        }
    }

    /// Polls `condition` every 20 ms until it is true. Throws if `timeout` passes or the process exits first.
    public func waitUntil(timeout: Duration, what: String, _ condition: () -> Bool) throws {
        let deadline = ContinuousClock.now + timeout
        while true {
            if condition() { return }
            if !process.isRunning {
                throw ManagedProcessError("\(name) exited (status \(process.terminationStatus)) while waiting for \(what)\n\(logTail())")
            }
            if ContinuousClock.now >= deadline {
                throw ManagedProcessError("timed out after \(timeout) waiting for \(what) from \(name)\n\(logTail())")
            }
            usleep(20_000)
        }
    }

    /// Sends SIGTERM, waits up to `gracePeriod` for the process to exit, then SIGKILLs it.
    /// Returns once the process is gone. Does nothing if it already exited.
    public func stop(gracePeriod: Duration = .seconds(10)) {
        guard process.isRunning else { return }
        kill(process.processIdentifier, SIGTERM)
        if waitForExit(timeout: gracePeriod) { return }
        kill9()
    }

    /// Sends SIGKILL (a crash, as far as the process is concerned) and waits until it is gone.
    public func kill9() {
        guard process.isRunning else { return }
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
    }

    /// Waits up to `timeout` for the process to exit; returns whether it did.
    @discardableResult
    public func waitForExit(timeout: Duration) -> Bool {
        let deadline = ContinuousClock.now + timeout
        while process.isRunning {
            if ContinuousClock.now >= deadline { return false }
            usleep(10_000)
        }
        return true
    }

    /// The last `maxBytes` of the log file, for error messages.
    public func logTail(maxBytes: Int = 4000) -> String {
        guard let data = FileManager.default.contents(atPath: logFile) else { return "(no log at \(logFile))" }
        return "--- last \(min(maxBytes, data.count)) bytes of \(logFile) ---\n" + String(decoding: data.suffix(maxBytes), as: UTF8.self)
    }

    private var name: String { "\((executable as NSString).lastPathComponent) (pid \(process.processIdentifier))" }

    private func closeLog() {
        lock.withLock {
            try? logHandle?.close()
            logHandle = nil
        }
    }

    /// The first of `directories` (then each entry of `PATH`) holding an executable `name`.
    public static func findExecutable(named name: String, extraDirectories: [String] = []) -> String? {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? ""
        let candidates = path.split(separator: ":").map(String.init) + extraDirectories
        for directory in candidates where !directory.isEmpty {
            let file = (directory as NSString).appendingPathComponent(name)
            if FileManager.default.isExecutableFile(atPath: file) { return file }
        }
        return nil
    }
}

/// A TCP port on 127.0.0.1 that was free a moment ago (bound to port 0, then released).
/// Another process could take it before the caller binds it; tests accept that small race.
public func findFreeTCPPort() -> Int {
    let fd = socket(AF_INET, socketStreamType, 0)
    precondition(fd >= 0, "socket() failed: errno \(errno)")
    defer { close(fd) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_port = 0
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    let bound = withUnsafePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
    }
    precondition(bound == 0, "bind(127.0.0.1:0) failed: errno \(errno)")
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    let named = withUnsafeMutablePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
    }
    precondition(named == 0, "getsockname failed: errno \(errno)")
    return Int(UInt16(bigEndian: address.sin_port))
}

/// Whether a TCP connection to `host:port` succeeds right now (the connection is closed at once).
public func isTCPPortAcceptingConnections(host: String = "127.0.0.1", port: Int) -> Bool {
    guard let fd = connectTCP(host: host, port: port, timeout: .seconds(1)) else { return false }
    close(fd)
    return true
}

/// A connected, blocking TCP socket with `timeout` as its send/receive timeout, or `nil`.
func connectTCP(host: String, port: Int, timeout: Duration) -> Int32? {
    var hints = addrinfo()
    hints.ai_family = AF_UNSPEC
    hints.ai_socktype = socketStreamType
    var results: UnsafeMutablePointer<addrinfo>?
    guard getaddrinfo(host, String(port), &hints, &results) == 0, let first = results else { return nil }
    defer { freeaddrinfo(first) }
    var candidate: UnsafeMutablePointer<addrinfo>? = first
    while let info = candidate {
        candidate = info.pointee.ai_next
        let fd = socket(info.pointee.ai_family, info.pointee.ai_socktype, info.pointee.ai_protocol)
        if fd < 0 { continue }
        let (seconds, attoseconds) = timeout.components
        var tv = timeval(tv_sec: .init(seconds), tv_usec: .init(attoseconds / 1_000_000_000_000))
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        if connect(fd, info.pointee.ai_addr, info.pointee.ai_addrlen) == 0 { return fd }
        close(fd)
    }
    return nil
}

#if os(Linux)
let socketStreamType = Int32(SOCK_STREAM.rawValue)
#else
let socketStreamType = SOCK_STREAM
#endif

/// A minimal HTTP/1.1 GET over a fresh connection (`Connection: close`), for probing a process's
/// endpoints in tests: the status code and body, or nil when nothing answers.
public func httpGet(host: String = "127.0.0.1", port: Int, path: String, timeout: Duration = .seconds(5)) -> (status: Int, body: String)? {
    guard let fd = connectTCP(host: host, port: port, timeout: timeout) else { return nil }
    defer { close(fd) }
    let request = Array("GET \(path) HTTP/1.1\r\nHost: \(host)\r\nConnection: close\r\n\r\n".utf8)
    guard request.withUnsafeBytes({ send(fd, $0.baseAddress, $0.count, 0) }) == request.count else { return nil }
    var response: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: 65_536)
    while true {
        let count = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
        if count <= 0 { break }
        response += chunk[0..<count]
    }
    let text = String(decoding: response, as: UTF8.self)
    guard let headerEnd = text.range(of: "\r\n\r\n"),
          let status = text.split(separator: " ", maxSplits: 2).dropFirst().first.flatMap({ Int($0) }) else { return nil }
    return (status, String(text[headerEnd.upperBound...]))
}
