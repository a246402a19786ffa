import SluiceKafka

/// The applied positions `A` in Redis against the group's committed offsets `C`
/// (docs/exactly-once.md): the states each delivery mode refuses to take over.
extension StreamPipeline {
    /// Redis holds state for a partition whose group has committed nothing: the state belongs to
    /// another group's (or an earlier topic's) offsets.
    static func appliedWithoutCommit(_ partition: TopicPartition, applied a: Int64) -> Failure {
        Failure(description: """
            \(partition): Redis holds state applied up to offset \(a), but consumer group has no committed offset \
            (another group.id or an earlier run under the same key prefix?): use a fresh key prefix or restore the group's offsets
            """)
    }

    /// Redis holds state beyond the group's committed offset: offsets reset, or the prefix shared.
    static func appliedBeyondCommit(_ partition: TopicPartition, applied a: Int64, committed c: Int64) -> Failure {
        Failure(description: """
            \(partition): Redis state includes records up to \(a), beyond the committed offset \(c) \
            (group offsets reset, or a key prefix shared with another run?): refusing to apply records twice
            """)
    }

    /// At-least-once, when `partitions` are assigned: refuses them in the two cases above. Its
    /// writes are fenced by input offsets, so over a state from another offset space (a topic
    /// recreated, offsets reset) every write would be refused and the run would lose its updates;
    /// exactly-once refuses the same (`computeStartPositions`). A missing `A` is accepted: at
    /// least once, state is simply applied on top of what Redis holds.
    func checkAppliedPositionsForAtLeastOnce(_ partitions: [TopicPartition]) throws {
        let inputs = partitions.filter { $0.topic == topology.inputTopic }
        guard !inputs.isEmpty else { return }
        let applied = try withRedisRetry(stop: atLeastOnce.stop, "read applied positions") {
            try store.appliedPositions(topic: topology.inputTopic)
        }
        for entry in try consumer.committed(inputs, timeoutMs: 10_000) {
            guard let a = applied[entry.partition] else { continue }
            let partition = TopicPartition(topic: entry.topic, partition: entry.partition)
            if entry.offset < 0 { throw Self.appliedWithoutCommit(partition, applied: a) }
            if a > entry.offset { throw Self.appliedBeyondCommit(partition, applied: a, committed: entry.offset) }
        }
    }
}
