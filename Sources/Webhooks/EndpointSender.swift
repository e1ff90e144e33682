import AsyncHTTPClient
import Foundation
import Logging
import NIOConcurrencyHelpers
import NIOCore

/// Sends one endpoint's queue, head first, one request at a time, on one event loop.
///
/// Everything here runs on `loop`: the response of one request starts the next without leaving the loop, which
/// doubled the rate against awaiting each request from a task (Benchmarks/WebhookThroughput `--futures`). Retries
/// wait on a loop timer. Other threads only `wake()` and `stop()` it.
final class EndpointSender: @unchecked Sendable {
    private let loop: any EventLoop
    private let url: URL
    private let queue: NIOLockedValueBox<EndpointQueue>
    private let sender: WebhookSender
    private let schedule: RetrySchedule
    private let deadline: TimeInterval
    private let logger: Logger
    /// Called when the writer should record what was finished.
    private let finished: @Sendable () -> Void
    private let done: EventLoopPromise<Void>
    private var random = SystemRandomNumberGenerator()

    private enum Phase {
        case idle
        case attempting(HTTPClient.Task<UInt>?)
        case waitingToRetry(Scheduled<Void>)
        case stopped
    }

    private var phase = Phase.idle
    private var stopping = false
    /// Failed attempts of the current head.
    private var failures = 0

    init(loop: any EventLoop, url: URL, queue: NIOLockedValueBox<EndpointQueue>, sender: WebhookSender, settings: WebhookSettings,
         logger: Logger, finished: @escaping @Sendable () -> Void) {
        self.loop = loop
        self.url = url
        self.queue = queue
        self.sender = sender
        self.schedule = RetrySchedule(first: settings.firstRetryDelay, cap: settings.maxRetryDelay)
        self.deadline = settings.deadline.seconds
        self.logger = logger
        self.finished = finished
        self.done = loop.makePromise()
    }

    /// Succeeds once `stop()` has taken effect and no request is out.
    var stopped: EventLoopFuture<Void> { done.futureResult }

    /// New events are ready; starts sending if idle.
    func wake() {
        loop.execute {
            guard case .idle = self.phase, !self.stopping else { return }
            self.sendHead()
        }
    }

    /// Sends nothing more: at once when idle or waiting to retry; a request that is out gets `grace`, then is cut
    /// off. Its event stays queued.
    func stop(grace: Duration) {
        loop.execute {
            self.stopping = true
            switch self.phase {
            case .idle, .stopped:
                self.finish()
            case .waitingToRetry(let timer):
                timer.cancel()
                self.finish()
            case .attempting(let task):
                self.loop.scheduleTask(in: TimeAmount(grace)) { task?.cancel() }
            }
        }
    }

    private func finish() {
        phase = .stopped
        done.succeed()
    }

    /// Sends the head, or fails every head already past its deadline on the way to one that is not.
    private func sendHead() {
        loop.preconditionInEventLoop()
        while let head = queue.withLockedValue({ $0.isClosed ? nil : $0.head }) {
            if Date() < expiry(of: head) {
                attempt(head)
                return
            }
            giveUp(head)
        }
        if stopping { finish() } else { phase = .idle }
    }

    private func attempt(_ head: StoredEvent) {
        let (task, outcome) = sender.start(head, to: url, at: Date(), on: loop)
        phase = .attempting(task)
        outcome.whenSuccess { self.attemptEnded(head, $0) }
    }

    private func attemptEnded(_ head: StoredEvent, _ outcome: AttemptOutcome) {
        switch outcome {
        case .delivered:
            leave(.delivered)
        case .rejected(let status):
            logger.warning("webhook rejected; not sent again", metadata: ["id": "\(head.payload.id)", "status": "\(status)"])
            leave(.rejected)
        case .retry(let reason):
            if stopping { return finish() }
            failures += 1
            let delay = schedule.delay(afterFailures: failures, using: &random)
            guard Date().addingTimeInterval(delay.seconds) < expiry(of: head) else {
                giveUp(head)
                return sendHead()
            }
            logger.debug("webhook attempt failed; retrying",
                         metadata: ["id": "\(head.payload.id)", "reason": "\(reason)", "retry-in": "\(delay)"])
            phase = .waitingToRetry(loop.scheduleTask(in: TimeAmount(delay)) { self.attempt(head) })
            return
        }
        if stopping { return finish() }
        sendHead()
    }

    private func giveUp(_ head: StoredEvent) {
        logger.error("webhook not delivered before its deadline; given up", metadata: ["id": "\(head.payload.id)", "attempts": "\(failures)"])
        leave(.failed)
    }

    /// The head leaves the queue.
    private func leave(_ result: DeliveryResult) {
        failures = 0
        if queue.withLockedValue({ $0.finishHead(result) }) { finished() }
    }

    private func expiry(of event: StoredEvent) -> Date {
        event.acceptedAt.addingTimeInterval(deadline)
    }
}
