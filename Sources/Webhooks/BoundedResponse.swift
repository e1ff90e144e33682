import AsyncHTTPClient
import NIOCore
import NIOHTTP1

/// Takes the status of a response and at most `limit` bytes of its body. A body past the bound fails the request
/// with `ResponseBodyBound`, which makes the client close the connection instead of draining the rest; the status
/// read before it still counts.
///
/// AsyncHTTPClient calls a delegate on the request's event loop only, so its state needs no lock.
final class BoundedResponse: HTTPClientResponseDelegate, @unchecked Sendable {
    typealias Response = UInt

    private let limit: Int
    private var read = 0
    /// The status, once the head is in; read on the request's event loop.
    private(set) var status: UInt?

    init(limit: Int) {
        self.limit = limit
    }

    func didReceiveHead(task: HTTPClient.Task<UInt>, _ head: HTTPResponseHead) -> EventLoopFuture<Void> {
        status = head.status.code
        return task.eventLoop.makeSucceededVoidFuture()
    }

    func didReceiveBodyPart(task: HTTPClient.Task<UInt>, _ buffer: ByteBuffer) -> EventLoopFuture<Void> {
        read += buffer.readableBytes
        guard read <= limit else { return task.eventLoop.makeFailedFuture(ResponseBodyBound()) }
        return task.eventLoop.makeSucceededVoidFuture()
    }

    func didFinishRequest(task: HTTPClient.Task<UInt>) throws -> UInt {
        status ?? 0
    }
}

/// A response body went past the bound: not a failure of the receiver's answer.
struct ResponseBodyBound: Error {}
