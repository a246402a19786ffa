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
    let codec: EntityStateCodec
    private let keyPrefix: String
    /// `<prefix>:<topology>:`, for keys that are not entities.
    let topologyPrefix: String
    let ttlMillis: Int64
    var batch = RedisCommandBatch()
    /// SHA1s of the fenced-write scripts once loaded (FencedStateWriter.swift).
    var scriptSHAs: (fencedWrite: String, advance: String) = ("", "")

    /// Entity-hash fields `_off:<partition>`: the last input offset applied to the entity.
    public static let fenceFieldPrefix = "_off:"

    /// An entity hash that cannot be decoded (written by an incompatible version, or corrupt).
    public struct StateError: Error, CustomStringConvertible {
        public let key: String
        public let reason: String
        public var description: String { "corrupt entity state at \(key): \(reason)" }
    }

    public init(connection: RedisConnection, topology: Topology, keyPrefix: String) {
        self.connection = connection
        self.codec = EntityStateCodec(featureSet: topology.features)
        self.topologyPrefix = "\(keyPrefix):\(topology.name):"
        self.keyPrefix = "\(keyPrefix):\(topology.name):user:"
        self.ttlMillis = topology.features.stateRetentionMillis
    }

    public func key(for userID: String) -> String { keyPrefix + userID }

    /// Deletes every key of this topology under this store's prefix (SCAN + UNLINK): entity
    /// hashes, applied positions and the transaction log; returns how many.
    @discardableResult
    public func deleteAll() throws -> Int {
        var deleted = 0
        try scanKeys(matching: topologyPrefix + "*") { names in
            _ = try connection.execute([RedisArgument.string("UNLINK")] + names.map { RedisArgument.bytes($0) })
            deleted += names.count
        }
        return deleted
    }

    /// How many entity hashes exist under this store's prefix (for verification tools).
    public func countEntities() throws -> Int {
        var count = 0
        try scanKeys(matching: keyPrefix + "*") { count += $0.count }
        return count
    }

    /// Runs `body` on each non-empty page of keys matching `pattern` (SCAN, 1000 at a time).
    private func scanKeys(matching pattern: String, _ body: ([[UInt8]]) throws -> Void) throws {
        var cursor = "0"
        repeat {
            let reply = try connection.execute(["SCAN", .string(cursor), "MATCH", .string(pattern), "COUNT", 1000])
            guard case .array(let parts) = reply, parts.count == 2, let next = parts[0].stringValue, case .array(let keys) = parts[1] else {
                throw RedisError(.protocol, "SCAN returned \(reply)")
            }
            cursor = next
            let names = keys.compactMap(\.bytesValue)
            if !names.isEmpty { try body(names) }
        } while cursor != "0"
    }

    /// Reads the state of every user in `userIDs` (absent users start empty).
    public func load(_ userIDs: [String]) throws -> [String: EntityState] {
        try loadStored(userIDs).mapValues(\.state)
    }

    /// Reads state and the input positions applied to it (exactly-once fences) of every user.
    public func loadStored(_ userIDs: [String]) throws -> [String: StoredEntity] {
        guard !userIDs.isEmpty else { return [:] }
        batch.removeAll()
        for user in userIDs { batch.append("HGETALL", .string(key(for: user))) }
        let replies = try connection.pipeline(batch)
        var entities: [String: StoredEntity] = [:]
        entities.reserveCapacity(userIDs.count)
        for (user, reply) in zip(userIDs, replies) {
            guard case .array(let items) = reply, items.count % 2 == 0 else {
                throw RedisError(.protocol, "HGETALL \(key(for: user)) returned \(reply)")
            }
            var fields: [String: [UInt8]] = [:]
            var applied: [Int32: Int64] = [:]
            var index = 0
            while index < items.count {
                guard let nameBytes = items[index].bytesValue, let value = items[index + 1].bytesValue else {
                    throw RedisError(.protocol, "HGETALL \(key(for: user)): unexpected item \(items[index])")
                }
                let name = String(decoding: nameBytes, as: UTF8.self)
                if name.hasPrefix(Self.fenceFieldPrefix) {
                    guard let partition = Int32(name.dropFirst(Self.fenceFieldPrefix.count)),
                          let offset = Int64(String(decoding: value, as: UTF8.self)) else {
                        throw StateError(key: key(for: user), reason: "invalid fence field \(name)")
                    }
                    applied[partition] = offset
                } else {
                    fields[name] = value
                }
                index += 2
            }
            do {
                entities[user] = StoredEntity(state: try codec.decode(fields), applied: applied)
            } catch {
                throw StateError(key: key(for: user), reason: "\(error)")
            }
        }
        return entities
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
                codec.encode(state) { field, byteCount, write in
                    command.append(field)
                    command.append(byteCount: byteCount, write)
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

/// An entity's state as stored, with the last input offset applied to it per input partition.
public struct StoredEntity: Sendable {
    public var state: EntityState
    public var applied: [Int32: Int64]
    public init(state: EntityState, applied: [Int32: Int64] = [:]) {
        self.state = state
        self.applied = applied
    }
}
