import Foundation
import Logging
import NIOCore
import NIOPosix
import ServiceLifecycle
import STUN
import EdgeSupport
import SwitchboardApp
import XCTest

/// A `SwitchboardService` running in-process on loopback with port 0, for integration tests.
final class RunningServer: @unchecked Sendable {
    let service: SwitchboardService
    let listeners: [BoundListener]
    private let group: ServiceGroup
    private let task: Task<Void, Error>

    static func start(eventConsumers: [LifecycleEvents.Consumer] = [],
                      _ configure: (inout ServerConfiguration) -> Void = { _ in }) async throws -> RunningServer {
        var configuration = ServerConfiguration()
        configuration.listenIP = .ipv4Loopback
        configuration.stunPort = 0
        configuration.httpPort = 0
        configuration.adminPort = 0
        configure(&configuration)
        let (stream, continuation) = AsyncStream.makeStream(of: [BoundListener].self)
        var logger = Logger(label: "test")
        logger.logLevel = .warning
        let service = try SwitchboardService(configuration: configuration, logger: logger, eventConsumers: eventConsumers) {
            continuation.yield($0)
        }
        let group = ServiceGroup(configuration: .init(services: [.init(service: service)], logger: logger))
        let task = Task {
            defer { continuation.finish() }
            try await group.run()
        }
        var iterator = stream.makeAsyncIterator()
        guard let listeners = await iterator.next() else {
            try await task.value
            throw RunningServerError.didNotStart
        }
        return RunningServer(service: service, listeners: listeners, group: group, task: task)
    }

    private init(service: SwitchboardService, listeners: [BoundListener], group: ServiceGroup, task: Task<Void, Error>) {
        self.service = service
        self.listeners = listeners
        self.group = group
        self.task = task
    }

    func address(_ name: String, ip: IPAddress? = nil, index: Int = 0) -> TransportAddress {
        let matching = listeners.filter { $0.name == name && (ip == nil || $0.address.ip == ip) }
        return matching[index].address
    }

    /// Triggers graceful shutdown and waits for the service group to return.
    func stop() async throws {
        await group.triggerGracefulShutdown()
        try await task.value
    }
}

enum RunningServerError: Error {
    case didNotStart
}

extension XCTestCase {
    /// A server that is stopped when the test ends, however it ends (a failed `try` or assertion included).
    func running(eventConsumers: [LifecycleEvents.Consumer] = [],
                 _ configure: (inout ServerConfiguration) -> Void = { _ in }) async throws -> RunningServer {
        let server = try await RunningServer.start(eventConsumers: eventConsumers, configure)
        addTeardownBlock { try? await server.stop() }
        return server
    }

    /// Waits for `condition` to hold, checking every 20 ms, instead of sleeping a fixed time and hoping; returns
    /// whether it held within `seconds`.
    func eventually(within seconds: Double = 5, _ condition: @Sendable () async throws -> Bool) async rethrows -> Bool {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            if try await condition() { return true }
            try? await Task.sleep(for: .milliseconds(20))
        }
        return try await condition()
    }
}
