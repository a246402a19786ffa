import Foundation
import Logging
import SluiceCore
import SluiceEngine
import SluiceKafka
import SluiceRedis

/// Checks the end state of an exactly-once run against an uninterrupted reference computed from
/// the same input log (the one implementation `EventScorer` every path shares):
///
/// - Redis: every entity's state is bit-identical to the reference; no other entity exists;
/// - outputs: every valid input has exactly one decision from a committed transaction, every
///   rejected input one dead letter; every copy equals the reference byte for byte; copies
///   beyond the first come only from transactions that did not commit;
/// - Kafka: the group's committed offsets and Redis's applied positions reach every partition's end.
///
/// Which transactions committed: the engine writes an audit entry (its per-partition offset
/// ranges) before each commit, and tags each output with its transaction. Offsets only move
/// forward through commits, so on each partition the last entry starting at a given offset is
/// the one that committed; an entry followed by another starting at the same offset was
/// aborted, and outputs of transactions without an entry never reached their commit. (On real
/// Kafka, `read_committed` readers never see the aborted copies; Tansu shows them, which is what
/// lets this check count them.)
public struct ChaosVerifier {
    public let topology: Topology
    public let kafka: KafkaConfiguration
    public let groupID: String
    public let store: RedisFeatureStore
    /// Off for librdkafka's mock cluster, which never applies offsets sent in a transaction.
    public var checksCommittedOffsets = true

    public init(topology: Topology, kafka: KafkaConfiguration, groupID: String, store: RedisFeatureStore) {
        self.topology = topology
        self.kafka = kafka
        self.groupID = groupID
        self.store = store
    }

    struct Position: Hashable { let partition: Int32; let offset: Int64 }

    struct LogEntry: Decodable {
        let txn: String
        let partitions: [String: [Int64]]
    }

    /// The uninterrupted run: each partition of the input, in log order, through the shared scorer.
    private struct Reference {
        var inputs: [KafkaRecord] = []
        var states: [String: EntityState] = [:]
        var expectedDecisions: [Position: [UInt8]] = [:]
        var expectedDeadLetters = Set<Position>()
        /// Inputs the uninterrupted run found late (their entity had seen later events).
        var expectedLate = Set<Position>()
        var ends: [Int32: Int64] = [:]
        var lastOffset: [String: (Int32, Int64)] = [:]
    }

    private func reference() throws -> Reference {
        var reference = Reference()
        reference.inputs = try TopicReader.readAll(topic: topology.inputTopic, configuration: kafka)
        let scorer = EventScorer(topology: topology, model: try ScoringModel(topology: topology))
        let decoder = EventDecoder()
        for (partition, records) in Dictionary(grouping: reference.inputs, by: \.partition).sorted(by: { $0.key < $1.key }) {
            let ordered = records.sorted { $0.offset < $1.offset }
            reference.ends[partition] = (ordered.last?.offset ?? -1) + 1
            var events: [Event] = []
            var positions: [Position] = []
            for record in ordered {
                let position = Position(partition: partition, offset: record.offset)
                if let value = record.value, case .success(let event) = decoder.decode(value) {
                    reference.lastOffset[event.userID] = (partition, record.offset)
                    events.append(event)
                    positions.append(position)
                } else {
                    reference.expectedDeadLetters.insert(position)
                }
            }
            let batch = scorer.process(events, states: &reference.states)
            let names = topology.features.names
            for (index, event) in events.enumerated() {
                if batch.late[index] { reference.expectedLate.insert(positions[index]) }
                let score = batch.scores[index]
                reference.expectedDecisions[positions[index]] = batch.features.withUnsafeBufferPointer { all in
                    DecisionRecord.encode(
                        event: event, score: score, margin: batch.margins[index], decision: topology.thresholds.decision(for: score),
                        late: batch.late[index], modelVersion: scorer.model.version, featureNames: names,
                        features: UnsafeBufferPointer(rebasing: all[index * names.count..<(index + 1) * names.count]),
                        source: SourcePosition(topic: topology.inputTopic, partition: positions[index].partition, offset: positions[index].offset))
                }
            }
        }
        return reference
    }

    public func verify() throws -> ChaosReport {
        var report = ChaosReport()
        let reference = try reference()
        let inputs = reference.inputs
        let states = reference.states
        let expectedDecisions = reference.expectedDecisions
        let expectedDeadLetters = reference.expectedDeadLetters
        let ends = reference.ends
        let lastOffset = reference.lastOffset
        report.events = inputs.count
        report.validEvents = expectedDecisions.count
        report.malformedEvents = expectedDeadLetters.count
        report.users = states.count

        // Which transactions committed, from the audit log.
        let entries = try store.transactionLog().map { try JSONDecoder().decode(LogEntry.self, from: Data($0)) }
        var lastAtStart: [Int32: [Int64: Int]] = [:]
        for (index, entry) in entries.enumerated() {
            for (partition, range) in entry.partitions {
                guard let p = Int32(partition), range.count == 2 else { report.violation("malformed audit entry \(entry.txn)"); continue }
                lastAtStart[p, default: [:]][range[0]] = index
            }
        }
        var committed = Set<String>()
        for (index, entry) in entries.enumerated() {
            let verdicts = entry.partitions.compactMap { partition, range -> Bool? in
                guard let p = Int32(partition), range.count == 2 else { return nil }
                return lastAtStart[p]?[range[0]] == index
            }
            if Set(verdicts).count > 1 {
                report.violation("transaction \(entry.txn) committed on some partitions and not on others")
            }
            if verdicts.allSatisfy({ $0 }) { committed.insert(entry.txn) }
        }
        report.transactionsCommitted = committed.count
        for name in committed {
            // `<transactional.id>#<session>#<sequence>`, the id ending in the instance id.
            let id = name.split(separator: "#").first.map(String.init) ?? name
            report.committedTransactionsByProducer[id, default: 0] += 1
        }
        report.transactionsAbortedInLog = entries.count - committed.count

        // Outputs: committed copies exactly once, every copy identical to the reference.
        try checkOutputs(topic: topology.decisionsTopic, kind: "decision", expected: expectedDecisions.keys, committed: committed, report: &report) { position, value in
            value == expectedDecisions[position]
        }
        var rejectedValues: [Position: [UInt8]] = [:]
        for record in inputs where expectedDeadLetters.contains(Position(partition: record.partition, offset: record.offset)) {
            rejectedValues[Position(partition: record.partition, offset: record.offset)] = record.value ?? []
        }
        try checkOutputs(topic: topology.deadLetterTopic, kind: "dead letter", expected: expectedDeadLetters, committed: committed, report: &report) { position, value in
            value == rejectedValues[position]
        }

        // Redis: bit-identical state for every entity, and nothing else.
        let codec = EntityStateCodec(featureSet: topology.features)
        let users = states.keys.sorted()
        for chunk in stride(from: 0, to: users.count, by: 500) {
            let slice = Array(users[chunk..<min(chunk + 500, users.count)])
            let stored = try store.loadStored(slice)
            for user in slice {
                let expected = codec.encode(states[user]!).map { [UInt8]($0.field.utf8) + [0] + $0.value }
                let actual = stored[user].map { codec.encode($0.state).map { [UInt8]($0.field.utf8) + [0] + $0.value } }
                if stored[user] == nil || stored[user]!.applied.isEmpty {
                    report.stateMismatch("user \(user): missing from Redis")
                } else if actual != expected {
                    let got = stored[user]!
                    report.stateMismatch("""
                        user \(user): state differs from the uninterrupted run (events applied \(got.state.appliedCount) vs \(states[user]!.appliedCount), \
                        fences \(got.applied.sorted { $0.key < $1.key })), last offset of the user in the log \(lastOffset[user].map { "\($0)" } ?? "?")
                        """)
                }
            }
        }
        try checkEntityCount(users.count, report: &report)

        // Positions: committed offsets and applied positions at the end of every partition.
        let applied = try store.appliedPositions(topic: topology.inputTopic)
        for entry in try committedOffsets(ends) {
            let end = ends[entry.partition] ?? 0
            if checksCommittedOffsets && entry.offset < end {
                report.violation("partition \(entry.partition): committed offset \(entry.offset) < end \(end)")
            }
            if (applied[entry.partition] ?? -1) < end {
                report.violation("partition \(entry.partition): Redis applied position \(applied[entry.partition] ?? -1) < end \(end)")
            }
        }
        return report
    }

    /// At-least-once after crashes: nothing lost, copies allowed. Every valid input has at least
    /// one decision and every rejected one at least one dead letter, and no input has one it
    /// should not; every input the uninterrupted run found late has a late copy; each entity's
    /// state in Redis has applied at least as many events as the uninterrupted run (a replay
    /// counts events twice, but none may be skipped); the group's offsets are at the end of every
    /// partition. Decision contents are not compared: after a replay, features legitimately count
    /// some events twice.
    public func verifyAtLeastOnce() throws -> ChaosReport {
        var report = ChaosReport()
        report.atLeastOnce = true
        let reference = try reference()
        report.events = reference.inputs.count
        report.validEvents = reference.expectedDecisions.count
        report.malformedEvents = reference.expectedDeadLetters.count
        report.users = reference.states.count
        let outputs = [
            (topology.decisionsTopic, "decision", Set(reference.expectedDecisions.keys)),
            (topology.deadLetterTopic, "dead letter", reference.expectedDeadLetters),
        ]
        for (topic, kind, expected) in outputs {
            let (records, copies) = try sources(topic: topic, kind: kind, report: &report)
            for position in expected where copies[position] == nil {
                report.violation("input \(position.partition)@\(position.offset) has no \(kind)")
            }
            for position in copies.keys where !expected.contains(position) {
                report.violation("\(kind) for input \(position.partition)@\(position.offset), which should have none")
            }
            if kind == "decision" { report.decisionCopies = records } else { report.deadLetterCopies = records }
        }
        // Late copies: an event late in the uninterrupted run is late in any replay too (an entity's
        // latest event time only grows), so it has at least one; a replay may find more events late.
        let lateCopies = try sources(topic: topology.lateTopic, kind: "late copy", report: &report).copies
        report.lateEvents = reference.expectedLate.count
        for position in reference.expectedLate where lateCopies[position] == nil {
            report.violation("input \(position.partition)@\(position.offset) is late but has no late copy")
        }

        let users = reference.states.keys.sorted()
        for chunk in stride(from: 0, to: users.count, by: 500) {
            let slice = Array(users[chunk..<min(chunk + 500, users.count)])
            let stored = try store.load(slice)
            for user in slice {
                let expected = reference.states[user]!.appliedCount
                guard let got = stored[user]?.appliedCount else {
                    report.stateMismatch("user \(user): missing from Redis")
                    continue
                }
                if got < expected {
                    report.stateMismatch("user \(user): \(got) events applied in Redis, fewer than the uninterrupted run's \(expected)")
                }
            }
        }
        try checkEntityCount(users.count, report: &report)
        for entry in try committedOffsets(reference.ends) where entry.offset < reference.ends[entry.partition] ?? 0 {
            report.violation("partition \(entry.partition): committed offset \(entry.offset) < end \(reference.ends[entry.partition] ?? 0)")
        }
        return report
    }

    /// The input an output record was made from, by its source headers (a violation without them).
    private func source(of record: KafkaRecord, kind: String, topic: String, report: inout ChaosReport) -> Position? {
        guard let partition = record.header("sluice.source.partition").flatMap({ Int32($0) }),
              let offset = record.header("sluice.source.offset").flatMap({ Int64($0) }) else {
            report.violation("\(kind) at \(topic)[\(record.partition)]@\(record.offset) has no source headers")
            return nil
        }
        return Position(partition: partition, offset: offset)
    }

    /// How many records `topic` holds, and how many of them each input produced (by source headers).
    private func sources(topic: String, kind: String, report: inout ChaosReport) throws -> (records: Int, copies: [Position: Int]) {
        let records = try TopicReader.readAll(topic: topic, configuration: kafka)
        var copies: [Position: Int] = [:]
        for record in records {
            if let position = source(of: record, kind: kind, topic: topic, report: &report) { copies[position, default: 0] += 1 }
        }
        return (records.count, copies)
    }

    /// Redis must hold exactly the reference's entities, no others.
    private func checkEntityCount(_ expected: Int, report: inout ChaosReport) throws {
        let entityCount = try store.countEntities()
        if entityCount != expected {
            report.stateMismatch("Redis holds \(entityCount) entities, the reference \(expected)")
        }
    }

    /// The group's committed offsets for the partitions of `ends`.
    private func committedOffsets(_ ends: [Int32: Int64]) throws -> [TopicPartitionOffset] {
        var groupConfig = kafka
        groupConfig["group.id"] = groupID
        let consumer = try KafkaConsumer(configuration: groupConfig, logger: Logger(label: "sluice.chaos.verify"))
        defer { consumer.close() }
        return try consumer.committed(ends.keys.sorted().map { TopicPartition(topic: topology.inputTopic, partition: $0) }, timeoutMs: 10_000)
    }

    private func checkOutputs(
        topic: String, kind: String, expected: some Collection<Position>, committed: Set<String>,
        report: inout ChaosReport, matches: (Position, [UInt8]) -> Bool
    ) throws {
        var committedCopies: [Position: Int] = [:]
        var copies = 0
        var duplicates = 0
        for record in try TopicReader.readAll(topic: topic, configuration: kafka) {
            copies += 1
            guard let position = source(of: record, kind: kind, topic: topic, report: &report) else { continue }
            guard let txn = record.header("sluice.txn") else {
                report.violation("\(kind) for input \(position.partition)@\(position.offset) was produced outside a transaction")
                continue
            }
            if !matches(position, record.value ?? []) {
                report.violation("\(kind) for input \(position.partition)@\(position.offset) (transaction \(txn)) differs from the uninterrupted run")
            }
            if committed.contains(txn) {
                committedCopies[position, default: 0] += 1
            } else {
                duplicates += 1
            }
        }
        let expectedSet = Set(expected)
        for position in expectedSet {
            switch committedCopies[position] ?? 0 {
            case 1: break
            case 0: report.violation("input \(position.partition)@\(position.offset) has no committed \(kind)")
            case let n: report.violation("input \(position.partition)@\(position.offset) has \(n) committed \(kind)s")
            }
        }
        for position in committedCopies.keys where !expectedSet.contains(position) {
            report.violation("committed \(kind) for input \(position.partition)@\(position.offset), which should have none")
        }
        if kind == "decision" {
            report.decisionCopies = copies
            report.decisionDuplicatesFromAborted = duplicates
        } else {
            report.deadLetterCopies = copies
            report.deadLetterDuplicatesFromAborted = duplicates
        }
    }
}

extension KafkaRecord {
    func header(_ name: String) -> String? {
        headers.last { $0.name == name }?.value.map { String(decoding: $0, as: UTF8.self) }
    }
}

/// What a chaos run found; `violations` and `stateMismatches` must both be empty.
public struct ChaosReport: Sendable {
    public var kills = 0
    public var restarts = 0
    /// Instances that exited by themselves and were restarted.
    public var crashes = 0
    /// Committed transactions per `transactional.id`.
    public var committedTransactionsByProducer: [String: Int] = [:]
    public var events = 0
    public var validEvents = 0
    public var malformedEvents = 0
    public var users = 0
    public var decisionCopies = 0
    public var decisionDuplicatesFromAborted = 0
    public var deadLetterCopies = 0
    public var deadLetterDuplicatesFromAborted = 0
    public var transactionsCommitted = 0
    public var transactionsAbortedInLog = 0
    public var seconds = 0.0
    /// Checked as an at-least-once run (`ChaosVerifier.verifyAtLeastOnce`).
    public var atLeastOnce = false
    /// At-least-once: inputs the uninterrupted run found late (each must have a late copy).
    public var lateEvents = 0
    public private(set) var violations: [String] = []
    public private(set) var stateMismatches: [String] = []

    public init() {}

    public var passed: Bool { violations.isEmpty && stateMismatches.isEmpty }

    mutating func violation(_ text: String) { violations.append(text) }
    mutating func stateMismatch(_ text: String) { stateMismatches.append(text) }

    public var text: String {
        var lines = [
            "kills:                  \(kills) (restarts \(restarts), self-inflicted crashes \(crashes))",
            "events:                 \(events) (\(validEvents) valid, \(malformedEvents) malformed), \(users) users",
        ]
        if atLeastOnce {
            lines += [
                "decisions read:         \(decisionCopies) (\(decisionCopies - validEvents) beyond one per input: re-produced after crashes)",
                "dead letters read:      \(deadLetterCopies) (\(deadLetterCopies - malformedEvents) beyond one per input)",
                "late inputs:            \(lateEvents) (each needs a late copy)",
            ]
        } else {
            lines += [
                "decisions read:         \(decisionCopies) (\(decisionDuplicatesFromAborted) duplicates, all from aborted transactions)",
                "dead letters read:      \(deadLetterCopies) (\(deadLetterDuplicatesFromAborted) duplicates, all from aborted transactions)",
                "transactions:           \(transactionsCommitted) committed, \(transactionsAbortedInLog) aborted after reaching the audit log",
                "committed by producer:  \(committedTransactionsByProducer.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " "))",
            ]
        }
        lines += [
            "state mismatches:       \(stateMismatches.count) (must be 0)",
            "violations:             \(violations.count) (must be 0)",
            String(format: "time:                   %.1f s", seconds),
        ]
        if !passed {
            lines.append(contentsOf: stateMismatches.prefix(10).map { "  - " + $0 })
            lines.append(contentsOf: violations.prefix(15).map { "  - " + $0 })
        }
        lines.append(passed ? "chaos: OK" : "chaos: FAILED \(stateMismatches.count) state mismatches, \(violations.count) violations: \((stateMismatches + violations).first ?? "")")
        return lines.joined(separator: "\n")
    }
}
