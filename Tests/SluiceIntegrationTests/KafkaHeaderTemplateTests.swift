import Logging
import SluiceKafka
import SluiceTestSupport
import XCTest

/// Records produced with headers built from `KafkaHeaderTemplate`s (the pipeline's decision
/// path) carry exactly the headers, in order, that the `[KafkaHeader]` path writes; and records
/// go to the topic named, whichever topic the producer's cached handles served before; also when
/// a full producer queue makes every record go round the retry loop.
/// Against librdkafka's mock cluster (fast; headers are plain Kafka record fields).
final class KafkaHeaderTemplateTests: XCTestCase {
    func testTemplatesAndDecimalHeadersRoundTripInOrder() throws {
        let mock = try KafkaMockCluster(brokers: 1)
        try mock.createTopic("with-templates", partitions: 1)
        try mock.createTopic("with-arrays", partitions: 1)
        let producer = try KafkaProducer(configuration: KafkaConfiguration(mock.clientProperties), logger: Logger(label: "test.producer"))
        let leadingHeaders = [
            KafkaHeader(name: "a.topic", string: "events"), KafkaHeader(name: "a.null", value: nil), KafkaHeader(name: "a.empty", value: []),
        ]
        let trailingHeaders = [KafkaHeader(name: "z.schema", string: "2"), KafkaHeader(name: "z.binary", value: [0, 255, 10])]
        let leading = KafkaHeaderTemplate(leadingHeaders)
        let trailing = KafkaHeaderTemplate(trailingHeaders)
        XCTAssertEqual(leading.count, 3)
        XCTAssertEqual(trailing.count, 2)
        let numbers: [Int64] = [0, 7, -1, 1_234_567_890, .max, .min]
        var expected: [[KafkaHeader]] = []
        for (index, number) in numbers.enumerated() {
            let headers = leadingHeaders + [KafkaHeader(name: "m.offset", string: String(number))] + trailingHeaders
            expected.append(headers)
            // Alternate the two topics so a wrong cached handle would misroute records.
            try producer.produce(topic: "with-templates", key: [UInt8(index)], value: Array("t\(index)".utf8),
                                 headerCount: headers.count) { list in
                list.append(leading)
                list.append(name: "m.offset", decimal: number)
                list.append(trailing)
            }
            try producer.produce(topic: "with-arrays", key: [UInt8(index)], value: Array("a\(index)".utf8), headers: headers)
        }
        try producer.flush(timeoutMs: 30_000)

        let configuration = KafkaConfiguration(mock.clientProperties)
        let viaTemplates = try TopicReader.readAll(topic: "with-templates", configuration: configuration, timeout: .seconds(30))
        let viaArrays = try TopicReader.readAll(topic: "with-arrays", configuration: configuration, timeout: .seconds(30))
        XCTAssertEqual(viaTemplates.map { String(decoding: $0.value ?? [], as: UTF8.self) }, numbers.indices.map { "t\($0)" })
        XCTAssertEqual(viaArrays.map { String(decoding: $0.value ?? [], as: UTF8.self) }, numbers.indices.map { "a\($0)" })
        XCTAssertEqual(viaTemplates.map(\.headers), expected)
        XCTAssertEqual(viaArrays.map(\.headers), expected)
        XCTAssertEqual(viaTemplates[5].headers[3].value.map { String(decoding: $0, as: UTF8.self) }, "-9223372036854775808")
    }

    /// librdkafka refuses a record while its queue is full and leaves the header list with the
    /// caller: the producer frees it, serves deliveries, and builds the headers again. With a
    /// queue of five records most produce calls go round that loop (counted, so the test knows it
    /// ran); every record must still arrive once, in order, with exactly its own headers.
    func testRecordsRefusedByAFullQueueAreRetriedWithRebuiltHeaders() throws {
        let mock = try KafkaMockCluster(brokers: 1)
        try mock.createTopic("backpressure", partitions: 1)
        var configuration = KafkaConfiguration(mock.clientProperties)
        configuration["queue.buffering.max.messages"] = "5"
        configuration["linger.ms"] = "5"
        let producer = try KafkaProducer(configuration: configuration, logger: Logger(label: "test.producer"))
        let trailing = KafkaHeaderTemplate([KafkaHeader(name: "z.schema", string: "2")])
        let count = 300
        var builds = 0
        for index in 0..<count {
            try producer.produce(topic: "backpressure", key: nil, value: Array("r\(index)".utf8), headerCount: 2) { list in
                builds += 1
                list.append(name: "m.index", decimal: Int64(index))
                list.append(trailing)
            }
        }
        try producer.flush(timeoutMs: 30_000)
        XCTAssertGreaterThan(builds, count, "the queue never filled: the retry path did not run")

        let records = try TopicReader.readAll(topic: "backpressure", configuration: KafkaConfiguration(mock.clientProperties), timeout: .seconds(30))
        XCTAssertEqual(records.map { String(decoding: $0.value ?? [], as: UTF8.self) }, (0..<count).map { "r\($0)" })
        XCTAssertEqual(records.map(\.headers), (0..<count).map {
            [KafkaHeader(name: "m.index", string: String($0)), KafkaHeader(name: "z.schema", string: "2")]
        })
    }
}
