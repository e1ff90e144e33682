import NIOCore

/// Runs Swift tasks on one NIO event loop. Signaling connections run their tasks here, on the same loop as their
/// sockets and the `SignalingHub`, so a frame crosses no thread between arriving and being fanned out: in the first
/// profile thread switches between the NIO loop and the cooperative pool dominated the cost per frame.
final class EventLoopTaskExecutor: TaskExecutor, @unchecked Sendable {
    let loop: any EventLoop

    init(loop: any EventLoop) { self.loop = loop }

    func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        loop.execute {
            job.runSynchronously(on: self.asUnownedTaskExecutor())
        }
    }
}
