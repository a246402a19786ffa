import Foundation
import Logging
import SluiceCore
import SluiceEngine
import SluiceGenerator
import SluiceKafka
import SluiceRedis
import SluiceTestSupport
import XCTest

/// The spine on the real components: Tansu (Kafka protocol) and redis-server, both started
/// fresh for this test, with the demo topology and model.
final class PipelineEndToEndTests: XCTestCase {
    static let topics = ["events", "decisions", "events-dlq", "events-late"]

    func testEveryInputEndsInOneDecisionOrDeadLetterAndRedisStateMatchesAReferenceComputation() throws {
        let broker = try TansuTestBroker()
        let redis = try RedisTestServer()
        let topology = try Topology.load(path: repositoryRoot + "/topologies/returns-fraud.yaml")
        try broker.createTopics(Self.topics, partitions: 4)

        var options = TrafficGenerator.Options()
        options.events = 4000
        options.users = 250
        options.days = 12
        options.seed = 2026
        options.malformedShare = 0.02
        options.lateShare = 0.01
        options.endTime = 1_790_000_000_000
        let generated = TrafficGenerator(options: options).generate()
        let producer = try KafkaProducer(configuration: KafkaConfiguration(broker.clientProperties), logger: Logger(label: "test.producer"))
        for record in generated {
            try producer.produce(topic: "events", key: Array(record.key.utf8), value: record.value)
        }
        try producer.flush(timeoutMs: 30_000)
        let malformedCount = generated.filter(\.isMalformed).count
        XCTAssertGreaterThanOrEqual(Double(malformedCount) / Double(generated.count), 0.01)

        var kafka = KafkaConfiguration(broker.clientProperties)
        kafka["group.id"] = "sluice-e2e"
        let config = RuntimeConfig(kafka: kafka, redisURL: redis.url, keyPrefix: "e2e", batchSize: 500)
        let pipeline = try StreamPipeline(topology: topology, config: config, options: .init(exitAtEnd: true), logger: Logger(label: "test.pipeline"))
        let stop = StopSignal()
        let watchdog = DispatchWorkItem { stop.stop() }
        DispatchQueue.global().asyncAfter(deadline: .now() + 120, execute: watchdog)
        let statistics = try pipeline.run(stop: stop)
        watchdog.cancel()
        XCTAssertEqual(statistics.recordsIn, generated.count, "the pipeline did not consume the whole input")

        // Every valid event has exactly one decision; every malformed record is dead-lettered with a reason.
        let decisions = try broker.readAll(topic: "decisions")
        let deadLetters = try broker.readAll(topic: "events-dlq")
        let lateRecords = try broker.readAll(topic: "events-late")
        // JSONDecoder, not JSONSerialization: the latter does not round decimals correctly on Linux.
        var decisionByEvent: [String: DecisionJSON] = [:]
        for record in decisions {
            let decision = try JSONDecoder().decode(DecisionJSON.self, from: Data(record.value ?? []))
            XCTAssertNil(decisionByEvent[decision.event_id], "two decisions for \(decision.event_id)")
            decisionByEvent[decision.event_id] = decision
        }
        let validIDs = generated.compactMap(\.eventID)
        XCTAssertEqual(decisions.count, validIDs.count)
        XCTAssertEqual(Set(decisionByEvent.keys), Set(validIDs))
        XCTAssertEqual(deadLetters.count, malformedCount)
        let malformedValues = Set(generated.filter(\.isMalformed).map(\.value))
        for record in deadLetters {
            XCTAssertTrue(malformedValues.contains(record.value ?? []), "DLQ record is not an original malformed input")
            let headers = Dictionary(record.headers.map { ($0.name, String(decoding: $0.value ?? [], as: UTF8.self)) }) { a, _ in a }
            XCTAssertFalse(headers["sluice.error.reason", default: ""].isEmpty)
            XCTAssertFalse(headers["sluice.error.code", default: ""].isEmpty)
            XCTAssertEqual(headers["sluice.source.topic"], "events")
            XCTAssertNotNil(headers["sluice.source.offset"].flatMap { Int64($0) })
        }

        // Decisions are consistent with the model output and thresholds, and the stream's features
        // equal the backfill path's for every event (same per-user log order).
        let backfill = try backfillFeatures(topology: topology, records: generated)
        let names = topology.features.names
        var lateDecisions = 0
        for (eventID, decision) in decisionByEvent {
            XCTAssert((0...1).contains(decision.score))
            XCTAssertEqual(decision.decision, topology.thresholds.decision(for: decision.score).rawValue)
            XCTAssertEqual(decision.schema_version, DecisionRecord.schemaVersion)
            XCTAssertEqual(decision.source.topic, "events")
            if decision.late { lateDecisions += 1 }
            let expected = try XCTUnwrap(backfill[eventID])
            for (index, name) in names.enumerated() {
                let streamed = try XCTUnwrap(decision.features.index(forKey: name).map { decision.features[$0].value }, name) ?? .nan
                XCTAssert(streamed.bitPattern == expected[index].bitPattern || (streamed.isNaN && expected[index].isNaN),
                          "\(eventID) \(name): stream \(streamed) vs backfill \(expected[index])")
            }
        }
        XCTAssertGreaterThan(lateDecisions, 0, "the generator should have produced late events")

        // Replay of the whole topic into another topic, with its own (cleared) state, reproduces
        // every decision's features and score bit for bit, and leaves the live state alone.
        var replayConfig = config
        replayConfig.keyPrefix = "e2e-replay"
        replayConfig.delivery = .atLeastOnce
        replayConfig.kafka["group.id"] = "sluice-e2e-replay"
        var replayOptions = StreamPipeline.Options()
        replayOptions.decisionsTopic = "replay-decisions"
        replayOptions.writeDeadLetters = false
        replayOptions.writeLateEvents = false
        try broker.createTopics(["replay-decisions"], partitions: 4)
        let replay = try StreamPipeline(topology: topology, config: replayConfig, options: replayOptions, logger: Logger(label: "test.replay"))
        try replay.featureStore.deleteAll()
        let replayStatistics = try replay.replay(
            start: (0..<Int32(4)).map { TopicPartitionOffset(topic: "events", partition: $0, offset: 0) }, end: [:], stop: StopSignal())
        XCTAssertEqual(replayStatistics.recordsIn, generated.count)
        let replayed = try broker.readAll(topic: "replay-decisions").map { try JSONDecoder().decode(DecisionJSON.self, from: Data($0.value ?? [])) }
        XCTAssertEqual(replayed.count, validIDs.count)
        for decision in replayed {
            let original = try XCTUnwrap(decisionByEvent[decision.event_id])
            XCTAssertEqual(decision.score.bitPattern, original.score.bitPattern, decision.event_id)
            XCTAssertEqual(decision.late, original.late, decision.event_id)
            for name in names {
                let a = (decision.features[name] ?? nil) ?? .nan
                let b = (original.features[name] ?? nil) ?? .nan
                XCTAssert(a.bitPattern == b.bitPattern || (a.isNaN && b.isNaN), "\(decision.event_id) \(name): replay \(a) vs stream \(b)")
            }
        }
        XCTAssertEqual(lateRecords.count, lateDecisions)

        // Redis holds, per user, exactly the state a brute-force computation over the same events gives.
        let connection = try RedisConnection(configuration: try RedisConfiguration(url: redis.url), logger: Logger(label: "test.redis"))
        let store = RedisFeatureStore(connection: connection, topology: topology, keyPrefix: "e2e")
        let reference = ReferenceFeatures(topology: topology)
        var eventsByUser: [String: [Event]] = [:]
        let decoder = EventDecoder()
        for record in generated where !record.isMalformed {
            let event = try decoder.decode(record.value).get()
            eventsByUser[event.userID, default: []].append(event)
        }
        let users = Array(eventsByUser.keys)
        let states = try store.load(users)
        for user in users {
            let state = try XCTUnwrap(states[user])
            let (maxTime, applied) = reference.applied(eventsByUser[user]!)
            XCTAssertEqual(state.maxEventTime, maxTime, user)
            XCTAssertEqual(state.appliedCount, Int64(applied.count), user)
            let probe = Event(eventID: "probe", type: .order, userID: user, eventTime: maxTime, amount: 0, currency: "EUR")
            let fromRedis = topology.engine.features(of: probe, state: state)
            for index in topology.features.windowedIndices {
                let expected = reference.windowedValue(featureIndex: index, at: maxTime, applied: applied)
                let actual = fromRedis[index]
                if expected.isNaN {
                    XCTAssert(actual.isNaN, "\(user) \(names[index]): expected missing, got \(actual)")
                } else {
                    XCTAssertEqual(actual, expected, accuracy: abs(expected) * 1e-12, "\(user) \(names[index])")
                }
            }
        }

        // Offsets are committed to the end of every input partition. The end is taken from reading
        // the input, not from ListOffsets: Tansu 0.6 reports a wrong high watermark for partitions
        // written in one large batch (docs/testing.md).
        var inputEnds: [Int32: Int64] = [:]
        for record in try broker.readAll(topic: "events") { inputEnds[record.partition] = max(inputEnds[record.partition] ?? 0, record.offset + 1) }
        var readerProperties = broker.clientProperties
        readerProperties["group.id"] = "sluice-e2e"
        let checker = try KafkaConsumer(configuration: KafkaConfiguration(readerProperties), logger: Logger(label: "test.offsets"))
        let partitions = (0..<Int32(4)).map { TopicPartition(topic: "events", partition: $0) }
        for committed in try checker.committed(partitions, timeoutMs: 10_000) {
            XCTAssertEqual(committed.offset, inputEnds[committed.partition], "partition \(committed.partition)")
        }
        checker.close()
    }

    /// Features per event id from the backfill path over the same records in produced order.
    private func backfillFeatures(topology: Topology, records: [TrafficGenerator.Record]) throws -> [String: [Double]] {
        let directory = NSTemporaryDirectory() + "sluice-e2e-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        var data = Data()
        for record in records {
            data.append(contentsOf: record.value)
            data.append(0x0A)
        }
        try data.write(to: URL(fileURLWithPath: directory + "/events.jsonl"))
        _ = try Backfill(topology: topology).run(
            input: directory + "/events.jsonl", output: directory + "/features.csv", invalidOutput: directory + "/invalid.csv")
        let lines = try String(contentsOfFile: directory + "/features.csv", encoding: .utf8).split(separator: "\n").dropFirst()
        var result: [String: [Double]] = [:]
        for line in lines {
            let fields = line.split(separator: ",", omittingEmptySubsequences: false)
            result[String(fields[0])] = fields.dropFirst(4).map { $0.isEmpty ? .nan : Double($0)! }
        }
        return result
    }
}

/// The decision contract of docs/decisions.md, as a reader would decode it.
struct DecisionJSON: Decodable {
    struct Source: Decodable {
        let topic: String
        let partition: Int32
        let offset: Int64
    }
    let schema_version: Int
    let event_id: String
    let user_id: String
    let score: Double
    let margin: Double
    let decision: String
    let model_version: String
    let late: Bool
    let features: [String: Double?]
    let source: Source
}
