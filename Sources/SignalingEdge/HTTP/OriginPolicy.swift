import Hummingbird
import HTTPTypes

/// Which web origins may use signaling and the HTTP API from a browser (`--allowed-origin`), and the CORS
/// answers that go with that.
///
/// A request without an `Origin` header does not come from a cross-origin page (curl, an app, or a same-origin GET),
/// and a page served by this server itself (its Origin names the host it asked) is always allowed. With no list
/// configured every origin is allowed, which is what "open" means for the HTTP side.
package struct OriginPolicy: Sendable {
    /// Normalised origins (`https://app.example.com`, default ports left out); empty: any origin.
    package let allowed: Set<String>

    package init(allowed: [String]) {
        self.allowed = Set(allowed.compactMap(Self.normalised))
    }

    /// Whether a request with `origin` (the header, if any) that asked for `host` (its Host header) may go on.
    func permits(origin: String?, host: String?) -> Bool {
        guard let origin else { return true }
        if allowed.isEmpty { return true }
        guard let normalised = Self.normalised(origin) else { return false }
        if allowed.contains(normalised) { return true }
        if let host, let authority = normalised.split(separator: "/").last, authority == host.lowercased() { return true }
        return false
    }

    /// `scheme://host[:port]` in lower case without a default port or a trailing slash, or nil when `text` is not
    /// an http(s) origin. Browsers send `null` for opaque origins: that is never an allowed one.
    public static func normalised(_ text: String) -> String? {
        var value = text.lowercased()
        if value.hasSuffix("/") { value.removeLast() }
        let scheme: String
        if value.hasPrefix("https://") {
            scheme = "https"
        } else if value.hasPrefix("http://") {
            scheme = "http"
        } else {
            return nil
        }
        var authority = String(value.dropFirst(scheme.count + 3))
        guard !authority.isEmpty, !authority.contains("/"), !authority.contains("@"), !authority.contains("?"),
              !authority.contains("#") else { return nil }
        let defaultPort = scheme == "https" ? ":443" : ":80"
        if authority.hasSuffix(defaultPort) { authority.removeLast(defaultPort.count) }
        let host = authority.hasPrefix("[") ? String(authority.prefix { $0 != "]" }.dropFirst())
                                            : String(authority.split(separator: ":", maxSplits: 1).first ?? "")
        let portPart = authority.hasPrefix("[") ? authority.drop { $0 != "]" }.dropFirst() : authority.drop { $0 != ":" }
        if !portPart.isEmpty {
            guard portPart.first == ":", let port = Int(portPart.dropFirst()), (1...65535).contains(port) else { return nil }
        }
        guard PublicHost.normalised(host) != nil else { return nil }
        return "\(scheme)://\(authority)"
    }
}

/// Refuses requests from origins the policy does not allow (403) and answers CORS for those it does, preflights
/// (`OPTIONS` with `Access-Control-Request-Method`) included, so an app on another origin can call the API.
struct OriginMiddleware<Context: RequestContext>: RouterMiddleware {
    let policy: OriginPolicy

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let origin = request.headers[.origin]
        guard policy.permits(origin: origin, host: request.head.authority) else {
            let refusal = HTTPRefusal.forbiddenOrigin
            return HTTPErrorBody.response(.forbidden, refusal.code, refusal.message)
        }
        guard let origin else { return try await next(request, context) }
        if request.method == .options, request.headers[.accessControlRequestMethod] != nil {
            var response = Response(status: .noContent)
            response.headers[.accessControlAllowMethods] = "GET, POST, DELETE, OPTIONS"
            response.headers[.accessControlAllowHeaders] = "Authorization, Content-Type"
            response.headers[.accessControlMaxAge] = "600"
            addCORS(to: &response, origin: origin)
            return response
        }
        var response = try await next(request, context)
        addCORS(to: &response, origin: origin)
        return response
    }

    private func addCORS(to response: inout Response, origin: String) {
        response.headers[.accessControlAllowOrigin] = policy.allowed.isEmpty ? "*" : origin
        if !policy.allowed.isEmpty { response.headers[.vary] = "Origin" }
    }
}
