import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1

/// Makes one signed POST of one event and says how it went; every failure is an outcome, never an error.
struct WebhookSender: Sendable {
    let client: HTTPClient
    let secrets: [String]
    let timeout: Duration
    let maxResponseBytes: Int

    /// Starts the request on `loop` (its outcome completes there). The task is what a stop cancels.
    func start(_ event: StoredEvent, to url: URL, at now: Date, on loop: any EventLoop)
        -> (task: HTTPClient.Task<UInt>?, outcome: EventLoopFuture<AttemptOutcome>) {
        let timestamp = String(Int(now.timeIntervalSince1970))
        let body = event.payload.body
        var headers = HTTPHeaders()
        headers.add(name: "Content-Type", value: "application/json")
        headers.add(name: "User-Agent", value: "Switchboard-Webhooks")
        headers.add(name: "Switchboard-Id", value: event.payload.id)
        headers.add(name: "Switchboard-Timestamp", value: timestamp)
        headers.add(name: "Switchboard-Signature",
                    value: WebhookSignature.header(timestamp: timestamp, body: body.readableBytesView, secrets: secrets))
        let request: HTTPClient.Request
        do {
            request = try HTTPClient.Request(url: url, method: .POST, headers: headers, body: .byteBuffer(body))
        } catch {
            return (nil, loop.makeSucceededFuture(.retry(reason: "\(error)")))
        }
        let response = BoundedResponse(limit: maxResponseBytes)
        // The deadline covers the whole exchange, body included: a receiver that never answers, or answers
        // forever, costs one timeout.
        let task = client.execute(request: request, delegate: response, eventLoop: .delegate(on: loop),
                                  deadline: .now() + TimeAmount(timeout))
        let outcome = task.futureResult.map { AttemptOutcome(status: $0) }.flatMapErrorThrowing { error in
            if error is ResponseBodyBound, let status = response.status { return AttemptOutcome(status: status) }
            return .retry(reason: "\(error)")
        }
        return (task, outcome)
    }
}
