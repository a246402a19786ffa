import CRdKafka

/// The librdkafka actually loaded at run time (not the headers we compiled against).
public enum LibrdkafkaVersion {
    /// 2.2.0: earlier versions mis-parse the tagged fields of ApiVersions v3 replies that
    /// current brokers (Apache Kafka 3.x, Tansu) send, and cannot connect.
    public static let minimum: Int32 = 0x0202_00FF

    public static var current: Int32 { rd_kafka_version() }
    public static var currentString: String { String(cString: rd_kafka_version_str()) }

    /// Throws a clear error when the loaded librdkafka is older than `minimum`.
    public static func requireSupported() throws(KafkaError) {
        guard current >= minimum else {
            throw KafkaError(
                .unsupportedLibrary,
                "librdkafka \(currentString) is loaded, Sluice needs 2.2.0 or newer (older versions cannot parse "
                    + "KIP-482 tagged fields sent by current brokers). Install a newer librdkafka, or run "
                    + "scripts/setup.sh and put .sluice/lib first on LD_LIBRARY_PATH (see docs/kafka.md).")
        }
    }
}
