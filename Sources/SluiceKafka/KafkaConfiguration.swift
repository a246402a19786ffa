import CRdKafka

/// librdkafka properties, passed through verbatim (see librdkafka's CONFIGURATION.md).
///
/// Sluice sets only what its guarantees depend on (e.g. manual commits) and lets every other
/// property come from the user's configuration.
public struct KafkaConfiguration: Sendable, Equatable {
    public var properties: [String: String]

    public init(_ properties: [String: String] = [:]) { self.properties = properties }

    public subscript(key: String) -> String? {
        get { properties[key] }
        set { properties[key] = newValue }
    }

    /// Returns a copy with `defaults` filled in where the user set nothing.
    public func withDefaults(_ defaults: [String: String]) -> KafkaConfiguration {
        KafkaConfiguration(properties.merging(defaults) { user, _ in user })
    }

    /// Returns a copy with `overrides` replacing user values (for properties a guarantee depends on).
    public func overriding(_ overrides: [String: String]) -> KafkaConfiguration {
        KafkaConfiguration(properties.merging(overrides) { _, forced in forced })
    }

    /// Builds an `rd_kafka_conf_t`; the caller owns it until handed to `rd_kafka_new`.
    func makeConf() throws(KafkaError) -> OpaquePointer {
        guard let conf = rd_kafka_conf_new() else { throw KafkaError(.configuration, "rd_kafka_conf_new failed") }
        var errorText = [CChar](repeating: 0, count: 512)
        for (key, value) in properties.sorted(by: { $0.key < $1.key }) {
            let result = rd_kafka_conf_set(conf, key, value, &errorText, errorText.count)
            if result != RD_KAFKA_CONF_OK {
                rd_kafka_conf_destroy(conf)
                let reason = errorText.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
                throw KafkaError(.configuration, "\(key)=\(value): \(reason)")
            }
        }
        return conf
    }
}
