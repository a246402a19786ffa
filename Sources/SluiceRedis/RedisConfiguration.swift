/// Where and how to connect to Redis, and how to reconnect when the connection is lost.
public struct RedisConfiguration: Sendable, Hashable, CustomStringConvertible {
    /// Host name or IP address (IPv6 without brackets).
    public var host: String
    public var port: Int
    /// Redis 6 ACL user name; `nil` sends `AUTH password` (the `default` user).
    public var username: String?
    /// When set, `AUTH` is sent after every (re)connect.
    public var password: String?
    /// When not 0, `SELECT database` is sent after every (re)connect.
    public var database: Int
    /// Bound on establishing the TCP connection.
    public var connectTimeout: Duration
    /// Bound on each blocking socket read or write; a command whose reply does not arrive within it
    /// fails with `.timeout` and the connection is dropped (its reply could still arrive later).
    public var commandTimeout: Duration
    /// Delay before the second reconnect attempt (the first is immediate), doubled after each
    /// further failure up to `reconnectMaxBackoff`; each delay is jittered down by up to 50 %.
    public var reconnectInitialBackoff: Duration
    public var reconnectMaxBackoff: Duration
    /// Consecutive failed reconnect attempts after which the connection gives up for good
    /// (every call then fails with `.connectionFailed`); `nil` keeps trying forever.
    public var maxReconnectAttempts: Int?

    public init(
        host: String = "127.0.0.1",
        port: Int = 6379,
        username: String? = nil,
        password: String? = nil,
        database: Int = 0,
        connectTimeout: Duration = .seconds(2),
        commandTimeout: Duration = .seconds(5),
        reconnectInitialBackoff: Duration = .milliseconds(100),
        reconnectMaxBackoff: Duration = .seconds(5),
        maxReconnectAttempts: Int? = nil
    ) {
        self.host = host
        self.port = port
        self.username = username
        self.password = password
        self.database = database
        self.connectTimeout = connectTimeout
        self.commandTimeout = commandTimeout
        self.reconnectInitialBackoff = reconnectInitialBackoff
        self.reconnectMaxBackoff = reconnectMaxBackoff
        self.maxReconnectAttempts = maxReconnectAttempts
    }

    /// Parses `redis://[[username]:password@]host[:port][/database]` (port defaults to 6379,
    /// database to 0; user name and password may be percent-encoded; IPv6 hosts in brackets).
    /// The other properties keep their defaults.
    public init(url: String) throws(RedisError) {
        self.init()
        let scheme = "redis://"
        guard url.hasPrefix(scheme) else {
            if url.hasPrefix("rediss://") {
                throw RedisError(.invalidArgument, "redis URL: TLS (rediss://) is not supported")
            }
            throw RedisError(.invalidArgument, "redis URL must start with redis://")
        }
        var rest = url.dropFirst(scheme.count)
        if rest.contains(where: { $0 == "?" || $0 == "#" }) {
            throw RedisError(.invalidArgument, "redis URL: query parameters and fragments are not supported")
        }

        if let slash = rest.firstIndex(of: "/") {
            let path = rest[rest.index(after: slash)...]
            rest = rest[..<slash]
            if !path.isEmpty {
                guard let database = Int(path), database >= 0 else {
                    throw RedisError(.invalidArgument, "redis URL: database '\(path)' is not a non-negative integer")
                }
                self.database = database
            }
        }

        if let at = rest.lastIndex(of: "@") {
            let userInfo = rest[..<at]
            rest = rest[rest.index(after: at)...]
            guard let colon = userInfo.firstIndex(of: ":") else {
                throw RedisError(.invalidArgument, "redis URL: credentials must be ':password' or 'username:password'")
            }
            let user = try Self.percentDecoded(userInfo[..<colon])
            let password = try Self.percentDecoded(userInfo[userInfo.index(after: colon)...])
            self.username = user.isEmpty ? nil : user
            self.password = password.isEmpty ? nil : password
        }

        var portText: Substring?
        if rest.hasPrefix("[") {
            guard let close = rest.firstIndex(of: "]") else {
                throw RedisError(.invalidArgument, "redis URL: unterminated '[' in host")
            }
            self.host = String(rest[rest.index(after: rest.startIndex)..<close])
            let afterHost = rest[rest.index(after: close)...]
            if !afterHost.isEmpty {
                guard afterHost.hasPrefix(":") else {
                    throw RedisError(.invalidArgument, "redis URL: unexpected '\(afterHost)' after host")
                }
                portText = afterHost.dropFirst()
            }
        } else if let colon = rest.lastIndex(of: ":") {
            self.host = String(rest[..<colon])
            portText = rest[rest.index(after: colon)...]
        } else {
            self.host = String(rest)
        }
        guard !host.isEmpty else { throw RedisError(.invalidArgument, "redis URL: missing host") }
        if let portText {
            guard let port = Int(portText), (1...65535).contains(port) else {
                throw RedisError(.invalidArgument, "redis URL: port '\(portText)' is not in 1...65535")
            }
            self.port = port
        }
    }

    /// Checks the values a connection depends on.
    func validate() throws(RedisError) {
        guard !host.isEmpty else { throw RedisError(.invalidArgument, "host is empty") }
        guard (1...65535).contains(port) else { throw RedisError(.invalidArgument, "port \(port) is not in 1...65535") }
        guard database >= 0 else { throw RedisError(.invalidArgument, "database \(database) is negative") }
        guard connectTimeout > .zero, commandTimeout > .zero else {
            throw RedisError(.invalidArgument, "connectTimeout and commandTimeout must be positive")
        }
        guard reconnectInitialBackoff >= .zero, reconnectMaxBackoff >= reconnectInitialBackoff else {
            throw RedisError(.invalidArgument, "reconnect backoff must satisfy 0 <= initial <= max")
        }
        if let maxReconnectAttempts, maxReconnectAttempts < 0 {
            throw RedisError(.invalidArgument, "maxReconnectAttempts must not be negative")
        }
    }

    /// The delay before the next reconnect attempt after `failedAttempts` consecutive failures
    /// (≥ 1): `initial · 2^(failedAttempts-1)`, capped at the maximum, then scaled by `jitter`
    /// (a factor in 0.5...1, random in production).
    func reconnectDelay(afterFailedAttempts failedAttempts: Int, jitter: Double) -> Duration {
        let exponent = min(max(failedAttempts - 1, 0), 30)
        let uncapped = reconnectInitialBackoff * (1 << exponent)
        let capped = min(uncapped, reconnectMaxBackoff)
        return capped * min(max(jitter, 0.5), 1.0)
    }

    /// Never shows the password.
    public var description: String {
        let credentials = password == nil ? "" : "\(username ?? ""):***@"
        let hostPart = host.contains(":") ? "[\(host)]" : host
        return "redis://\(credentials)\(hostPart):\(port)/\(database)"
    }

    private static func percentDecoded(_ text: Substring) throws(RedisError) -> String {
        guard text.contains("%") else { return String(text) }
        var bytes: [UInt8] = []
        var utf8 = text.utf8[...]
        while let byte = utf8.popFirst() {
            if byte == UInt8(ascii: "%") {
                guard utf8.count >= 2,
                      let value = UInt8(String(decoding: utf8.prefix(2), as: UTF8.self), radix: 16)
                else { throw RedisError(.invalidArgument, "redis URL: bad percent-encoding in credentials") }
                bytes.append(value)
                utf8 = utf8.dropFirst(2)
            } else {
                bytes.append(byte)
            }
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}
