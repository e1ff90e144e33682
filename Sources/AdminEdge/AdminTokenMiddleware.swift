import Hummingbird
import HTTPTypes

/// Every admin route needs `Authorization: Bearer TOKEN`. The comparison takes the same time wherever the first
/// difference is, so the token cannot be guessed byte by byte from response times.
struct AdminTokenMiddleware<Context: RequestContext>: RouterMiddleware {
    let token: [UInt8]

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        guard let header = request.headers[.authorization], header.hasPrefix("Bearer "),
              Self.equalInConstantTime(Array(header.utf8.dropFirst(7)), token) else {
            var response = AdminJSON.error(.unauthorized, "unauthorized", "a bearer token is required (Authorization: Bearer …)")
            response.headers[.wwwAuthenticate] = "Bearer realm=\"switchboard-admin\""
            return response
        }
        return try await next(request, context)
    }

    static func equalInConstantTime(_ a: [UInt8], _ b: [UInt8]) -> Bool {
        // Lengths differ: still walk the expected token so the time does not tell how long it is.
        var difference = UInt8(a.count == b.count ? 0 : 1)
        for index in b.indices {
            difference |= b[index] ^ (index < a.count ? a[index] : 0)
        }
        return difference == 0
    }
}
