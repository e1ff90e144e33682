import Foundation
import Logging
import NIOConcurrencyHelpers
import NIOPosix

/// One receiving URL: its queue, its log and the two tasks that move events along.
///
/// The writer takes accepted events, writes and fsyncs them to the log (on the dispatcher's I/O thread) and hands
/// them to the sender, and records finished deliveries. The sender sends the head of the line, one request at a
/// time, until it is delivered, rejected or past its deadline; only then does the next one go. Callers of
/// `offer` only take the lock for a moment: they never wait for disk or network.
final class WebhookEndpoint: Sendable {
    let url: URL
    private let state: NIOLockedValueBox<EndpointQueue>
    private let control = NIOLockedValueBox(Control())
    private let log: EndpointLog
    private let schedule: RetrySchedule
    private let deadline: Duration
    private let shutdownGrace: Duration
    private let logger: Logger
    private let writerBell = Bell()
    private let senderBell = Bell()

    private struct Control {
        var sending: Task<Void, Never>?
        /// A request is out: stopping gives it `shutdownGrace` before cutting it off.
        var attempting = false
        var stopping = false
    }

    init(url: URL, log: EndpointLog, settings: WebhookSettings, logger: Logger) {
        self.url = url
        self.log = log
        self.schedule = RetrySchedule(first: settings.firstRetryDelay, cap: settings.maxRetryDelay)
        self.deadline = settings.deadline
        self.shutdownGrace = settings.shutdownGrace
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
                url: url.redactingPassword, delivered: queue.counts.delivered, failed: queue.counts.failed, rejected: queue.counts.rejected,
                dropped: queue.counts.dropped, queueDepth: queue.depth,
                oldestUndeliveredAge: queue.oldestAcceptedAt.map { max(0, now.timeIntervalSince($0)) })
        }
    }

    /// Runs both tasks until `stop()`, then writes what is still unwritten and returns. `io`: the thread every
    /// log write happens on.
    func run(sender: WebhookSender, io: NIOThreadPool) async {
        let writing = Task { await self.writeLoop(io: io) }
        let sending = Task { await self.sendLoop(sender: sender) }
        let stopped = control.withLockedValue { control in
            control.sending = sending
            return control.stopping
        }
        if stopped { sending.cancel() }
        await withTaskCancellationHandler {
            await sending.value
        } onCancel: {
            sending.cancel()
        }
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
        let (sending, attempting) = control.withLockedValue { control in
            control.stopping = true
            return (control.sending, control.attempting)
        }
        senderBell.finish()
        guard let sending else { return }
        if attempting {
            let grace = shutdownGrace
            Task {
                try? await Task.sleep(for: grace)
                sending.cancel()
            }
        } else {
            sending.cancel()
        }
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
            if state.withLockedValue({ $0.written(stored) }) { senderBell.ring() }
        }
    }

    private func sendLoop(sender: WebhookSender) async {
        var bell = senderBell.waiting()
        var random = SystemRandomNumberGenerator()
        while !Task.isCancelled {
            guard let head = state.withLockedValue({ $0.isClosed ? nil : $0.head }) else {
                if control.withLockedValue({ $0.stopping }) { return }
                guard await bell.next() != nil else { return }
                continue
            }
            let expires = head.acceptedAt.addingTimeInterval(deadline.seconds)
            var failures = 0
            var result: DeliveryResult?
            while result == nil {
                if Date() >= expires {
                    result = .failed
                    break
                }
                control.withLockedValue { $0.attempting = true }
                let outcome = await sender.send(head, to: url, at: Date())
                let stopping = control.withLockedValue { control in
                    control.attempting = false
                    return control.stopping
                }
                switch outcome {
                case .delivered:
                    result = .delivered
                case .rejected(let status):
                    logger.warning("webhook rejected; not sent again", metadata: ["id": "\(head.payload.id)", "status": "\(status)"])
                    result = .rejected
                case .retry(let reason):
                    if stopping || Task.isCancelled { return }
                    failures += 1
                    let delay = schedule.delay(afterFailures: failures, using: &random)
                    if Date().addingTimeInterval(delay.seconds) >= expires {
                        result = .failed
                        break
                    }
                    logger.debug("webhook attempt failed; retrying",
                                 metadata: ["id": "\(head.payload.id)", "reason": "\(reason)", "retry-in": "\(delay)"])
                    do {
                        try await Task.sleep(for: delay)
                    } catch {
                        return
                    }
                }
            }
            if result == .failed {
                logger.error("webhook not delivered before its deadline; given up",
                             metadata: ["id": "\(head.payload.id)", "attempts": "\(failures)"])
            }
            if state.withLockedValue({ $0.finishHead(result ?? .failed) }) { writerBell.ring() }
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
