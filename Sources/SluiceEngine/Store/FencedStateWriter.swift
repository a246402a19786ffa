import Foundation
import SluiceCore
import SluiceRedis

/// The Redis half of exactly-once (docs/exactly-once.md): entity writes fenced by input
/// offsets, per-partition applied positions, and the optional transaction audit log.
///
/// Every write is a single-key Lua script, so each is atomic on its own and the layout works
/// unchanged on Redis Cluster. Scripts run by SHA; after a Redis restart empties the script
/// cache (NOSCRIPT), they are loaded again and the whole batch is re-sent, which is safe
/// because every write here is idempotent.
extension RedisFeatureStore {
    /// Writes each entity unless Redis already holds a later position in one of the written
    /// partitions (a zombie's late write: it lacks what a newer owner applied) or nothing newer
    /// in any (a replayed write). Partitions compare one by one: an entity whose events moved to
    /// another partition (the input topic got more partitions) writes its old partition's
    /// position unchanged beside a new one, and that write must land. KEYS[1] entity; ARGV: ttl,
    /// n, n × (fence field, offset), then field/value pairs. Returns 1 when written, 0 when
    /// fenced off.
    static let fencedWriteScript = """
        local n = tonumber(ARGV[2])
        local newer = n == 0
        for i = 0, n - 1 do
          local current = redis.call('HGET', KEYS[1], ARGV[3 + 2 * i])
          local written = tonumber(ARGV[4 + 2 * i])
          if current and tonumber(current) > written then return 0 end
          if not current or tonumber(current) < written then newer = true end
        end
        if not newer then return 0 end
        redis.call('HSET', KEYS[1], unpack(ARGV, 3))
        redis.call('PEXPIRE', KEYS[1], ARGV[1])
        return 1
        """

    /// Raises per-partition positions in one hash, never lowering one. KEYS[1] hash; ARGV pairs.
    static let advanceScript = """
        for i = 1, #ARGV, 2 do
          local current = redis.call('HGET', KEYS[1], ARGV[i])
          if not current or tonumber(current) < tonumber(ARGV[i + 1]) then
            redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1])
          end
        end
        return 1
        """

    /// The hash of applied positions of an input topic: field = partition, value = the offset
    /// up to which (exclusive) every record's state change is in Redis.
    func appliedKey(topic: String) -> String { topologyPrefix + "applied:" + topic }
    public var transactionLogKey: String { topologyPrefix + "txlog" }

    /// Writes entity states fenced by their applied offsets; returns how many were fenced off.
    @discardableResult
    public func saveFenced(_ entities: [(userID: String, entity: StoredEntity)]) throws -> Int {
        guard !entities.isEmpty else { return 0 }
        let replies = try runScripts { batch in
            for (user, entity) in entities {
                let userKey = key(for: user)
                batch.appendCommand { command in
                    command.append("EVALSHA")
                    command.append(scriptSHAs.fencedWrite)
                    command.append(1)
                    command.append(userKey)
                    command.append(ttlMillis)
                    command.append(entity.applied.count)
                    for (partition, offset) in entity.applied.sorted(by: { $0.key < $1.key }) {
                        command.append(Self.fenceFieldPrefix + String(partition))
                        command.append(offset)
                    }
                    codec.encode(entity.state) { field, byteCount, write in
                        command.append(field)
                        command.append(byteCount: byteCount, write)
                    }
                }
            }
        }
        var fenced = 0
        for reply in replies where reply.int64Value == 0 { fenced += 1 }
        return fenced
    }

    /// Applied positions of `topic`'s partitions (absent: nothing recorded).
    public func appliedPositions(topic: String) throws -> [Int32: Int64] {
        let reply = try connection.execute(["HGETALL", .string(appliedKey(topic: topic))])
        guard case .array(let items) = reply, items.count % 2 == 0 else {
            throw RedisError(.protocol, "HGETALL \(appliedKey(topic: topic)) returned \(reply)")
        }
        var positions: [Int32: Int64] = [:]
        for index in stride(from: 0, to: items.count, by: 2) {
            guard let partition = items[index].stringValue.flatMap({ Int32($0) }),
                  let offset = items[index + 1].stringValue.flatMap({ Int64($0) }) else {
                throw StateError(key: appliedKey(topic: topic), reason: "invalid entry \(items[index]) = \(items[index + 1])")
            }
            positions[partition] = offset
        }
        return positions
    }

    /// Raises the applied positions (never lowers them: a zombie's late call is harmless).
    public func advanceAppliedPositions(topic: String, _ positions: [Int32: Int64]) throws {
        guard !positions.isEmpty else { return }
        _ = try runScripts { batch in
            batch.appendCommand { command in
                command.append("EVALSHA")
                command.append(scriptSHAs.advance)
                command.append(1)
                command.append(appliedKey(topic: topic))
                for (partition, offset) in positions.sorted(by: { $0.key < $1.key }) {
                    command.append(String(partition))
                    command.append(offset)
                }
            }
        }
    }

    /// Appends one entry to the transaction audit log, keeping the newest `keep` entries.
    public func appendTransactionLog(_ entry: [UInt8], keep: Int) throws {
        batch.removeAll()
        batch.append("RPUSH", .string(transactionLogKey), .bytes(entry))
        batch.append("LTRIM", .string(transactionLogKey), .integer(-keep), -1)
        _ = try connection.pipeline(batch).throwingErrors()
    }

    public func transactionLog() throws -> [[UInt8]] {
        let reply = try connection.execute(["LRANGE", .string(transactionLogKey), 0, -1])
        guard case .array(let items) = reply else { throw RedisError(.protocol, "LRANGE returned \(reply)") }
        return items.compactMap(\.bytesValue)
    }

    /// Sends a batch of EVALSHA commands; loads the scripts first and again after NOSCRIPT.
    private func runScripts(_ build: (inout RedisCommandBatch) -> Void) throws -> [RedisReply] {
        for attempt in 0..<2 {
            if scriptSHAs.fencedWrite.isEmpty || attempt > 0 { try loadScripts() }
            batch.removeAll()
            build(&batch)
            let replies = try connection.pipeline(batch)
            if attempt == 0, replies.contains(where: { $0.errorMessage?.hasPrefix("NOSCRIPT") == true }) { continue }
            return try replies.throwingErrors()
        }
        preconditionFailure("unreachable")
    }

    private func loadScripts() throws {
        func load(_ script: String) throws -> String {
            let reply = try connection.execute(["SCRIPT", "LOAD", .string(script)])
            guard let sha = reply.stringValue, !reply.isError else { throw RedisError(.replyError, "SCRIPT LOAD: \(reply)") }
            return sha
        }
        scriptSHAs = (try load(Self.fencedWriteScript), try load(Self.advanceScript))
    }
}
