// swift-tools-version:6.0
import PackageDescription

// Module graph (a DAG; each module one job):
//   CRdKafka, CHiredis      C shims over the system libraries
//   SluiceCore              events, validation, event time, windows, features (pure: no I/O)
//   CPrefetch               a prefetch hint for the model's tree walker (header only)
//   SluiceModel             model formats, compiled ensemble, predictor (pure: no I/O beyond reading a file)
//   SluiceKafka             librdkafka adapter          -> CRdKafka
//   SluiceRedis             hiredis adapter             -> CHiredis
//   SluiceEngine            topology, pipeline, routing -> Core, Model, Kafka, Redis
//   SluiceGenerator         synthetic traffic for the demo, tests and load tests -> Core
//   SluiceServer            HTTP: /metrics (Prometheus), /healthz, /readyz (SwiftNIO)
//   sluice (SluiceCLI)      command line                -> Engine, Server
//   SluiceTestSupport       private Tansu/Redis processes for tests and test tools
//   SluiceChaos             the exactly-once chaos test (kill -9, verify) -> Engine, Generator, TestSupport
//   sluice-chaos            its command line (loadtest/chaos/run)
let package = Package(
    name: "sluice",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "sluice", targets: ["SluiceCLI"]),
        .executable(name: "sluice-chaos", targets: ["SluiceChaosCLI"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.6.0"),
        .package(url: "https://github.com/jpsim/Yams", from: "5.0.1"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.6.0"),
        .package(url: "https://github.com/apple/swift-protobuf", from: "1.39.0"),
        .package(url: "https://github.com/apple/swift-metrics", from: "2.5.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.0.0"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.70.0"),
    ],
    targets: [
        .systemLibrary(
            name: "CRdKafka",
            pkgConfig: "rdkafka",
            providers: [.apt(["librdkafka-dev"])]
        ),
        .systemLibrary(
            name: "CHiredis",
            pkgConfig: "hiredis",
            providers: [.apt(["libhiredis-dev"])]
        ),
        .target(name: "SluiceCore"),
        // A header with `__builtin_prefetch`, which the single-row tree walker uses.
        .target(name: "CPrefetch"),
        .target(
            name: "SluiceModel",
            dependencies: ["CPrefetch", .product(name: "SwiftProtobuf", package: "swift-protobuf")]
        ),
        .target(name: "SluiceGenerator", dependencies: ["SluiceCore"]),
        .target(
            name: "SluiceKafka",
            dependencies: [
                "CRdKafka",
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .target(
            name: "SluiceRedis",
            dependencies: [
                "CHiredis",
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .target(
            name: "SluiceEngine",
            dependencies: [
                "SluiceCore", "SluiceModel", "SluiceKafka", "SluiceRedis",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Yams", package: "Yams"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "CoreMetrics", package: "swift-metrics"),
            ]
        ),
        .target(
            name: "SluiceServer",
            dependencies: [
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "CoreMetrics", package: "swift-metrics"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
        .executableTarget(
            name: "SluiceCLI",
            dependencies: [
                "SluiceEngine", "SluiceGenerator", "SluiceServer",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
            ],
            // jemalloc replaces glibc's malloc in the engine's process: batches are allocated on
            // the pipeline thread and freed on the output thread, which glibc's arenas handle
            // poorly (loadtest/compare-builds/pipeline, 1M events: 1.14x linked, 1.22x through
            // LD_PRELOAD; docs/performance.md).
            linkerSettings: [.linkedLibrary("jemalloc", .when(platforms: [.linux]))]
        ),
        .target(
            name: "SluiceTestSupport",
            dependencies: ["CRdKafka", "SluiceCore", "SluiceGenerator", "SluiceKafka", "SluiceRedis"]
        ),
        .target(
            name: "SluiceChaos",
            dependencies: [
                "SluiceEngine", "SluiceGenerator", "SluiceKafka", "SluiceRedis", "SluiceTestSupport",
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .executableTarget(
            name: "SluiceChaosCLI",
            dependencies: [
                "SluiceChaos", "SluiceTestSupport",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .testTarget(name: "SluiceCoreTests", dependencies: ["SluiceCore"]),
        .testTarget(
            name: "SluiceModelTests",
            // SluiceGenerator: its seedable generator, for the synthetic ensembles.
            dependencies: ["SluiceModel", "SluiceGenerator"],
            resources: [.copy("Fixtures")]
        ),
        .testTarget(name: "SluiceRedisTests", dependencies: ["SluiceRedis", "SluiceTestSupport"]),
        .testTarget(
            name: "SluiceIntegrationTests",
            dependencies: ["SluiceEngine", "SluiceTestSupport", "SluiceChaos", "SluiceKafka", "SluiceRedis"]
        ),
    ]
)
