import AsyncHTTPClient
import Foundation
import Logging
import NIOConcurrencyHelpers
import NIOPosix

/// One receiving URL: its queue, its log, the writer task and the sender.
///
/// The writer takes accepted events, writes and fsyncs them to the log (on the dispatcher's I/O thread), hands
/// them to the sender (`EndpointSender`) and records finished deliveries. Callers of `offer` only take the lock for
/// a moment: they never wait for disk or network.
final class WebhookEndpoint: Sendable {
    let url: URL
    private let state: NIOLockedValueBox<EndpointQueue>
    private let control = NIOLockedValueBox(Control())
    private let log: EndpointLog
    private let settings: WebhookSettings
    private let logger: Logger
    private let writerBell = Bell()

    private struct Control {
        var sender: EndpointSender?
        var stopping = false
    }

    init(url: URL, log: EndpointLog, settings: WebhookSettings, logger: Logger) {
        self.url = url
        self.log = log
        self.settings = settings
        var logger = logger
        logger[metadataKey: "webhook-url"] = "\(url.redactingPassword)"
        self.logger = logger
        state = NIOLockedValueBox(EndpointQueue(limit: settings.queueLimit, recovered: log.recovered))
        for note in log.recoveryNotes { logger.warning("webhook queue: \(note)") }
        if !log.recovered.isEmpty {
            logger.notice("webhook queue: undelivered events from an earlier run will be sent",
                          metadata: ["events": "\(log.recovered.count)"])
        }
    }

    /// Queues `event` unless the queue is full or stopping; never blocks.
    func offer(_ event: EndpointQueue.Accepted) -> Bool {
        let (accepted, wake) = state.withLockedValue { $0.offer(event) }
        if wake { writerBell.ring() }
        return accepted
    }

    var statistics: WebhookStatistics.Endpoint {
        let now = Date()
        return state.withLockedValue { queue in
            WebhookStatistics.Endpoint(
                url: url.redactingPassword, delivered: queue.counts.delivered, failed: queue.counts.failed,
                rejected: queue.counts.rejected, dropped: queue.counts.dropped, queueDepth: queue.depth,
                oldestUndeliveredAge: queue.oldestAcceptedAt.map { max(0, now.timeIntervalSince($0)) })
        }
    }

    /// Sends and writes until `stop()`, then writes what is still unwritten and returns. `io`: the thread every
    /// log write happens on.
    func run(sender: WebhookSender, io: NIOThreadPool) async {
        let writerBell = self.writerBell
        let line = EndpointSender(loop: sender.client.eventLoopGroup.next(), url: url, queue: state, sender: sender,
                                  settings: settings, logger: logger) { writerBell.ring() }
        let stopped = control.withLockedValue { control in
            control.sender = line
            return control.stopping
        }
        let writing = Task { await self.writeLoop(io: io) }
        if stopped { line.stop(grace: settings.shutdownGrace) } else { line.wake() }
        try? await line.stopped.get()
        writerBell.finish()
        await writing.value
        try? await io.runIfActive { [log] in
            try log.sync()
            log.close()
        }
    }

    /// Stops taking events and stops sending: at once when the sender is idle or waiting to retry, after at most
    /// `shutdownGrace` when a request is out. Events still queued stay in the log for the next start.
    func stop() {
        state.withLockedValue { $0.close() }
        let sender = control.withLockedValue { control in
            control.stopping = true
            return control.sender
        }
        sender?.stop(grace: settings.shutdownGrace)
    }

    private func writeLoop(io: NIOThreadPool) async {
        var bell = writerBell.waiting()
        while true {
            await writePending(io: io)
            // Once the bell is finished, one last look: nothing can be offered after `stop()`.
            guard await bell.next() != nil else { return await writePending(io: io) }
        }
    }

    private func writePending(io: NIOThreadPool) async {
        while let work = state.withLockedValue({ $0.takeWork() }) {
            let stored: [StoredEvent]
            do {
                stored = try await io.runIfActive { [log] in
                    let stored = work.events.map { accepted in
                        StoredEvent(sequence: log.takeSequence(), acceptedAt: accepted.acceptedAt.wholeMilliseconds,
                                    payload: WebhookPayload(event: accepted.event, id: accepted.id))
                    }
                    try log.write(stored, finishedThrough: work.finishedThrough, everythingFinished: work.everythingFinished)
                    return stored
                }
            } catch {
                // A full or failing disk must not lose what callers were told is accepted: send it anyway.
                logger.error("webhook queue: cannot write; events are kept in memory only", metadata: ["error": "\(error)"])
                stored = work.events.map { accepted in
                    StoredEvent(sequence: 0, acceptedAt: accepted.acceptedAt,
                                payload: WebhookPayload(event: accepted.event, id: accepted.id))
                }
            }
            if state.withLockedValue({ $0.written(stored) }) { control.withLockedValue { $0.sender }?.wake() }
        }
    }
}

extension Duration {
    var seconds: Double {
        let (seconds, attoseconds) = components
        return Double(seconds) + Double(attoseconds) / 1e18
    }
}

extension Date {
    /// As the log keeps it, so that a replayed event's deadline is the one it had.
    var wholeMilliseconds: Date { Date(timeIntervalSince1970: (timeIntervalSince1970 * 1000).rounded() / 1000) }
}

extension URL {
    /// For logs and statistics: a password in the URL is not shown.
    var redactingPassword: String {
        guard password != nil, var components = URLComponents(url: self, resolvingAgainstBaseURL: false) else { return absoluteString }
        components.password = "********"
        return components.string ?? absoluteString
    }
}
