import SluiceRedis
import SluiceTestSupport
import XCTest

/// Commands, replies and pipelines against a real redis-server.
final class RedisConnectionTests: XCTestCase {
    func testSetAndGetAreBinarySafe() throws {
        let server = try RedisTestServer()
        let connection = try server.connect()

        let key: [UInt8] = [0x6b, 0x00, 0xff, 0x0d, 0x0a, 0x6b]  // "k\0\xff\r\nk"
        let value: [UInt8] = [0x00, 0x01, 0x00, 0xfe, 0xff, 0x0d, 0x0a, 0x24, 0x2a, 0x00]
        XCTAssertEqual(try connection.execute("SET", .bytes(key), .bytes(value)), .status("OK"))
        XCTAssertEqual(try connection.execute("GET", .bytes(key)), .bulk(value))
        XCTAssertEqual(try connection.execute("STRLEN", .bytes(key)), .integer(Int64(value.count)))
        // The key is found only with its NUL and following bytes.
        XCTAssertEqual(try connection.execute("EXISTS", .bytes([0x6b])), .integer(0))

        let large = (0..<1_000_000).map { UInt8(truncatingIfNeeded: $0 &* 31) }
        XCTAssertEqual(try connection.execute("SET", "large", .bytes(large)), .status("OK"))
        let readBack = try connection.execute("GET", "large").bytesValue ?? []
        XCTAssertTrue(readBack == large, "1 MB value read back as \(readBack.count) bytes, first difference at \(zip(readBack, large).enumerated().first { $0.element.0 != $0.element.1 }?.offset ?? -1)")

        XCTAssertEqual(try connection.execute("SET", "empty", .bytes([])), .status("OK"))
        XCTAssertEqual(try connection.execute("GET", "empty"), .bulk([]))
        XCTAssertEqual(try connection.execute("GET", "missing"), .null)
        XCTAssertTrue(try connection.execute("GET", "missing").isNull)
    }

    func testNumbersAndReplyAccessors() throws {
        let server = try RedisTestServer()
        let connection = try server.connect()

        XCTAssertEqual(try connection.execute("HSET", "h", "count", .integer(-9_223_372_036_854_775_807)), .integer(1))
        XCTAssertEqual(try connection.execute("HGET", "h", "count").int64Value, -9_223_372_036_854_775_807)
        XCTAssertEqual(try connection.execute("HINCRBY", "h", "n", 41), .integer(41))
        XCTAssertEqual(try connection.execute("HINCRBYFLOAT", "h", "sum", .double(0.1)).doubleValue, 0.1)
        XCTAssertEqual(try connection.execute("HINCRBYFLOAT", "h", "sum", .double(1e-5)).stringValue, "0.10001")
        XCTAssertEqual(try connection.execute("PING").stringValue, "PONG")

        let all = try connection.execute("HGETALL", "h").arrayValue ?? []
        XCTAssertEqual(all.count, 6)
        var fields: [String: String] = [:]
        for pair in stride(from: 0, to: all.count, by: 2) {
            fields[all[pair].stringValue ?? "?"] = all[pair + 1].stringValue
        }
        XCTAssertEqual(fields, ["count": "-9223372036854775807", "n": "41", "sum": "0.10001"])

        let userID = 42
        XCTAssertEqual(try connection.execute("SET", "user:\(userID)", "x"), .status("OK"))
        XCTAssertEqual(try connection.execute("GET", "user:42"), .bulk(Array("x".utf8)))
    }

    func testPipelineOf1000CommandsReturns1000RepliesInOrder() throws {
        let server = try RedisTestServer()
        let connection = try server.connect()

        let commands: [[RedisArgument]] = (0..<1000).map { index in
            index % 2 == 0 ? ["RPUSH", "list", .integer(index)] : ["ECHO", "reply-\(index)"]
        }
        let replies = try connection.pipeline(commands)
        XCTAssertEqual(replies.count, 1000)
        for (index, reply) in replies.enumerated() {
            let expected: RedisReply = index % 2 == 0 ? .integer(Int64(index / 2 + 1)) : .bulk(Array("reply-\(index)".utf8))
            XCTAssertEqual(reply, expected, "reply \(index)")
        }
        let list = try connection.execute("LRANGE", "list", 0, -1).arrayValue?.compactMap(\.int64Value)
        XCTAssertEqual(list, Array(stride(from: 0, to: 1000, by: 2)))
    }

    func testPipelineFromAReusedBatch() throws {
        let server = try RedisTestServer()
        let connection = try server.connect()

        var batch = RedisCommandBatch()
        for round in 1...3 {
            batch.removeAll()
            for index in 0..<100 {
                batch.appendCommand { command in
                    command.append("HINCRBY")
                    command.append(bytes: [0x75, 0x00, UInt8(index)])  // a binary key per index
                    command.append("n")
                    command.append(index)
                }
            }
            batch.append("ECHO", .bytes([]))
            XCTAssertEqual(batch.count, 101)
            let replies = try connection.pipeline(batch).throwingErrors()
            XCTAssertEqual(replies.count, 101)
            XCTAssertEqual(replies.prefix(100).map(\.int64Value), (0..<100).map { Int64($0 * round) })
            XCTAssertEqual(replies.last, .bulk([]))
        }
        XCTAssertEqual(try connection.execute("HGET", .bytes([0x75, 0x00, 7]), "n"), .bulk(Array("21".utf8)))
    }

    func testAppendCommandThatThrowsLeavesTheBatchUnchanged() throws {
        struct Abort: Error {}
        var batch = RedisCommandBatch()
        batch.append("SET", "a", "1")
        XCTAssertThrowsError(try batch.appendCommand { command in
            command.append("SET")
            command.append("b")
            throw Abort()
        })
        batch.append("GET", "a")
        XCTAssertEqual(batch.count, 2)

        let server = try RedisTestServer()
        let connection = try server.connect()
        XCTAssertEqual(try connection.pipeline(batch), [.status("OK"), .bulk(Array("1".utf8))])
        XCTAssertEqual(try connection.execute("EXISTS", "b"), .integer(0))
    }

    func testErrorReplyInsideAPipelineIsReturnedInPlaceAndThrownWithItsIndex() throws {
        let server = try RedisTestServer()
        let connection = try server.connect()

        let replies = try connection.pipeline([
            ["SET", "text", "hello"],
            ["INCR", "counter"],
            ["LPUSH", "text", "x"],  // WRONGTYPE: text holds a string
            ["INCR", "counter"],
            ["GET", "text"],
        ])
        XCTAssertEqual(replies.count, 5)
        XCTAssertEqual(replies[0], .status("OK"))
        XCTAssertEqual(replies[1], .integer(1))
        XCTAssertTrue(replies[2].isError, "\(replies[2])")
        XCTAssertTrue(replies[2].errorMessage?.hasPrefix("WRONGTYPE") ?? false, "\(replies[2])")
        XCTAssertEqual(replies[3], .integer(2), "commands after the error still ran")
        XCTAssertEqual(replies[4], .bulk(Array("hello".utf8)))

        XCTAssertThrowsRedisError(try replies.throwingErrors()) { error in
            XCTAssertEqual(error.code, .replyError)
            XCTAssertEqual(error.commandIndex, 2)
            XCTAssertTrue(error.message.hasPrefix("WRONGTYPE"), error.message)
            XCTAssertTrue(error.description.contains("command 2"), error.description)
        }
        XCTAssertEqual(try replies.prefix(2).map { $0 }.throwingErrors().count, 2)
        XCTAssertEqual(try connection.execute("GET", "counter"), .bulk(Array("2".utf8)), "connection still usable")
    }

    func testExecuteThrowsErrorRepliesAndTheConnectionStaysUsable() throws {
        let server = try RedisTestServer()
        let connection = try server.connect()

        XCTAssertThrowsRedisError(try connection.execute("NOSUCHCOMMAND", "x")) { error in
            XCTAssertEqual(error.code, .replyError)
            XCTAssertEqual(error.command, "NOSUCHCOMMAND")
            XCTAssertNil(error.commandIndex)
            XCTAssertTrue(error.message.contains("unknown command"), error.message)
            XCTAssertFalse(error.outcomeIsUnknown)
        }
        XCTAssertTrue(connection.isConnected)
        XCTAssertEqual(try connection.execute("PING"), .status("PONG"))
        XCTAssertEqual(connection.reconnectCount, 0)
    }

    func testEmptyCommandsAreRejectedBeforeAnythingIsSent() throws {
        let server = try RedisTestServer()
        let connection = try server.connect()

        XCTAssertThrowsRedisError(try connection.execute([])) { XCTAssertEqual($0.code, .invalidArgument) }
        XCTAssertThrowsRedisError(try connection.pipeline([["SET", "a", "1"], []])) { error in
            XCTAssertEqual(error.code, .invalidArgument)
            XCTAssertEqual(error.commandIndex, 1)
        }
        XCTAssertEqual(try connection.execute("EXISTS", "a"), .integer(0), "no part of the pipeline was sent")
        XCTAssertEqual(try connection.pipeline([]), [])
        XCTAssertTrue(connection.isConnected)
    }

    func testCloseMakesLaterCallsFail() throws {
        let server = try RedisTestServer()
        let connection = try server.connect()
        XCTAssertEqual(try connection.execute("PING"), .status("PONG"))
        connection.close()
        XCTAssertFalse(connection.isConnected)
        XCTAssertThrowsRedisError(try connection.execute("PING")) { XCTAssertEqual($0.code, .closed) }
    }
}
