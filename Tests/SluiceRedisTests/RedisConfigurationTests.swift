@testable import SluiceRedis
import XCTest

final class RedisConfigurationTests: XCTestCase {
    func testURLWithPasswordPortAndDatabase() throws {
        let configuration = try RedisConfiguration(url: "redis://:s3cret@redis.example:6380/5")
        XCTAssertEqual(configuration.host, "redis.example")
        XCTAssertEqual(configuration.port, 6380)
        XCTAssertNil(configuration.username)
        XCTAssertEqual(configuration.password, "s3cret")
        XCTAssertEqual(configuration.database, 5)
    }

    func testURLDefaultsAndVariants() throws {
        let plain = try RedisConfiguration(url: "redis://localhost")
        XCTAssertEqual(plain.host, "localhost")
        XCTAssertEqual(plain.port, 6379)
        XCTAssertNil(plain.password)
        XCTAssertEqual(plain.database, 0)

        let withUser = try RedisConfiguration(url: "redis://sluice:p%40ss%3Aword@10.0.0.1:7000/")
        XCTAssertEqual(withUser.username, "sluice")
        XCTAssertEqual(withUser.password, "p@ss:word")
        XCTAssertEqual(withUser.host, "10.0.0.1")
        XCTAssertEqual(withUser.port, 7000)
        XCTAssertEqual(withUser.database, 0)

        let ipv6 = try RedisConfiguration(url: "redis://[::1]:6390/2")
        XCTAssertEqual(ipv6.host, "::1")
        XCTAssertEqual(ipv6.port, 6390)
        XCTAssertEqual(ipv6.database, 2)
    }

    func testInvalidURLsAreRejected() {
        for url in [
            "http://localhost:6379", "rediss://localhost", "redis://", "redis://host:0", "redis://host:70000",
            "redis://host:port", "redis://host/-1", "redis://host/db", "redis://password@host",
            "redis://host?timeout=1", "redis://[::1", "redis://:bad%zz@host",
        ] {
            XCTAssertThrowsError(try RedisConfiguration(url: url), url) { error in
                XCTAssertEqual((error as? RedisError)?.code, .invalidArgument, url)
            }
        }
    }

    func testDescriptionHidesThePassword() throws {
        let configuration = try RedisConfiguration(url: "redis://:topsecret@h:1/3")
        XCTAssertFalse(configuration.description.contains("topsecret"), configuration.description)
        XCTAssertEqual(configuration.description, "redis://:***@h:1/3")
    }

    func testReconnectDelayDoublesUpToTheMaximumAndIsJitteredDown() {
        let configuration = RedisConfiguration(reconnectInitialBackoff: .milliseconds(100), reconnectMaxBackoff: .seconds(1))
        XCTAssertEqual(configuration.reconnectDelay(afterFailedAttempts: 1, jitter: 1), .milliseconds(100))
        XCTAssertEqual(configuration.reconnectDelay(afterFailedAttempts: 2, jitter: 1), .milliseconds(200))
        XCTAssertEqual(configuration.reconnectDelay(afterFailedAttempts: 4, jitter: 1), .milliseconds(800))
        XCTAssertEqual(configuration.reconnectDelay(afterFailedAttempts: 5, jitter: 1), .seconds(1))
        XCTAssertEqual(configuration.reconnectDelay(afterFailedAttempts: 500, jitter: 1), .seconds(1))
        XCTAssertEqual(configuration.reconnectDelay(afterFailedAttempts: 2, jitter: 0.5), .milliseconds(100))
    }
}
