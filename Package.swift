// swift-tools-version:6.0
import PackageDescription

// Layering (see docs/architecture.md): Core is pure; Engine adds the actor and clocks;
// Integrations holds the simulator; UI draws into a cell grid and never sees ncurses;
// FridayTerminal is the one place that talks to ncurses; `friday` only wires.
let strict: [SwiftSetting] = [.swiftLanguageMode(.v6)]

let package = Package(
    name: "friday",
    products: [
        .executable(name: "friday", targets: ["friday"]),
        .executable(name: "friday-fuzz", targets: ["friday-fuzz"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/LebJe/TOMLKit", from: "0.6.0"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.80.0"),
        .package(url: "https://github.com/vapor/postgres-nio", from: "1.33.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.6.0"),
        .package(url: "https://github.com/apple/swift-nio-ssl", from: "2.25.0"),
    ],
    targets: [
        .target(name: "FridayCore", swiftSettings: strict),
        .target(name: "FridayEngine", dependencies: ["FridayCore"], swiftSettings: strict),
        .target(name: "FridayIntegrations", dependencies: ["FridayCore", "FridayEngine", "TOMLKit"], swiftSettings: strict),
        // The engine served to attached dashboards and CLI verbs (SwiftNIO: Unix socket and TCP).
        .target(name: "FridayServe", dependencies: [
            "FridayCore", "FridayEngine",
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOPosix", package: "swift-nio"),
        ], swiftSettings: strict),
        // The shared history on PostgreSQL (PostgresNIO): the outbox, boards' rows, deploy locks.
        .target(name: "FridayStore", dependencies: [
            "FridayCore", "FridayEngine",
            .product(name: "PostgresNIO", package: "postgres-nio"),
            .product(name: "Logging", package: "swift-log"),
            .product(name: "NIOPosix", package: "swift-nio"),
            .product(name: "NIOSSL", package: "swift-nio-ssl"),
        ], swiftSettings: strict),
        .target(name: "FridayUI", dependencies: ["FridayCore", "TOMLKit"], swiftSettings: strict),
        .systemLibrary(name: "CNcursesw", path: "Sources/CNcursesw"),
        .target(name: "FridayTerminal", dependencies: ["FridayUI", "CNcursesw"], swiftSettings: strict),
        .executableTarget(
            name: "friday",
            dependencies: [
                "FridayCore", "FridayEngine", "FridayIntegrations", "FridayServe", "FridayStore", "FridayUI", "FridayTerminal",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            swiftSettings: strict
        ),
        .target(name: "FridayTesting", dependencies: ["FridayCore", "FridayUI"], swiftSettings: strict),
        // Fuzz targets for every parser of outside input (docs/reliability.md): run in-process
        // by `friday-fuzz` and the tests, or under libFuzzer by scripts/fuzz.
        .target(name: "FridayFuzz", dependencies: ["FridayCore", "FridayEngine", "FridayIntegrations", "FridayUI", "FridayTesting"], swiftSettings: strict),
        .executableTarget(name: "friday-fuzz", dependencies: ["FridayFuzz"], swiftSettings: strict),
        .testTarget(name: "FridayCoreTests", dependencies: ["FridayCore", "FridayTesting"], swiftSettings: strict),
        .testTarget(name: "FridayEngineTests", dependencies: ["FridayCore", "FridayEngine", "FridayIntegrations", "FridayTesting", "FridayFuzz"], swiftSettings: strict),
        .testTarget(name: "FridayUITests", dependencies: ["FridayCore", "FridayUI", "FridayEngine", "FridayIntegrations", "FridayTesting", "FridayTerminal"],
                    exclude: ["__Snapshots__"], swiftSettings: strict),
        .testTarget(name: "FridayEndToEndTests", dependencies: ["FridayTesting", "FridayCore", "FridayEngine", "FridayIntegrations", "FridayServe", "FridayStore"], swiftSettings: strict),
    ]
)
