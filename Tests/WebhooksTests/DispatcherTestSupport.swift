import Foundation
import Logging
@testable import Webhooks
import XCTest

extension XCTestCase {
    /// A fresh queue directory, removed when the test ends.
    func temporaryQueueDirectory() -> URL {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("webhook-queue-\(UUID().uuidString)")
        addTeardownBlock { try? FileManager.default.removeItem(at: directory) }
        return directory
    }

    /// Settings with retries and timeouts short enough for a test.
    func testSettings(_ urls: [URL], secrets: [String] = ["first-secret", "second-secret"], directory: URL) -> WebhookSettings {
        var settings = WebhookSettings(urls: urls, secrets: secrets, queueDirectory: directory)
        settings.firstRetryDelay = .milliseconds(50)
        settings.maxRetryDelay = .milliseconds(200)
        settings.requestTimeout = .seconds(2)
        settings.deadline = .seconds(30)
        settings.shutdownGrace = .milliseconds(500)
        return settings
    }

    /// A dispatcher whose `run()` is going; stopped when the test ends. Returns the task running it.
    func running(_ settings: WebhookSettings) throws -> (WebhookDispatcher, Task<Void, Error>) {
        var logger = Logger(label: "webhooks-test")
        logger.logLevel = .critical
        let dispatcher = try WebhookDispatcher(settings: settings, logger: logger)
        let task = Task { try await dispatcher.run() }
        addTeardownBlock {
            dispatcher.shutdown()
            _ = try? await task.value
        }
        return (dispatcher, task)
    }

    /// Checks `condition` every 20 ms until it holds or `seconds` pass; returns whether it held.
    func eventually(within seconds: Double = 10, _ condition: @Sendable () async throws -> Bool) async rethrows -> Bool {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            if try await condition() { return true }
            try? await Task.sleep(for: .milliseconds(20))
        }
        return try await condition()
    }

    func sampleEvent(_ n: Int, type: String = "peer.joined") -> WebhookEvent {
        WebhookEvent(type: type, timestamp: Date(), fields: ["room": .string("room-\(n)"), "n": .int(n)])
    }
}
