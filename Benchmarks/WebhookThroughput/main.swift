// Webhook delivery rate through the on-disk queue to a loopback receiver.
//
//   swift build -c release --product WebhookThroughput && .build/release/WebhookThroughput [EVENTS] [QUEUE-DIR]
//
// Submits EVENTS events at once (the queue bound is raised to hold them all), then waits until the receiver has
// answered every one, and prints events/s. The queue directory (default: a new one under the temporary directory,
// removed afterwards) decides which disk the fsyncs go to. Loopback only; it stops by itself.
import AsyncHTTPClient
import Foundation
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOHTTP1
import NIOPosix
import Webhooks

final class CountingReceiver: ChannelInboundHandler, Sendable {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart
    let count = NIOLockedValueBox(0)

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard case .end = unwrapInboundIn(data) else { return }
        count.withLockedValue { $0 += 1 }
        context.write(wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: .noContent,
                                                             headers: ["Content-Length": "0"]))), promise: nil)
        context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
    }
}

var arguments = Array(CommandLine.arguments.dropFirst())
// --bare: the same POSTs, one at a time, straight through AsyncHTTPClient with no queue: the ceiling for the rest.
// --futures: the same again through AsyncHTTPClient's EventLoopFuture API, each request chained to the last on one
// event loop, with no Swift concurrency in the path: how much of the round trip is thread hops.
let bare = arguments.first == "--bare"
let futures = arguments.first == "--futures"
if bare || futures { arguments.removeFirst() }
let events = arguments.first.flatMap { Int($0) } ?? 20_000
let temporary = arguments.count < 2
let queueDirectory = arguments.count >= 2 ? URL(fileURLWithPath: arguments[1])
    : FileManager.default.temporaryDirectory.appendingPathComponent("webhook-throughput-\(UUID().uuidString)")
defer { if temporary { try? FileManager.default.removeItem(at: queueDirectory) } }

let receiver = CountingReceiver()
// The receiver has a thread of its own, as it would in its own process: on the sender's shared group it landed on
// the sending loop in some runs and not in others, and the rate followed where it landed.
let receiverGroup = MultiThreadedEventLoopGroup(numberOfThreads: 1)
let server = try await ServerBootstrap(group: receiverGroup)
    .childChannelInitializer { channel in
        channel.pipeline.configureHTTPServerPipeline().flatMap { channel.pipeline.addHandler(receiver) }
    }
    .bind(host: "127.0.0.1", port: 0).get()
let url = URL(string: "http://127.0.0.1:\(server.localAddress!.port!)/hooks")!

if futures {
    let group = MultiThreadedEventLoopGroup.singleton
    let client = HTTPClient(eventLoopGroup: group)
    let loop = group.next()
    let start = ContinuousClock.now
    let done = loop.makePromise(of: Void.self)
    let remaining = NIOLockedValueBox(events)
    @Sendable func next() {
        guard remaining.withLockedValue({ $0 -= 1; return $0 }) >= 0 else { return done.succeed() }
        var request = try! HTTPClient.Request(url: url.absoluteString, method: .POST)
        request.body = .string(#"{"id":"evt_0123456789abcdef0123456789abcdef","peer":"session-1","room":"room-1","type":"peer.joined"}"#)
        client.execute(request: request, eventLoop: .delegate(on: loop)).whenComplete { _ in next() }
    }
    loop.execute { next() }
    try await done.futureResult.get()
    let elapsed = ContinuousClock.now - start
    let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
    print("AsyncHTTPClient futures, chained on one event loop: \(events) requests in \(String(format: "%.2f", seconds)) s: \(Int(Double(events) / seconds)) requests/s")
    try await client.shutdown().get()
    try await server.close().get()
    exit(0)
}

if bare {
    let client = HTTPClient(eventLoopGroup: MultiThreadedEventLoopGroup.singleton)
    let body = ByteBuffer(string: #"{"id":"evt_0123456789abcdef0123456789abcdef","peer":"session-1","room":"room-1","type":"peer.joined"}"#)
    let start = ContinuousClock.now
    for _ in 0..<events {
        var request = HTTPClientRequest(url: url.absoluteString)
        request.method = .POST
        request.body = .bytes(body)
        let response = try await client.execute(request, timeout: .seconds(10))
        for try await _ in response.body {}
    }
    let elapsed = ContinuousClock.now - start
    let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
    print("bare AsyncHTTPClient, one request at a time: \(events) requests in \(String(format: "%.2f", seconds)) s: \(Int(Double(events) / seconds)) requests/s")
    try await client.shutdown().get()
    try await server.close().get()
    exit(0)
}

var settings = WebhookSettings(urls: [url], secrets: ["benchmark-secret"], queueDirectory: queueDirectory)
settings.queueLimit = events
var logger = Logger(label: "webhook-throughput")
logger.logLevel = .warning
let dispatcher = try WebhookDispatcher(settings: settings, logger: logger)
let running = Task { try await dispatcher.run() }

let start = ContinuousClock.now
var accepted = 0
for n in 0..<events {
    let event = WebhookEvent(type: "peer.joined", timestamp: Date(),
                             fields: ["room": .string("room-\(n % 100)"), "peer": .string("session-\(n)"), "user": "bench"])
    if dispatcher.submit(event) { accepted += 1 }
}
let submitted = ContinuousClock.now - start
while dispatcher.statistics.delivered < accepted, ContinuousClock.now - start < .seconds(300) {
    try await Task.sleep(for: .milliseconds(5))
}
let elapsed = ContinuousClock.now - start
let delivered = dispatcher.statistics.delivered
let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
print("webhook-throughput: \(delivered)/\(events) events delivered in \(String(format: "%.2f", seconds)) s "
      + "(submitted in \(submitted)): \(Int(Double(delivered) / seconds)) events/s; receiver saw \(receiver.count.withLockedValue { $0 }) requests")
dispatcher.shutdown()
try await running.value
try await server.close().get()
