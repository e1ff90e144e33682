import Foundation
import Hummingbird
import NIOCore
import Signaling

/// The long-polling transport: the same frames as the WebSocket, over plain HTTP requests.
struct LongPollRoutes: Sendable {
    let hub: SignalingHub

    /// `authenticated` is the router behind `TokenAuthMiddleware`: opening a session needs the token, the poll id
    /// it hands out is the capability for the rest.
    func add(to router: Router<SignalingRequestContext>, authenticated: RouterGroup<SignalingRequestContext>) {
        authenticated.post("/v1/poll/session") { request, context in try await open(request, context) }
        router.get("/v1/poll/:poll") { request, context in try await poll(request, context) }
        router.post("/v1/poll/:poll") { request, context in try await send(request, context) }
        router.delete("/v1/poll/:poll") { request, context in
            let id = try context.parameters.require("poll")
            return await hub.pollClose(id) ? Response(status: .noContent) : HTTPErrorBody.response(.notFound, "unknown-poll", "no such poll id")
        }
    }

    private func open(_ request: Request, _ context: SignalingRequestContext) async throws -> Response {
        var request = request
        guard let body = try await request.collectBody(atMost: TokenAuthMiddleware.maxBodyBytes) else {
            return HTTPErrorBody.tooLarge(TokenAuthMiddleware.maxBodyBytes)
        }
        var fields: [String: JSONValue] = [:]
        if body.readableBytes > 0 {
            guard case .object(let object)? = try? JSONParser.parse(String(buffer: body)) else {
                return HTTPErrorBody.response(.badRequest, "bad-request", "body must be a JSON object")
            }
            fields = object
        }
        let identity = context.identity
        var resume: (token: String, last: UInt64)?
        if let resumeToken = fields["resume"]?.stringValue {
            guard let last = fields["last"]?.numberValue, last >= 0, last < 9e15 else {
                return HTTPErrorBody.response(.badRequest, "bad-request", "resume needs last (the last seq processed)")
            }
            resume = (resumeToken, UInt64(last))
        }
        switch await hub.openPoll(identity: identity, resume: resume, host: ICEServerDirectory.reachedHost(context.channel.localAddress),
                                  from: context.channel.remoteAddress) {
        case .success(let (session, pollID)):
            return try JSONResponse.make(.ok, ["session": .string(session), "poll": .string(pollID)])
        case .failure(let reason):
            // Draining is not the end of anything: the client should go to another node (503), not give up (410);
            // nor is an address at its bound (429): its other sessions may end.
            let status: HTTPResponse.Status = reason == .draining ? .serviceUnavailable : reason == .tooManyFromAddress ? .tooManyRequests : .gone
            return try JSONResponse.make(status,
                                         ["code": .number(Double(reason.code)), "reason": .string(reason.reason)])
        }
    }

    private func poll(_ request: Request, _ context: SignalingRequestContext) async throws -> Response {
        let id = try context.parameters.require("poll")
        switch await hub.poll(id) {
        case .frames(let frames):
            return Response(status: .ok, headers: [.contentType: "application/json", .cacheControl: "no-store"],
                            body: .init(byteBuffer: ByteBuffer(string: "[" + frames.joined(separator: ",") + "]")))
        case .gone(let reason):
            return try JSONResponse.make(.gone, ["code": .number(Double(reason.code)), "reason": .string(reason.reason)])
        case .unknown:
            return HTTPErrorBody.response(.notFound, "unknown-poll", "no such poll id")
        }
    }

    private func send(_ request: Request, _ context: SignalingRequestContext) async throws -> Response {
        let id = try context.parameters.require("poll")
        var request = request
        let body: ByteBuffer
        do {
            body = try await request.collectBody(upTo: context.maxUploadSize)
        } catch {
            return HTTPErrorBody.response(.contentTooLarge, "too-large", "at most \(context.maxUploadSize) bytes per request")
        }
        // Each element is handed to the core as its own text frame, so the rules are exactly the WebSocket's.
        let texts: [String]
        switch try? JSONParser.parse(String(buffer: body)) {
        case .array(let elements)?:
            guard elements.count <= 256 else { return HTTPErrorBody.response(.badRequest, "bad-request", "at most 256 frames per request") }
            texts = elements.map { $0.serialised }
        case .object?:
            texts = [String(buffer: body)]
        default:
            return HTTPErrorBody.response(.badRequest, "bad-request", "body must be a JSON array of frames or one frame")
        }
        switch await hub.pollSend(id, frames: texts) {
        case .frames: return Response(status: .noContent)
        case .gone(let reason): return try JSONResponse.make(.gone, ["code": .number(Double(reason.code)), "reason": .string(reason.reason)])
        case .unknown: return HTTPErrorBody.response(.notFound, "unknown-poll", "no such poll id")
        }
    }
}

/// A token from `?token=` or `Authorization: Bearer`.
enum HTTPRequestToken {
    static func find(_ request: Request) -> String? {
        if let token = request.uri.queryParameters["token"] { return String(token) }
        if let header = request.headers[.authorization], header.hasPrefix("Bearer ") { return String(header.dropFirst(7)) }
        return nil
    }
}

/// JSON error bodies for HTTP: `{"error":"code","message":"…"}`.
enum HTTPErrorBody {
    static func response(_ status: HTTPResponse.Status, _ code: String, _ message: String) -> Response {
        (try? JSONResponse.make(status, ["error": .string(code), "message": .string(message)])) ?? Response(status: status)
    }
}

extension HTTPErrorBody {
    /// `413` for a body longer than `limit` bytes.
    static func tooLarge(_ limit: Int) -> Response {
        response(.contentTooLarge, "too-large", "at most \(limit) bytes")
    }
}

extension Request {
    /// The body when it is at most `limit` bytes long; nil when it is longer (answer `HTTPErrorBody.tooLarge`).
    mutating func collectBody(atMost limit: Int) async throws -> ByteBuffer? {
        do {
            return try await collectBody(upTo: limit)
        } catch is NIOTooManyBytesError {
            return nil
        }
    }
}

enum JSONResponse {
    static func make(_ status: HTTPResponse.Status, _ object: [String: JSONValue]) throws -> Response {
        Response(status: status, headers: [.contentType: "application/json", .cacheControl: "no-store"],
                 body: .init(byteBuffer: ByteBuffer(string: JSONValue.object(object).serialised)))
    }
}
