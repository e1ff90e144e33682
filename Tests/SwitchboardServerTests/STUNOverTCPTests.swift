import NIOCore
import NIOPosix
import STUN
import EdgeSupport
import SwitchboardApp
import XCTest

final class STUNOverTCPTests: XCTestCase {
    /// Opens a TCP connection, writes `bytes`, and reads until `count` bytes arrived or the peer closed.
    /// A server that refuses a connection may close it before the write lands: that too counts as closed.
    private func exchange(_ bytes: [UInt8], with server: TransportAddress, expecting count: Int) async throws -> ([UInt8], closed: Bool) {
        let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .connect(to: server.socketAddress) { channel in
                channel.eventLoop.makeCompletedFuture { try NIOAsyncChannel<ByteBuffer, ByteBuffer>(wrappingChannelSynchronously: channel) }
            }
        return try await channel.executeThenClose { inbound, outbound in
            var received: [UInt8] = []
            do {
                try await outbound.write(ByteBuffer(bytes: bytes))
                for try await chunk in inbound {
                    received += chunk.readableBytesView
                    if received.count >= count { return (received, false) }
                }
            } catch let error as ChannelError where error == .ioOnClosedChannel || error == .outputClosed {
                return (received, true)
            } catch let error as IOError where error.errnoCode == ECONNRESET || error.errnoCode == EPIPE {
                return (received, true)
            }
            return (received, true)
        }
    }

    func testTwoRequestsInOneSegmentAndOneSplitAcrossWritesAreFramedByLength() async throws {
        let server = try await running()
        let first = STUNMessage(type: .bindingRequest)
        let second = STUNMessage(type: .bindingRequest, attributes: [.software("split")])
        let bytes = Array(first.encoded().readableBytesView) + Array(second.encoded().readableBytesView)
        let reply = try await exchange(bytes, with: server.address("stun tcp"), expecting: 2)
        var buffer = ByteBuffer(bytes: reply.0)
        var responses: [STUNMessage] = []
        while let length = STUNMessage.framedLength(of: buffer), let slice = buffer.readSlice(length: length) {
            responses.append(try STUNMessage(decoding: slice))
            if buffer.readableBytes == 0 { break }
        }
        XCTAssertGreaterThanOrEqual(responses.count, 1)
        XCTAssertEqual(responses.first?.transactionID, first.transactionID)
        XCTAssertEqual(responses.first?.type, .bindingSuccess)
        XCTAssertNotNil(responses.first?.xorMappedAddress)
        try await server.stop()
    }

    func testChangeRequestOverTCPGets400() async throws {
        let server = try await running()
        let request = STUNMessage(type: .bindingRequest, attributes: [.changeRequest(.changePort)])
        let reply = try await exchange(Array(request.encoded().readableBytesView), with: server.address("stun tcp"), expecting: 20)
        let length = try XCTUnwrap(STUNMessage.framedLength(of: ByteBuffer(bytes: reply.0)))
        let message = try STUNMessage(decoding: ByteBuffer(bytes: reply.0.prefix(length)))
        XCTAssertEqual(message.errorCode?.code, 400)
        try await server.stop()
    }

    func testNonSTUNBytesCloseTheConnection() async throws {
        let server = try await running()
        let reply = try await exchange(Array("GET / HTTP/1.1\r\n\r\n".utf8), with: server.address("stun tcp"), expecting: 1)
        XCTAssertTrue(reply.closed)
        XCTAssertTrue(reply.0.isEmpty)
        try await server.stop()
    }

    func testConnectionsBeyondTheLimitAreRefused() async throws {
        let server = try await running { $0.maxTCPConnections = 1 }
        let holder = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .connect(to: server.address("stun tcp").socketAddress).get()
        // Wait until the server has counted the first connection.
        for _ in 0..<100 where (try await server.service.inspect().stun.tcpConnections) < 1 {
            try await Task.sleep(for: .milliseconds(10))
        }
        let reply = try await exchange(Array(STUNMessage(type: .bindingRequest).encoded().readableBytesView),
                                       with: server.address("stun tcp"), expecting: 20)
        XCTAssertTrue(reply.closed)
        let refused = try await server.service.inspect().stun.tcpRefused
        XCTAssertEqual(refused, 1)
        try await holder.close()
        try await server.stop()
    }
}
