import Foundation
import Logging

/// Reads a whole topic, outside any consumer group, for verification tools and tests.
public enum TopicReader {
    /// Every record of `topic` from offset 0 to the end of each partition, as librdkafka's
    /// end-of-partition events report it (some brokers' ListOffsets are unreliable, see
    /// docs/testing.md). Reads uncommitted records too, so aborted transactions are visible.
    public static func readAll(topic: String, configuration: KafkaConfiguration, timeout: Duration = .seconds(60)) throws -> [KafkaRecord] {
        var properties = configuration.properties
        properties["group.id"] = "sluice-reader-\(UUID().uuidString)"
        properties["isolation.level"] = "read_uncommitted"
        let consumer = try KafkaConsumer(configuration: KafkaConfiguration(properties), logger: Logger(label: "sluice.reader"))
        defer { consumer.close() }
        let partitions = try consumer.partitionCount(topic: topic, timeoutMs: 10_000)
        let all = Set((0..<Int32(partitions)).map { TopicPartition(topic: topic, partition: $0) })
        try consumer.assign(all.map { TopicPartitionOffset(topic: topic, partition: $0.partition, offset: 0) })
        var records: [KafkaRecord] = []
        let deadline = ContinuousClock.now + timeout
        while true {
            let batch = try consumer.poll(maxRecords: 5000, timeoutMs: 200)
            records += batch
            if batch.isEmpty && all.isSubset(of: consumer.partitionsAtEnd) { return records }
            guard ContinuousClock.now < deadline else {
                throw KafkaError(.timeout, "reading \(topic): timed out after \(records.count) records")
            }
        }
    }
}
