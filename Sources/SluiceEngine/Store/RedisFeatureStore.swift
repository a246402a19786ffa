import Logging
import SluiceCore
import SluiceRedis

/// Entity state in Redis: one hash per entity, `<prefix>:<topology>:user:<user_id>`, holding the
/// fields of `EntityStateCodec` and expiring after the longest window plus allowed lateness of
/// inactivity (layout in docs/features.md). Reads and writes are one pipelined round trip per batch.
///
/// Threading: blocking; used by the pipeline thread only.
public final class RedisFeatureStore: @unchecked Sendable {
    public let connection: RedisConnection
    private let codec: EntityStateCodec
    private let keyPrefix: String
    private let ttlMillis: Int64
    private var batch = RedisCommandBatch()

    public init(connection: RedisConnection, topology: Topology, keyPrefix: String) {
        self.connection = connection
        self.codec = EntityStateCodec(featureSet: topology.features)
        self.keyPrefix = "\(keyPrefix):\(topology.name):user:"
        self.ttlMillis = topology.features.stateRetentionMillis
    }

    public func key(for userID: String) -> String { keyPrefix + userID }

    /// Deletes every entity hash under this store's prefix (SCAN + UNLINK); returns how many.
    /// For replays, which must start from empty state to reproduce the stream.
    @discardableResult
    public func deleteAll() throws -> Int {
        var cursor = "0"
        var deleted = 0
        repeat {
            let reply = try connection.execute(["SCAN", .string(cursor), "MATCH", .string(keyPrefix + "*"), "COUNT", 1000])
            guard case .array(let parts) = reply, parts.count == 2, let next = parts[0].stringValue, case .array(let keys) = parts[1] else {
                throw RedisError(.protocol, "SCAN returned \(reply)")
            }
            cursor = next
            let names = keys.compactMap(\.bytesValue)
            if !names.isEmpty {
                _ = try connection.execute([RedisArgument.string("UNLINK")] + names.map { RedisArgument.bytes($0) })
                deleted += names.count
            }
        } while cursor != "0"
        return deleted
    }

    /// Reads the state of every user in `userIDs` (absent users start empty).
    public func load(_ userIDs: [String]) throws -> [String: EntityState] {
        guard !userIDs.isEmpty else { return [:] }
        batch.removeAll()
        for user in userIDs { batch.append("HGETALL", .string(key(for: user))) }
        let replies = try connection.pipeline(batch)
        var states: [String: EntityState] = [:]
        states.reserveCapacity(userIDs.count)
        for (user, reply) in zip(userIDs, replies) {
            guard case .array(let items) = reply, items.count % 2 == 0 else {
                throw RedisError(.protocol, "HGETALL \(key(for: user)) returned \(reply)")
            }
            var fields: [String: [UInt8]] = [:]
            var index = 0
            while index < items.count {
                guard let name = items[index].bytesValue, let value = items[index + 1].bytesValue else {
                    throw RedisError(.protocol, "HGETALL \(key(for: user)): unexpected item \(items[index])")
                }
                fields[String(decoding: name, as: UTF8.self)] = value
                index += 2
            }
            states[user] = try codec.decode(fields)
        }
        return states
    }

    /// Writes the full state of each entity and refreshes its expiry. Idempotent: writing the
    /// same states twice leaves Redis as writing them once.
    public func save(_ states: [(userID: String, state: EntityState)]) throws {
        guard !states.isEmpty else { return }
        batch.removeAll()
        for (user, state) in states {
            let userKey = key(for: user)
            batch.appendCommand { command in
                command.append("HSET")
                command.append(userKey)
                for (field, value) in codec.encode(state) {
                    command.append(field)
                    command.append(bytes: value)
                }
            }
            batch.append("PEXPIRE", .string(userKey), .integer(ttlMillis))
        }
        let replies = try connection.pipeline(batch)
        for (index, reply) in replies.enumerated() where reply.isError {
            throw RedisError(.replyError, reply.errorMessage ?? "error", command: index % 2 == 0 ? "HSET" : "PEXPIRE", commandIndex: index)
        }
    }
}
