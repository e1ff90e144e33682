/// A wake-up call between tasks: rings coalesce (a sleeper wakes once however often it was rung), and a ring
/// before anyone waits is kept. `finish()` ends the waiting for good.
struct Bell: Sendable {
    private let stream: AsyncStream<Void>
    private let continuation: AsyncStream<Void>.Continuation

    init() {
        (stream, continuation) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
    }

    func ring() { continuation.yield(()) }
    func finish() { continuation.finish() }

    /// The one waiter's iterator: `next()` returns nil once the bell is finished.
    func waiting() -> AsyncStream<Void>.Iterator { stream.makeAsyncIterator() }
}
