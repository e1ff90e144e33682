import Hummingbird
import Signaling

/// Verifies the signaling token once, before the routes that need an identity (`/v1/ice-servers`,
/// `POST /v1/poll/session`), and leaves the result in `context.identity`; a refused token is answered 401 here
/// and never reaches a route. The WebSocket checks the same verifier at its handshake (`WebSocketConnection`).
///
/// The token is looked for in `?token=`, `Authorization: Bearer` and, for a JSON body, its `token` field.
struct TokenAuthMiddleware: RouterMiddleware {
    typealias Context = SignalingRequestContext

    let verifier: SignalingTokenVerifier
    /// Bodies are read only this far to look for a token; the route reads the same collected body again.
    static let maxBodyBytes = 16 * 1024

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        var request = request
        var context = context
        var token = HTTPRequestToken.find(request)
        if token == nil, request.method == .post, !verifier.isOpen {
            guard let body = try await request.collectBody(atMost: Self.maxBodyBytes) else {
                return HTTPErrorBody.tooLarge(Self.maxBodyBytes)
            }
            if body.readableBytes > 0, case .object(let fields)? = try? JSONParser.parse(String(buffer: body)) {
                token = fields["token"]?.stringValue
            }
        }
        do {
            context.identity = try await verifier.verify(token)
        } catch {
            return HTTPErrorBody.response(.unauthorized, error.reason, "token refused (close code \(error.code))")
        }
        return try await next(request, context)
    }
}
