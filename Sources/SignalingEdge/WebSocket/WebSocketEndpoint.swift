import Atomics
import Foundation
import Hummingbird
import HummingbirdWebSocket
import Logging
import NIOCore
import NIOWebSocket
import Signaling

/// `GET /v1/ws`: authenticates (token in the URL or the first frame), attaches the connection to a new or resumed
/// session, then pumps frames both ways until either side closes.
struct WebSocketEndpoint: Sendable {
    let hub: SignalingHub
    let verifier: SignalingTokenVerifier
    let limits: SignalingLimits
    static let authWait: Duration = .seconds(10)

    func handle(inbound: WebSocketInboundStream, outbound: WebSocketOutboundWriter,
                context: WebSocketRouterContext<SignalingRequestContext>) async throws {
        // The connection's task runs on the connection's own event loop, next to its socket.
        try await withTaskExecutorPreference(EventLoopTaskExecutor(loop: context.requestContext.channel.eventLoop)) {
            try await run(inbound: inbound, outbound: outbound, context: context)
        }
    }

    private func run(inbound: WebSocketInboundStream, outbound: WebSocketOutboundWriter,
                     context: WebSocketRouterContext<SignalingRequestContext>) async throws {
        let tap = await WebSocketFrameTap.install(on: context.requestContext.channel, maxMessageBytes: limits.maxFrameBytes * 2)
        let query = context.request.uri.queryParameters
        let host = ICEServerDirectory.reachedHost(context.requestContext.channel.localAddress)
        var messages = inbound.messages(maxSize: limits.maxFrameBytes * 2).makeAsyncIterator()

        // Authentication: the URL's token, or an `auth` frame first when a token is required and the URL has none.
        var token = query["token"].map(String.init)
        if token == nil, !verifier.isOpen {
            switch try await firstFrameToken(&messages, outbound: outbound) {
            case .success(let value): token = value
            case .failure(let reason): return try await close(outbound, reason)
            }
        }
        let identity: Identity?
        do {
            identity = try await verifier.verify(token)
        } catch {
            return try await close(outbound, error)
        }
        var resume: (token: String, last: UInt64)?
        if let resumeToken = query["resume"] {
            guard let last = query["last"].flatMap({ UInt64($0) }) else { return try await close(outbound, .resumeFailed) }
            resume = (String(resumeToken), last)
        }

        let (stream, continuation) = AsyncStream<OutgoingFrame>.makeStream(bufferingPolicy: .bufferingOldest(SignalingHub.writerQueueLimit))
        let channel = context.requestContext.channel
        // Frames the hub writes directly may queue up to 1 MiB before the client counts as too slow.
        try? await channel.setOption(.writeBufferWaterMark, value: .init(low: 256 * 1024, high: 1024 * 1024)).get()
        let attached = await hub.attachWebSocket(identity: identity, resume: resume, host: host,
                                                 writer: WebSocketFrameWriter(channel: channel, tap: tap),
                                                 continuation: continuation)
        guard case .success(let (session, connection)) = attached else {
            continuation.finish()
            return try await close(outbound, attached.failureValue!)
        }
        // From here the tap hands whole text frames to the hub on the event loop, skipping the async stream; the
        // marker tells the reader below when everything that went the old way has been handled.
        var marker: String?
        if let tap {
            let hub = self.hub
            let token = "switchboard-tap-" + RandomUser.make(bytes: 16)
            marker = token
            try? await channel.eventLoop.submit {
                tap.beginDirect(marker: token) { text in
                    hub.receiveOnLoop(text, session: session, connection: connection, from: channel.eventLoop)
                }
            }.get()
        }

        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask {
                // Closes decided by the hub; frames are written by the hub itself.
                for await item in stream {
                    switch item {
                    case .close(let reason):
                        try await outbound.close(.init(codeNumber: Int(reason.code)), reason: reason.reason)
                        return
                    }
                }
            }
            // Reader: until the client closes, the connection drops, or the hub closes the stream.
            var outcome: ReadOutcome = .dropped
            do {
                while let message = try await messages.next() {
                    switch message {
                    case .text(let text) where text == marker:
                        if let tap { channel.eventLoop.execute { tap.release() } }
                    case .text(let text):
                        hub.receiveOnLoop(text, session: session, connection: connection, from: channel.eventLoop)
                    case .binary:
                        outcome = .violation(.binaryFrame)
                    }
                    if case .violation = outcome { break }
                }
            } catch let error as IOError {
                context.logger.debug("signaling connection error", metadata: ["error": "\(error)"])
            } catch is ChannelError {
                // The connection is gone: resumable.
            } catch {
                // WebSocket protocol violations: the tap (or the library) already sent the close frame.
                outcome = .violation(tap?.violation ?? .protocolError("invalid message"))
            }
            if case .dropped = outcome, let violation = tap?.violation { outcome = .violation(violation) }
            switch outcome {
            case .dropped:
                await hub.disconnected(session: session, connection: connection, clean: tap?.sawCleanClose ?? false)
            case .violation(let reason):
                await hub.terminate(session: session, connection: connection, reason: reason)
            }
            continuation.finish()
            try await group.waitForAll()
        }
    }

    private enum ReadOutcome {
        case dropped
        case violation(SignalingCloseReason)
    }

    /// Waits for the `auth` frame; a client that sends nothing is closed after `authWait`.
    private func firstFrameToken(_ messages: inout WebSocketInboundMessageStream.AsyncIterator,
                                 outbound: WebSocketOutboundWriter) async throws -> Result<String, SignalingCloseReason> {
        let answered = ManagedAtomic(false)
        let timer = Task {
            try await Task.sleep(for: Self.authWait)
            if !answered.load(ordering: .relaxed) {
                try? await outbound.close(.init(codeNumber: Int(SignalingCloseReason.authRequired.code)),
                                          reason: SignalingCloseReason.authRequired.reason)
            }
        }
        defer { timer.cancel() }
        let first = try await messages.next()
        answered.store(true, ordering: .relaxed)
        guard case .text(let text)? = first,
              case .success(.auth(let token)) = ReceivedFrame.parse(text, limits: limits).frame else {
            return .failure(.authRequired)
        }
        return .success(token)
    }

    private func close(_ outbound: WebSocketOutboundWriter, _ reason: SignalingCloseReason) async throws {
        try await outbound.close(.init(codeNumber: Int(reason.code)), reason: reason.reason)
    }
}
