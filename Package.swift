// swift-tools-version: 6.2
import PackageDescription

/// One library with the logic and one thin executable per service, in dependency order of the
/// platform: see DESIGN.md.
let services = ["Gateway", "Router", "Orchestrator", "Realtime", "Ingestion", "Analytics", "Billing"]

let runtime: [Target.Dependency] = [
    "Contracts", "SwitchyardBus", "SwitchyardDatabase", "SwitchyardRedis", "SwitchyardRuntime",
    .product(name: "Logging", package: "swift-log"),
]

/// What a service's library needs beyond the shared runtime.
let serviceDependencies: [String: [Target.Dependency]] = [
    "Analytics": [
        .product(name: "PostgresNIO", package: "postgres-nio"),
        .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
    ],
    "Billing": [
        .product(name: "PostgresNIO", package: "postgres-nio"),
        .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
    ],
    "Orchestrator": [
        .product(name: "PostgresNIO", package: "postgres-nio"),
        .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
    ],
    "Ingestion": [
        .product(name: "PostgresNIO", package: "postgres-nio"),
        .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
        .product(name: "Subprocess", package: "swift-subprocess"),
    ],
    "Gateway": [
        "SwitchyardAdministration",
        .product(name: "JWTKit", package: "jwt-kit"),
        .product(name: "AsyncHTTPClient", package: "async-http-client"),
        .product(name: "Yams", package: "Yams"),
        .product(name: "Hummingbird", package: "hummingbird"),
        .product(name: "HTTPTypes", package: "swift-http-types"),
        .product(name: "Crypto", package: "swift-crypto"),
    ],
    "Realtime": [
        .product(name: "Hummingbird", package: "hummingbird"),
        .product(name: "HummingbirdWebSocket", package: "hummingbird-websocket"),
        .product(name: "HTTPTypes", package: "swift-http-types"),
        .product(name: "Crypto", package: "swift-crypto"),
    ],
    "Router": [
        .product(name: "Yams", package: "Yams"),
        .product(name: "UnixSignals", package: "swift-service-lifecycle"),
        .product(name: "AsyncHTTPClient", package: "async-http-client"),
    ],
]

/// Files a service's library carries: the gateway serves its OpenAPI document.
let serviceResources: [String: [Resource]] = [
    "Gateway": [.copy("Resources/openapi.yaml")],
]

let serviceTargets: [Target] = services.flatMap { name -> [Target] in
    let lower = name.lowercased()
    return [
        .target(
            name: "\(name)Service", dependencies: runtime + serviceDependencies[name, default: []],
            path: "Services/\(name)/\(name)Service", resources: serviceResources[name]),
        .executableTarget(name: lower, dependencies: [.target(name: "\(name)Service"), "SwitchyardRuntime"], path: "Services/\(name)/\(lower)"),
    ]
}

let package = Package(
    name: "switchyard",
    platforms: [.macOS(.v15)],
    products: services.map { .executable(name: $0.lowercased(), targets: [$0.lowercased()]) } + [
        .executable(name: "switchyard", targets: ["switchyard"]),
        .library(name: "Contracts", targets: ["Contracts"]),
    ],
    dependencies: [
        .package(url: "https://github.com/hummingbird-project/hummingbird.git", from: "2.28.1"),
        .package(url: "https://github.com/hummingbird-project/hummingbird-websocket.git", from: "2.8.1"),
        .package(url: "https://github.com/vapor/postgres-nio.git", from: "1.33.2"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-configuration.git", from: "1.4.0"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-metrics.git", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.4.1"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-crypto.git", "3.12.3"..<"5.0.0"),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        .package(url: "https://github.com/jpsim/Yams.git", from: "6.2.2"),
        .package(url: "https://github.com/swift-server/async-http-client.git", from: "1.37.0"),
        .package(url: "https://github.com/apple/swift-http-types.git", from: "1.5.0"),
        .package(url: "https://github.com/vapor/jwt-kit.git", from: "5.8.0"),
        .package(url: "https://github.com/swiftlang/swift-subprocess.git", from: "1.0.2"),
    ],
    targets: [
        .target(name: "Contracts", path: "Contracts"),

        .systemLibrary(name: "CHiredis", path: "Shared/CHiredis", pkgConfig: "hiredis", providers: [.apt(["libhiredis-dev"])]),

        .target(
            name: "SwitchyardBus",
            dependencies: [
                "Contracts",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOFoundationCompat", package: "swift-nio"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            path: "Shared/Bus"
        ),
        .target(
            name: "SwitchyardDatabase",
            dependencies: [
                "Contracts",
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
            ],
            path: "Shared/Database"
        ),
        .target(
            name: "SwitchyardRedis",
            dependencies: [
                "Contracts", "CHiredis",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            path: "Shared/Redis"
        ),
        .target(
            name: "SwitchyardAdministration",
            dependencies: [
                "Contracts", "SwitchyardBus", "SwitchyardDatabase",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "PostgresNIO", package: "postgres-nio"),
            ],
            path: "Shared/Administration"
        ),
        .target(
            name: "SwitchyardRuntime",
            dependencies: [
                "Contracts", "SwitchyardBus", "SwitchyardDatabase", "SwitchyardRedis",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Configuration", package: "swift-configuration"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Crypto", package: "swift-crypto"),
            ],
            path: "Shared/Runtime"
        ),

        .executableTarget(
            name: "switchyard",
            dependencies: [
                "Contracts", "SwitchyardAdministration", "SwitchyardBus", "SwitchyardDatabase", "SwitchyardRuntime", "AnalyticsService",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            path: "Tools/switchyard"
        ),

        .testTarget(name: "ContractsTests", dependencies: ["Contracts"], path: "Tests/ContractsTests"),
        .testTarget(
            name: "RouterTests", dependencies: ["RouterService", "Contracts", .product(name: "NIOCore", package: "swift-nio")],
            path: "Tests/RouterTests"),
        .testTarget(name: "AnalyticsTests", dependencies: ["AnalyticsService"], path: "Tests/AnalyticsTests"),
        .testTarget(name: "BillingTests", dependencies: ["BillingService"], path: "Tests/BillingTests"),
        .testTarget(name: "IngestionTests", dependencies: ["IngestionService"], path: "Tests/IngestionTests"),
        .testTarget(
            name: "PlatformTests",
            dependencies: [
                "Contracts", "SwitchyardBus", "SwitchyardDatabase", "SwitchyardRedis", "SwitchyardRuntime",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Hummingbird", package: "hummingbird"),
                "RouterService", "GatewayService", "BillingService", "AnalyticsService", "RealtimeService", "IngestionService", "OrchestratorService",
                "SwitchyardAdministration",
                .product(name: "HummingbirdWSClient", package: "hummingbird-websocket"),
                .product(name: "JWTKit", package: "jwt-kit"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "_CryptoExtras", package: "swift-crypto"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "Yams", package: "Yams"),
            ],
            path: "Tests/PlatformTests"
        ),
        // The benchmark's fake OpenAI-compatible upstream (`make bench`).
        .executableTarget(
            name: "bench-upstream",
            dependencies: [
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ],
            path: "bench/upstream"
        ),
        // A durable consumer in a process of its own, so a test can kill it with SIGKILL.
        .executableTarget(
            name: "bus-probe",
            dependencies: [
                "Contracts", "SwitchyardBus", "SwitchyardDatabase",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            path: "Tests/Fixtures/bus-probe"
        ),
    ] + serviceTargets
)
