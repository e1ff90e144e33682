// swift-tools-version:6.1
import Foundation
import PackageDescription

// Microbenchmarks (package-benchmark with malloc counts) only join the build when asked for, so that `swift test`
// and CI do not build their dependencies: SWITCHBOARD_MICROBENCHMARKS=1 swift package benchmark
let microbenchmarks = ProcessInfo.processInfo.environment["SWITCHBOARD_MICROBENCHMARKS"] != nil

// Products that several targets use, named once.
let atomics: Target.Dependency = .product(name: "Atomics", package: "swift-atomics")
let crypto: Target.Dependency = .product(name: "Crypto", package: "swift-crypto")
let jwtKit: Target.Dependency = .product(name: "JWTKit", package: "jwt-kit")
let logging: Target.Dependency = .product(name: "Logging", package: "swift-log")
let nioConcurrencyHelpers: Target.Dependency = .product(name: "NIOConcurrencyHelpers", package: "swift-nio")
let nioCore: Target.Dependency = .product(name: "NIOCore", package: "swift-nio")
let nioPosix: Target.Dependency = .product(name: "NIOPosix", package: "swift-nio")
let nioSSL: Target.Dependency = .product(name: "NIOSSL", package: "swift-nio-ssl")
let nioWebSocket: Target.Dependency = .product(name: "NIOWebSocket", package: "swift-nio")
// The per-packet modules skip Swift's dynamic exclusivity checks in release builds: their state is confined to one
// loop thread, and the checks (a thread-local access set per property access) were a large share of the relay's
// user time (docs/benchmarks.md). Debug builds, and so the tests, keep them. Unsafe flags mean these library
// products can be used from a local path or a branch, not by version.
let releaseWithoutExclusivityChecks: [SwiftSetting] = [
    .unsafeFlags(["-enforce-exclusivity=unchecked"], .when(configuration: .release)),
]
let serviceLifecycle: Target.Dependency = .product(name: "ServiceLifecycle", package: "swift-service-lifecycle")

let package = Package(
    name: "Switchboard",
    // Linux only: the relay's data plane (CDatagramIO, DatagramLoop) is built on epoll, recvmmsg/sendmmsg and UDP
    // GSO, so no Apple platform is claimed.
    products: [
        .executable(name: "switchboard", targets: ["switchboard"]),
        .library(name: "STUN", targets: ["STUN"]),
        .library(name: "TURN", targets: ["TURN"]),
        .library(name: "Signaling", targets: ["Signaling"]),
        .library(name: "SwitchboardApp", targets: ["SwitchboardApp"]),
        .library(name: "SwitchboardClient", targets: ["SwitchboardClient"]),
        .executable(name: "STUNFuzz", targets: ["STUNFuzz"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-crypto.git", from: "4.5.2"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
        .package(url: "https://github.com/LebJe/TOMLKit.git", from: "0.6.0"),
        .package(url: "https://github.com/apple/swift-atomics.git", from: "1.3.0"),
        .package(url: "https://github.com/hummingbird-project/hummingbird.git", from: "2.28.1"),
        .package(url: "https://github.com/hummingbird-project/hummingbird-websocket.git", from: "2.8.1"),
        .package(url: "https://github.com/vapor/jwt-kit.git", from: "5.8.0"),
        .package(url: "https://github.com/apple/swift-http-types.git", from: "1.8.0"),
        .package(url: "https://github.com/apple/swift-nio-extras.git", from: "1.35.2"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.4.1"),
        .package(url: "https://github.com/apple/swift-metrics.git", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-nio-ssl.git", from: "2.37.6"),
        .package(url: "https://github.com/apple/swift-certificates.git", from: "1.21.1"),
        .package(url: "https://github.com/apple/swift-asn1.git", from: "1.5.0"),
        .package(url: "https://github.com/swift-server/async-http-client.git", from: "1.37.0"),
        .package(url: "https://github.com/apple/swift-collections.git", from: "1.6.0"),
    ],
    targets: [
        .target(
            name: "STUN",
            dependencies: [
                nioCore,
                crypto,
            ],
            swiftSettings: releaseWithoutExclusivityChecks
        ),
        .target(
            name: "TURN",
            dependencies: [
                "STUN",
                nioCore,
                nioConcurrencyHelpers,
                crypto,
            ],
            swiftSettings: releaseWithoutExclusivityChecks
        ),
        .target(name: "Signaling"),
        // recvmmsg/sendmmsg, epoll and packet info for the UDP data plane (see DatagramLoop).
        .target(name: "CDatagramIO"),
        // The kernel fast path for TURN channels: a tc BPF program (BPF/, compiled by BPFObjectPlugin), its loader
        // (libbpf, opened at run time) and the per-core route tables.
        .target(name: "CKernelFastPath", linkerSettings: [.linkedLibrary("dl")]),
        .target(
            name: "KernelFastPath",
            dependencies: ["CKernelFastPath", "STUN", "TURN"],
            exclude: ["BPF"],
            plugins: ["BPFObjectPlugin"]
        ),
        .executableTarget(name: "BPFObjectEmbedder"),
        .plugin(name: "BPFObjectPlugin", capability: .buildTool(), dependencies: ["BPFObjectEmbedder"]),
        // What both edges share: connection bounds, listener names in errors and readiness lines, certificates and TLS.
        .target(
            name: "EdgeSupport",
            dependencies: [
                "STUN",
                nioCore,
                nioConcurrencyHelpers,
                nioSSL,
                .product(name: "NIOTLS", package: "swift-nio"),
                crypto,
                .product(name: "X509", package: "swift-certificates"),
                .product(name: "SwiftASN1", package: "swift-asn1"),
            ]
        ),
        // The relay edge: UDP and TCP listeners for STUN/TURN, the datagram loop, the TURN edge.
        .target(
            name: "RelayEdge",
            dependencies: [
                "STUN", "TURN", "CDatagramIO", "EdgeSupport", "KernelFastPath",
                nioCore,
                nioSSL,
                nioConcurrencyHelpers,
                nioPosix,
                logging,
                atomics,
            ],
            swiftSettings: releaseWithoutExclusivityChecks
        ),
        // The signaling edge: HTTP routes and limits, the WebSocket edge, long polling, the hub, token checks.
        .target(
            name: "SignalingEdge",
            dependencies: [
                "Signaling", "STUN", "TURN", "EdgeSupport",
                nioCore,
                nioConcurrencyHelpers,
                nioPosix,
                .product(name: "NIOHTTP1", package: "swift-nio"),
                nioWebSocket,
                logging,
                serviceLifecycle,
                atomics,
                crypto,
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdCore", package: "hummingbird"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "NIOHTTPTypes", package: "swift-nio-extras"),
                .product(name: "NIOHTTPTypesHTTP1", package: "swift-nio-extras"),
                jwtKit,
            ],
            resources: [.copy("Resources/web")]
        ),
        // Signed, retried, durable webhooks: a queue on disk per endpoint, sent with AsyncHTTPClient. Knows nothing of
        // the cores: it takes a type, a time and JSON fields.
        .target(
            name: "Webhooks",
            dependencies: [
                nioCore,
                nioPosix,
                nioConcurrencyHelpers,
                logging,
                serviceLifecycle,
                crypto,
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "DequeModule", package: "swift-collections"),
                nioSSL,
            ]
        ),
        // The app: settings, the service group, start-up and shutdown. Composes both edges.
        // The operator's listener: /metrics and the admin API, on what the app hands it.
        .target(
            name: "AdminEdge",
            dependencies: [
                nioCore,
                logging,
                serviceLifecycle,
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
            ]
        ),
        .target(
            name: "SwitchboardApp",
            dependencies: [
                "STUN", "TURN", "Signaling", "EdgeSupport", "RelayEdge", "SignalingEdge", "AdminEdge", "Webhooks",
                "KernelFastPath",
                nioCore,
                nioPosix,
                logging,
                serviceLifecycle,
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "CoreMetrics", package: "swift-metrics"),
                .product(name: "TOMLKit", package: "TOMLKit"),
                crypto,
            ]
        ),
        .target(
            name: "SwitchboardClient",
            dependencies: [
                "STUN",
                nioCore,
                nioPosix,
                nioSSL,
                .product(name: "NIOTLS", package: "swift-nio"),
            ]
        ),
        .executableTarget(
            name: "switchboard",
            dependencies: [
                "SwitchboardApp", "EdgeSupport", "SwitchboardClient", "STUN", "TURN",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                nioCore,
                nioPosix,
                .product(name: "NIOHTTP1", package: "swift-nio"),
                nioSSL,
                logging,
                serviceLifecycle,
            ]
        ),
        // libFuzzer entry point; build with `swift build --sanitize fuzzer --sanitize address --product STUNFuzz`.
        // Signaling load generator for Benchmarks/signaling-load (a NIO client, so it is not the bottleneck).
        .executableTarget(
            name: "SignalingLoad",
            dependencies: [nioCore, nioPosix,
                           atomics],
            path: "Benchmarks/SignalingLoad"
        ),
        // Webhook delivery rate through the on-disk queue to a loopback receiver, for Benchmarks/webhook-throughput.
        .executableTarget(
            name: "WebhookThroughput",
            dependencies: ["Webhooks", nioCore, nioPosix, logging, .product(name: "NIOHTTP1", package: "swift-nio"),
                           .product(name: "AsyncHTTPClient", package: "async-http-client")],
            path: "Benchmarks/WebhookThroughput"
        ),
        .executableTarget(name: "STUNFuzz", dependencies: ["STUN", "TURN", nioCore]),
        .testTarget(name: "STUNTests", dependencies: ["STUN", nioCore,
                                                      crypto],
                    resources: [.copy("FuzzRegressions")]),
        .testTarget(name: "TURNTests", dependencies: ["TURN", "STUN", nioCore,
                                                      crypto]),
        .testTarget(name: "SignalingTests", dependencies: ["Signaling"]),
        .testTarget(name: "KernelFastPathTests", dependencies: ["KernelFastPath", "TURN", "STUN"]),
        .testTarget(name: "WebhooksTests", dependencies: [
            "Webhooks", "EdgeSupport", nioCore, nioPosix, nioConcurrencyHelpers, nioSSL, crypto, logging, serviceLifecycle,
            .product(name: "NIOHTTP1", package: "swift-nio"),
        ]),
        .testTarget(
            name: "SwitchboardServerTests",
            dependencies: [
                "SwitchboardApp", "RelayEdge", "SignalingEdge", "EdgeSupport", "SwitchboardClient", "STUN", "TURN", "Signaling",
                .product(name: "HummingbirdWSClient", package: "hummingbird-websocket"),
                jwtKit,
                crypto,
                logging,
                nioCore,
                nioPosix,
                nioSSL,
                .product(name: "NIOEmbedded", package: "swift-nio"),
                nioWebSocket,
                nioConcurrencyHelpers,
                serviceLifecycle,
                .product(name: "NIOHTTP1", package: "swift-nio"),
                "Webhooks",
            ]
        ),
        .testTarget(name: "SwitchboardClientTests", dependencies: [
            "SwitchboardClient", "SwitchboardApp", "EdgeSupport", "STUN",
            logging, nioCore,
            serviceLifecycle,
        ]),
    ]
)

if microbenchmarks {
    package.dependencies.append(
        .package(url: "https://github.com/ordo-one/benchmark.git", from: "1.38.1", traits: ["MallocInterposer"]))
    package.targets.append(
        .executableTarget(
            name: "CoreBenchmarks",
            dependencies: [
                "STUN", "TURN", "Signaling",
                .product(name: "Benchmark", package: "benchmark"),
                nioCore,
            ],
            path: "Benchmarks/CoreBenchmarks",
            plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]
        ))
}
