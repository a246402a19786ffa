import Foundation
import SluiceRedis
import SluiceTestSupport
import XCTest

#if canImport(Glibc)
import Glibc
#endif

/// Checks the wire behaviour of pipelines against a scripted fake server.
final class RedisPipelineRoundTripTests: XCTestCase {
    /// The fake server answers nothing until it has received every command, so a client that
    /// waited for each reply before sending the next command would time out here.
    func testPipelineSendsEveryCommandBeforeReadingAnyReply() throws {
        let commandCount = 500
        let request = Array("*1\r\n$4\r\nPING\r\n".utf8)
        let server = try FakeRedisServer { connection in
            var received = 0
            var buffer = [UInt8](repeating: 0, count: 65536)
            while received < request.count * commandCount {
                let count = buffer.withUnsafeMutableBytes { recv(connection, $0.baseAddress, $0.count, 0) }
                if count <= 0 { return }
                received += count
            }
            let replies = Array(String(repeating: "+PONG\r\n", count: commandCount).utf8)
            _ = replies.withUnsafeBytes { send(connection, $0.baseAddress, $0.count, 0) }
        }
        let connection = try RedisConnection(
            configuration: RedisConfiguration(host: "127.0.0.1", port: server.port, commandTimeout: .seconds(2)),
            logger: testLogger)
        let replies = try connection.pipeline(Array(repeating: ["PING"], count: commandCount))
        XCTAssertEqual(replies, Array(repeating: .status("PONG"), count: commandCount))
    }

    /// After the server dies, writing a large pipeline hits a closed socket; this must be reported
    /// as `.io`, not kill the process with SIGPIPE.
    func testWritingToADeadServerIsAnErrorNotSIGPIPE() throws {
        let server = try RedisTestServer()
        let connection = try server.connect()
        XCTAssertEqual(try connection.execute("PING"), .status("PONG"))
        server.kill9()
        let big = RedisArgument.bytes([UInt8](repeating: 0x61, count: 1 << 20))
        XCTAssertThrowsRedisError(try connection.pipeline(Array(repeating: ["SET", "k", big], count: 16))) { error in
            XCTAssertEqual(error.code, .io, "\(error)")
        }
    }
}

/// Accepts one connection on 127.0.0.1 and runs `script` with its socket on a background thread.
private final class FakeRedisServer: Sendable {
    let port: Int
    private let listener: Int32

    init(script: @escaping @Sendable (Int32) -> Void) throws {
        let listener = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard listener >= 0 else { throw ManagedProcessError("socket failed") }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let ok = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(listener, $0, length) == 0 && listen(listener, 1) == 0 && getsockname(listener, $0, &length) == 0
            }
        }
        guard ok else {
            close(listener)
            throw ManagedProcessError("bind/listen failed: errno \(errno)")
        }
        self.listener = listener
        self.port = Int(UInt16(bigEndian: address.sin_port))
        Thread.detachNewThread {
            let connection = accept(listener, nil, nil)
            guard connection >= 0 else { return }
            script(connection)
            close(connection)
        }
    }

    deinit { close(listener) }
}
