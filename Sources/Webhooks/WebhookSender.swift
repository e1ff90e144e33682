import AsyncHTTPClient
import Foundation
import NIOConcurrencyHelpers
import NIOCore
import NIOHTTP1

/// Makes one signed POST of one event and says how it went. Never throws: every failure is an outcome.
struct WebhookSender: Sendable {
    let client: HTTPClient
    let secrets: [String]
    let timeout: Duration
    let maxResponseBytes: Int

    func send(_ event: StoredEvent, to url: URL, at now: Date) async -> AttemptOutcome {
        var request = HTTPClientRequest(url: url.absoluteString)
        request.method = .POST
        let timestamp = String(Int(now.timeIntervalSince1970))
        let body = event.payload.body
        request.headers.add(name: "Content-Type", value: "application/json")
        request.headers.add(name: "User-Agent", value: "Switchboard-Webhooks")
        request.headers.add(name: "Switchboard-Id", value: event.payload.id)
        request.headers.add(name: "Switchboard-Timestamp", value: timestamp)
        request.headers.add(name: "Switchboard-Signature",
                            value: WebhookSignature.header(timestamp: timestamp, body: body.readableBytesView, secrets: secrets))
        request.body = .bytes(body)
        let (client, limit, timeout, prepared) = (client, maxResponseBytes, timeout, request)
        do {
            // AsyncHTTPClient's deadline stops at the response head; the race bounds the body as well.
            return try await within(timeout) {
                let response = try await client.execute(prepared, deadline: .now() + TimeAmount(timeout))
                // Read a small response to its end so the connection can be reused; past the bound, stop: leaving
                // the body unread makes the client close the connection rather than take in the rest.
                var read = 0
                for try await part in response.body {
                    read += part.readableBytes
                    if read > limit { break }
                }
                return AttemptOutcome(status: response.status.code)
            }
        } catch {
            return .retry(reason: "\(error)")
        }
    }

    /// `body`'s result, or `AttemptTimeout` once `limit` has passed (then `body` is cancelled). One task and one
    /// event-loop timer per request: a task group racing a sleeping task cost a second task and a second timer.
    private func within(_ limit: Duration, _ body: @escaping @Sendable () async throws -> AttemptOutcome) async throws -> AttemptOutcome {
        let attempt = Task { try await body() }
        let expired = NIOLockedValueBox(false)
        let timer = client.eventLoopGroup.any().scheduleTask(in: TimeAmount(limit)) {
            expired.withLockedValue { $0 = true }
            attempt.cancel()
        }
        defer { timer.cancel() }
        do {
            return try await withTaskCancellationHandler {
                try await attempt.value
            } onCancel: {
                attempt.cancel()
            }
        } catch where expired.withLockedValue({ $0 }) {
            throw AttemptTimeout(limit: limit)
        }
    }
}

struct AttemptTimeout: Error, CustomStringConvertible {
    var limit: Duration
    var description: String { "no whole response within \(limit)" }
}
