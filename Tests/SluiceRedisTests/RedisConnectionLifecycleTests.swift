import SluiceRedis
import SluiceTestSupport
import XCTest

/// Connecting, authenticating, selecting a database, timeouts and reconnecting, against a real redis-server.
final class RedisConnectionLifecycleTests: XCTestCase {
    func testAuthWithPassword() throws {
        let server = try RedisTestServer(password: "pa ss:wörd")

        let connection = try RedisConnection(configuration: RedisConfiguration(url: server.url), logger: testLogger)
        XCTAssertEqual(try connection.execute("SET", "k", "v"), .status("OK"))
        XCTAssertEqual(try connection.execute("GET", "k"), .bulk(Array("v".utf8)))

        XCTAssertThrowsRedisError(try server.connect { $0.password = "wrong" }) { error in
            XCTAssertEqual(error.code, .authenticationFailed)
            XCTAssertEqual(error.command, "AUTH")
            XCTAssertFalse(error.message.contains("wrong"), "the password must not appear: \(error.message)")
        }

        // Without a password the connection opens, but commands are refused.
        let anonymous = try server.connect { $0.password = nil }
        XCTAssertThrowsRedisError(try anonymous.execute("GET", "k")) { error in
            XCTAssertEqual(error.code, .replyError)
            XCTAssertTrue(error.message.hasPrefix("NOAUTH"), error.message)
        }
    }

    func testSelectDatabase() throws {
        let server = try RedisTestServer()
        let database3 = try server.connect { $0.database = 3 }
        let database0 = try server.connect()
        let database3ByURL = try RedisConnection(configuration: RedisConfiguration(url: server.url + "/3"), logger: testLogger)

        XCTAssertEqual(try database3.execute("SET", "only-in-3", "yes"), .status("OK"))
        XCTAssertEqual(try database0.execute("GET", "only-in-3"), .null)
        XCTAssertEqual(try database3ByURL.execute("GET", "only-in-3"), .bulk(Array("yes".utf8)))
        XCTAssertEqual(try database0.execute("SELECT", 3), .status("OK"))
        XCTAssertEqual(try database0.execute("GET", "only-in-3"), .bulk(Array("yes".utf8)))

        XCTAssertThrowsRedisError(try server.connect { $0.database = 99 }) { error in
            XCTAssertEqual(error.code, .connectionFailed)
            XCTAssertEqual(error.command, "SELECT")
            XCTAssertTrue(error.message.contains("out of range"), error.message)
        }
    }

    func testConnectToAClosedPortFailsQuicklyWithConnectionFailed() {
        let port = findFreeTCPPort()  // nothing listens on it
        let started = ContinuousClock.now
        XCTAssertThrowsRedisError(try RedisConnection(
            configuration: RedisConfiguration(host: "127.0.0.1", port: port, connectTimeout: .seconds(5)),
            logger: testLogger
        )) { error in
            XCTAssertEqual(error.code, .connectionFailed)
            XCTAssertTrue(error.message.contains("\(port)"), error.message)
            XCTAssertTrue(error.message.lowercased().contains("refused"), error.message)
        }
        XCTAssertLessThan(ContinuousClock.now - started, .seconds(1))
    }

    func testReconnectAfterTheServerIsStoppedAndRestarted() throws {
        let server = try RedisTestServer(persistence: .appendOnly)
        let connection = try server.connect {
            $0.reconnectInitialBackoff = .milliseconds(50)
            $0.reconnectMaxBackoff = .milliseconds(200)
        }
        XCTAssertEqual(try connection.execute("SET", "survives", "restart"), .status("OK"))
        XCTAssertEqual(connection.reconnectCount, 0)

        server.stop()
        // The first call finds the connection gone: an I/O error, not retried.
        XCTAssertThrowsRedisError(try connection.execute("INCR", "counter")) { error in
            XCTAssertEqual(error.code, .io, "\(error)")
            XCTAssertEqual(error.command, "INCR")
            XCTAssertTrue(error.outcomeIsUnknown)
        }
        XCTAssertFalse(connection.isConnected)
        // While the server is down, reconnect attempts fail without sending anything.
        XCTAssertThrowsRedisError(try connection.execute("GET", "survives")) { error in
            XCTAssertEqual(error.code, .connectionFailed, "\(error)")
            XCTAssertTrue(error.message.contains("reconnect attempt 1"), error.message)
            XCTAssertFalse(error.outcomeIsUnknown)
        }
        XCTAssertEqual(connection.reconnectCount, 0)

        try server.restart()
        XCTAssertEqual(try connection.execute("GET", "survives"), .bulk(Array("restart".utf8)))
        XCTAssertTrue(connection.isConnected)
        XCTAssertEqual(connection.reconnectCount, 1)
        XCTAssertEqual(try connection.execute("GET", "counter"), .null, "the failed INCR was not replayed")

        // A server crash (SIGKILL) is handled the same way.
        server.kill9()
        XCTAssertThrowsRedisError(try connection.pipeline([["PING"], ["PING"]])) { error in
            XCTAssertEqual(error.code, .io, "\(error)")
            XCTAssertNotNil(error.commandIndex)
        }
        try server.restart()
        XCTAssertEqual(try connection.pipeline([["PING"], ["GET", "survives"]]), [.status("PONG"), .bulk(Array("restart".utf8))])
        XCTAssertEqual(connection.reconnectCount, 2)
    }

    func testReconnectReauthenticatesAndReselects() throws {
        let server = try RedisTestServer(password: "secret")
        let connection = try server.connect { $0.database = 2 }
        XCTAssertEqual(try connection.execute("SET", "k", "in-2"), .status("OK"))

        server.kill9()
        XCTAssertThrowsRedisError(try connection.execute("PING")) { XCTAssertEqual($0.code, .io) }
        try server.restart()  // no persistence: the data is gone, the settings are not
        XCTAssertEqual(try connection.execute("SET", "k2", "again"), .status("OK"))
        XCTAssertEqual(connection.reconnectCount, 1)

        let checker = try server.connect()
        XCTAssertEqual(try checker.execute("EXISTS", "k2"), .integer(0), "database 0 must not have the key")
        XCTAssertEqual(try checker.execute("SELECT", 2), .status("OK"))
        XCTAssertEqual(try checker.execute("GET", "k2"), .bulk(Array("again".utf8)))
    }

    func testGivesUpAfterMaxReconnectAttempts() throws {
        let server = try RedisTestServer()
        let connection = try server.connect {
            $0.reconnectInitialBackoff = .milliseconds(20)
            $0.reconnectMaxBackoff = .milliseconds(40)
            $0.maxReconnectAttempts = 2
        }
        server.stop()
        XCTAssertThrowsRedisError(try connection.execute("PING")) { XCTAssertEqual($0.code, .io) }
        XCTAssertThrowsRedisError(try connection.execute("PING")) { XCTAssertTrue($0.message.contains("attempt 1"), $0.message) }
        XCTAssertThrowsRedisError(try connection.execute("PING")) { XCTAssertTrue($0.message.contains("attempt 2"), $0.message) }

        try server.restart()
        XCTAssertThrowsRedisError(try connection.execute("PING")) { error in
            XCTAssertEqual(error.code, .connectionFailed)
            XCTAssertTrue(error.message.contains("gave up"), error.message)
        }
        XCTAssertEqual(connection.reconnectCount, 0)
    }

    func testBackoffDelaysTheNextAttempt() throws {
        let server = try RedisTestServer()
        let connection = try server.connect {
            $0.reconnectInitialBackoff = .milliseconds(400)
            $0.reconnectMaxBackoff = .milliseconds(400)
        }
        server.stop()
        XCTAssertThrowsRedisError(try connection.execute("PING")) { XCTAssertEqual($0.code, .io) }
        let started = ContinuousClock.now
        XCTAssertThrowsRedisError(try connection.execute("PING")) { XCTAssertEqual($0.code, .connectionFailed) }
        XCTAssertLessThan(ContinuousClock.now - started, .milliseconds(150), "the first reconnect attempt is immediate")
        let second = ContinuousClock.now
        XCTAssertThrowsRedisError(try connection.execute("PING")) { XCTAssertEqual($0.code, .connectionFailed) }
        XCTAssertGreaterThanOrEqual(ContinuousClock.now - second, .milliseconds(190), "jittered 400 ms ≥ 200 ms")
    }

    func testCommandTimeoutDropsTheConnectionAndTheNextCallReconnects() throws {
        let server = try RedisTestServer()
        let connection = try server.connect { $0.commandTimeout = .milliseconds(300) }

        let started = ContinuousClock.now
        XCTAssertThrowsRedisError(try connection.execute("BLPOP", "never-filled", 5)) { error in
            XCTAssertEqual(error.code, .timeout, "\(error)")
            XCTAssertEqual(error.command, "BLPOP")
            XCTAssertTrue(error.outcomeIsUnknown)
        }
        let elapsed = ContinuousClock.now - started
        XCTAssertGreaterThanOrEqual(elapsed, .milliseconds(250))
        XCTAssertLessThan(elapsed, .seconds(3))
        XCTAssertFalse(connection.isConnected)

        XCTAssertEqual(try connection.execute("PING"), .status("PONG"))
        XCTAssertEqual(connection.reconnectCount, 1)
    }
}
