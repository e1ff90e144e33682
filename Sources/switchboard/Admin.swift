import ArgumentParser
import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix

/// `switchboard admin …`: the admin API from the command line (docs/admin-api.md).
struct Admin: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Talk to a running server's admin API (rooms, allocations, kick, revoke, drain, metrics).",
        discussion: """
            The token comes from --token or SWITCHBOARD_ADMIN_TOKEN (serve logs the one it generated when none was \
            configured). Prints the server's JSON (or the metrics text). Exit status: 0 on 2xx, 1 when the server \
            cannot be reached, 3 on any other answer.
            """,
        subcommands: [Rooms.self, Allocations.self, Kick.self, Revoke.self, Drain.self, Metrics.self])

    struct Connection: ParsableArguments {
        @Option(help: "Admin listener address.") var url: String = "http://127.0.0.1:8081"
        @Option(help: "Bearer token (default: $SWITCHBOARD_ADMIN_TOKEN).") var token: String?

        func call(_ method: HTTPMethod, _ path: String) async throws {
            guard let token = token ?? ProcessInfo.processInfo.environment["SWITCHBOARD_ADMIN_TOKEN"], !token.isEmpty else {
                throw ValidationError("give --token or set SWITCHBOARD_ADMIN_TOKEN")
            }
            guard let endpoint = URL(string: url), endpoint.scheme == "http", let host = endpoint.host else {
                throw ValidationError("--url must be http://HOST:PORT (the admin listener speaks plain HTTP on a private address)")
            }
            let port = endpoint.port ?? 80
            let response: AdminHTTPResponse
            do {
                response = try await AdminHTTPResponse.fetch(method, host: host, port: port, path: path, token: token)
            } catch {
                FileHandle.standardError.write(Data("switchboard admin: cannot reach \(host):\(port): \(error)\n".utf8))
                Foundation.exit(1)
            }
            print(response.body, terminator: response.body.hasSuffix("\n") ? "" : "\n")
            if !(200..<300).contains(response.status) {
                FileHandle.standardError.write(Data("switchboard admin: HTTP \(response.status)\n".utf8))
                Foundation.exit(3)
            }
        }
    }

    struct Rooms: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List rooms and their peers.")
        @OptionGroup var connection: Connection
        func run() async throws { try await connection.call(.GET, "/admin/rooms") }
    }

    struct Allocations: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List allocations with user, 5-tuple, age and traffic.")
        @OptionGroup var connection: Connection
        func run() async throws { try await connection.call(.GET, "/admin/allocations") }
    }

    struct Kick: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "End a peer's session (close 4011) and its allocations.")
        @Argument(help: "The peer's session id (as in /admin/rooms).") var peer: String
        @OptionGroup var connection: Connection
        func run() async throws { try await connection.call(.POST, "/admin/peers/\(Self.escape(peer))/kick") }

        static func escape(_ text: String) -> String {
            text.addingPercentEncoding(withAllowedCharacters: .urlPathAllowed.subtracting(CharacterSet(charactersIn: "/"))) ?? text
        }
    }

    struct Revoke: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "End a user's sessions and allocations; refuse their TURN credentials until they expire.")
        @Argument(help: "The user (JWT sub, or the USER of a REST username).") var user: String
        @OptionGroup var connection: Connection
        func run() async throws { try await connection.call(.POST, "/admin/users/\(Kick.escape(user))/revoke") }
    }

    struct Drain: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Refuse new sessions and allocations; serve the existing ones until they end.")
        @OptionGroup var connection: Connection
        func run() async throws { try await connection.call(.POST, "/admin/drain") }
    }

    struct Metrics: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Print the Prometheus metrics.")
        @OptionGroup var connection: Connection
        func run() async throws { try await connection.call(.GET, "/metrics") }
    }
}

/// One HTTP/1.1 request and its whole answer (bounded), over a fresh connection.
struct AdminHTTPResponse: Sendable {
    var status: Int
    var body: String

    static let maxBodyBytes = 16 << 20

    static func fetch(_ method: HTTPMethod, host: String, port: Int, path: String, token: String) async throws -> AdminHTTPResponse {
        let promise = MultiThreadedEventLoopGroup.singleton.next().makePromise(of: AdminHTTPResponse.self)
        let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .connectTimeout(.seconds(10))
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHTTPClientHandlers()
                    try channel.pipeline.syncOperations.addHandler(Collector(promise: promise))
                }
            }
            .connect(host: host, port: port).get()
        var head = HTTPRequestHead(version: .http1_1, method: method, uri: path)
        head.headers.add(name: "Host", value: "\(host):\(port)")
        head.headers.add(name: "Authorization", value: "Bearer \(token)")
        head.headers.add(name: "Content-Length", value: "0")
        head.headers.add(name: "Connection", value: "close")
        channel.write(HTTPClientRequestPart.head(head), promise: nil)
        try await channel.writeAndFlush(HTTPClientRequestPart.end(nil))
        let timeout = channel.eventLoop.scheduleTask(in: .seconds(30)) { promise.fail(ChannelError.connectTimeout(.seconds(30))) }
        defer {
            timeout.cancel()
            channel.close(promise: nil)
        }
        return try await promise.futureResult.get()
    }

    private final class Collector: ChannelInboundHandler {
        typealias InboundIn = HTTPClientResponsePart
        let promise: EventLoopPromise<AdminHTTPResponse>
        var status = 0
        var body = ByteBuffer()

        init(promise: EventLoopPromise<AdminHTTPResponse>) {
            self.promise = promise
        }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            switch unwrapInboundIn(data) {
            case .head(let head):
                status = Int(head.status.code)
            case .body(var part):
                if body.readableBytes + part.readableBytes <= AdminHTTPResponse.maxBodyBytes { body.writeBuffer(&part) }
            case .end:
                promise.succeed(AdminHTTPResponse(status: status, body: String(buffer: body)))
            }
        }

        func channelInactive(context: ChannelHandlerContext) {
            promise.fail(ChannelError.eof)
        }

        func errorCaught(context: ChannelHandlerContext, error: any Error) {
            promise.fail(error)
            context.close(promise: nil)
        }
    }
}
