import Logging
import SluiceRedis
import SluiceTestSupport
import XCTest

let testLogger: Logger = {
    var logger = Logger(label: "sluice.redis.tests")
    logger.logLevel = .info
    return logger
}()

extension RedisTestServer {
    /// A configuration for this server; `adjust` changes it further.
    func configuration(_ adjust: (inout RedisConfiguration) -> Void = { _ in }) -> RedisConfiguration {
        var configuration = RedisConfiguration(host: host, port: port, password: password,
                                               connectTimeout: .seconds(2), commandTimeout: .seconds(5))
        adjust(&configuration)
        return configuration
    }

    func connect(_ adjust: (inout RedisConfiguration) -> Void = { _ in }) throws -> RedisConnection {
        try RedisConnection(configuration: configuration(adjust), logger: testLogger)
    }
}

/// Runs `body`, expecting a `RedisError`; fails the test if it returns or throws something else.
func XCTAssertThrowsRedisError<T>(
    _ body: @autoclosure () throws -> T,
    _ message: String = "",
    file: StaticString = #filePath, line: UInt = #line,
    _ check: (RedisError) -> Void = { _ in }
) {
    do {
        let value = try body()
        XCTFail("expected a RedisError, got \(value) \(message)", file: file, line: line)
    } catch let error as RedisError {
        check(error)
    } catch {
        XCTFail("expected a RedisError, got \(error) \(message)", file: file, line: line)
    }
}
