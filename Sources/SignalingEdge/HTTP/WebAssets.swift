import Foundation
import Hummingbird

/// The demo page and the JavaScript client, read once from the package's resources.
struct WebAssets: Sendable {
    struct Asset: Sendable {
        var contentType: String
        var body: ByteBuffer
    }

    private var assets: [String: Asset] = [:]

    static let files: [(path: String, file: String, type: String)] = [
        ("/", "index.html", "text/html; charset=utf-8"),
        ("/index.html", "index.html", "text/html; charset=utf-8"),
        ("/switchboard.js", "switchboard.js", "text/javascript; charset=utf-8"),
        ("/demo.js", "demo.js", "text/javascript; charset=utf-8"),
    ]

    /// Looks for the resource bundle next to the executable (where SwiftPM puts it) without `Bundle.module`,
    /// which would trap when the bundle is missing; a missing page then answers 404 rather than crashing.
    init() {
        guard let directory = Self.resourceDirectory() else { return }
        for (path, file, type) in Self.files {
            if let data = FileManager.default.contents(atPath: directory + "/" + file) {
                assets[path] = Asset(contentType: type, body: ByteBuffer(bytes: data))
            }
        }
    }

    func asset(for path: String) -> Asset? { assets[path] }

    private static func resourceDirectory() -> String? {
        let executable = URL(fileURLWithPath: CommandLine.arguments.first ?? "").resolvingSymlinksInPath().deletingLastPathComponent()
        let candidates = [
            executable.appendingPathComponent("Switchboard_SignalingEdge.resources/web").path,
            Bundle.main.bundleURL.appendingPathComponent("Switchboard_SignalingEdge.resources/web").path,
            executable.appendingPathComponent("../share/switchboard/web").standardized.path,
        ]
        return candidates.first { FileManager.default.fileExists(atPath: $0 + "/index.html") }
    }

    func add(to router: Router<SignalingRequestContext>) {
        for (path, _, _) in Self.files {
            let respond: @Sendable (Request, SignalingRequestContext) async throws -> Response = { request, _ in
                guard let asset = self.asset(for: path) else {
                    return HTTPErrorBody.response(.notFound, "not-found", "web assets are not installed next to the binary")
                }
                return Response(status: .ok,
                                headers: [.contentType: asset.contentType, .cacheControl: "no-cache",
                                          .contentLength: String(asset.body.readableBytes)],
                                body: request.method == .head ? .init() : .init(byteBuffer: asset.body))
            }
            router.get(RouterPath(stringLiteral: path), use: respond)
            router.head(RouterPath(stringLiteral: path), use: respond)
        }
    }
}
