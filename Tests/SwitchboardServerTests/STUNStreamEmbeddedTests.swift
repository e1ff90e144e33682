import NIOCore
import NIOEmbedded
import STUN
import TURN
import XCTest
@testable import EdgeSupport
@testable import RelayEdge

/// The STUN stream pipeline (`STUNStreamFramer` + `STUNStreamHandler`) driven on an `EmbeddedChannel`: no sockets,
/// every read boundary chosen by the test.
final class STUNStreamEmbeddedTests: XCTestCase {
    private let server = TransportAddress(ip: .v4(0x7F00_0001), port: 3478)
    private let client = TransportAddress(ip: .v4(0xC000_0207), port: 50123)  // 192.0.2.7

    // MARK: Framer

    /// A Binding request, a ChannelData message of 5 bytes (3 bytes of padding on a stream), and an Allocate request.
    private func threeUnits() -> [[UInt8]] {
        let first = STUNMessage(type: .bindingRequest, attributes: [.software("split")]).encoded()
        var channelData = ByteBuffer()
        ChannelData.write(channel: 0x4001, data: ByteBuffer(bytes: [1, 2, 3, 4, 5]), stream: true, into: &channelData)
        let third = STUNMessage(type: STUNMessageType(method: .allocate, messageClass: .request),
                                attributes: [.requestedTransport(17)]).encoded()
        return [Array(first.readableBytesView), Array(channelData.readableBytesView), Array(third.readableBytesView)]
    }

    /// A STUN header declaring `length`, with a transaction id of sevens, then `body` bytes of sevens.
    private func stunHeader(type: UInt16, declaring length: UInt16, body: Int = 0) -> ByteBuffer {
        var bytes = ByteBuffer()
        bytes.writeInteger(type)
        bytes.writeInteger(length)
        bytes.writeInteger(STUNMessage.magicCookie)
        bytes.writeRepeatingByte(7, count: 12 + body)
        return bytes
    }

    private func framer() -> EmbeddedChannel {
        let channel = EmbeddedChannel(handler: ByteToMessageHandler(STUNStreamFramer()))
        channel.connect(to: client.socketAddress, promise: nil)
        return channel
    }

    private func framed(_ channel: EmbeddedChannel) throws -> [[UInt8]] {
        var units: [[UInt8]] = []
        while let unit = try channel.readInbound(as: ByteBuffer.self) { units.append(Array(unit.readableBytesView)) }
        return units
    }

    func testFramerCutsSTUNAndPaddedChannelDataSplitAtEveryByteBoundary() throws {
        let units = threeUnits()
        XCTAssertEqual(units[1].count, 12, "4 header + 5 data + 3 padding")
        let stream = units.flatMap { $0 }
        let ends = units.reduce(into: [Int]()) { $0.append(($0.last ?? 0) + $1.count) }
        for split in 1..<stream.count {
            let channel = framer()
            try channel.writeInbound(ByteBuffer(bytes: stream[..<split]))
            let complete = ends.filter { $0 <= split }.count
            XCTAssertEqual(try framed(channel), Array(units.prefix(complete)), "first read of \(split) bytes")
            try channel.writeInbound(ByteBuffer(bytes: stream[split...]))
            XCTAssertEqual(try framed(channel), Array(units.dropFirst(complete)), "second read after \(split) bytes")
            XCTAssertTrue(channel.isActive)
            _ = try channel.finish()
        }
    }

    func testFramerCutsMessagesFedOneByteAtATime() throws {
        let units = threeUnits()
        let channel = framer()
        var seen: [[UInt8]] = []
        for byte in units.flatMap({ $0 }) {
            try channel.writeInbound(ByteBuffer(bytes: [byte]))
            seen += try framed(channel)
        }
        XCTAssertEqual(seen, units)
        _ = try channel.finish()
    }

    func testFramerCutsSeveralMessagesInOneRead() throws {
        let units = threeUnits()
        let channel = framer()
        try channel.writeInbound(ByteBuffer(bytes: (units + units).flatMap { $0 }))
        XCTAssertEqual(try framed(channel), units + units)
        _ = try channel.finish()
    }

    /// The length field is 16 bits, so the most a message can claim is 20 + 65,535 bytes; the framer waits for all
    /// of it (with no limit of its own: the idle timeout ends a connection that never sends the rest).
    func testFramerHoldsAMessageDeclaredLongerThanItsBytesUntilTheRestArrives() throws {
        let channel = framer()
        try channel.writeInbound(stunHeader(type: 0x0001, declaring: 0xFFFC))
        try channel.writeInbound(ByteBuffer(repeating: 0, count: 0xFFFC - 1))
        XCTAssertEqual(try framed(channel), [])
        XCTAssertTrue(channel.isActive)
        try channel.writeInbound(ByteBuffer(bytes: [0]))
        XCTAssertEqual(try framed(channel).map(\.count), [20 + 0xFFFC])
        _ = try channel.finish()
    }

    /// The framer trusts the header's length; a length that is not a multiple of 4 is left to the decoder to refuse.
    func testFramerCutsByDeclaredLengthEvenWhenItIsNotAMultipleOfFour() throws {
        let channel = framer()
        try channel.writeInbound(stunHeader(type: 0x0001, declaring: 3, body: 3))
        XCTAssertEqual(try framed(channel).map(\.count), [23])
        _ = try channel.finish()
    }

    func testFramerRejectsTextAsFirstBytes() throws {
        let channel = framer()
        XCTAssertThrowsError(try channel.writeInbound(ByteBuffer(string: "GET / HTTP/1.1\r\n\r\n"))) {
            XCTAssertTrue($0 is STUNStreamFramer.NotSTUN, "\($0)")
        }
        XCTAssertEqual(try framed(channel), [])
    }

    func testFramerRejectsChannelDataBeforeAnySTUNMessage() throws {
        let channel = framer()
        XCTAssertThrowsError(try channel.writeInbound(ByteBuffer(bytes: threeUnits()[1]))) {
            XCTAssertTrue($0 is STUNStreamFramer.NotSTUN, "\($0)")
        }
    }

    func testFramerRejectsAFirstByteWithTheTopBitSetAfterSTUN() throws {
        let channel = framer()
        try channel.writeInbound(ByteBuffer(bytes: threeUnits()[0]))
        XCTAssertEqual(try framed(channel).count, 1)
        XCTAssertThrowsError(try channel.writeInbound(ByteBuffer(bytes: [0x80, 0, 0, 4, 1, 2, 3, 4]))) {
            XCTAssertTrue($0 is STUNStreamFramer.NotSTUN, "\($0)")
        }
    }

    // MARK: Stream handler

    private func connection(transport: ClientTransport = .tcp, counters: STUNCounters = STUNCounters(),
                            connections: ConnectionLimiter = ConnectionLimiter(maxTotal: 8, maxPerAddress: 8)) throws -> EmbeddedChannel {
        let channel = EmbeddedChannel()
        channel.localAddress = server.socketAddress
        let responder = BindingResponder(addresses: ResponderAddresses(primary: server))
        try channel.pipeline.syncOperations.addHandlers([
            ByteToMessageHandler(STUNStreamFramer()),
            STUNStreamHandler(responder: responder, counters: counters, connections: connections, turn: nil, challenger: nil,
                              transport: transport),
        ])
        channel.connect(to: client.socketAddress, promise: nil)
        // SwiftNIO's read settings for an accepted socket, which StreamReadThrottle saves and restores (an
        // EmbeddedChannel stops the process when asked for an option it was never given).
        try channel.syncOptions?.setOption(ChannelOptions.maxMessagesPerRead, value: 4)
        try channel.syncOptions?.setOption(ChannelOptions.recvAllocator, value: AdaptiveRecvByteBufferAllocator())
        return channel
    }

    private func responses(_ channel: EmbeddedChannel) throws -> [STUNMessage] {
        var messages: [STUNMessage] = []
        while var bytes = try channel.readOutbound(as: ByteBuffer.self) {
            while let length = STUNMessage.framedLength(of: bytes), let message = bytes.readSlice(length: length) {
                messages.append(try STUNMessage(decoding: message))
            }
            XCTAssertEqual(bytes.readableBytes, 0)
        }
        return messages
    }

    func testBindingRequestGetsSuccessWithTheRemoteAsXORMappedAddress() throws {
        let counters = STUNCounters()
        let channel = try connection(counters: counters)
        let request = STUNMessage(type: .bindingRequest)
        try channel.writeInbound(request.encoded())
        let replies = try responses(channel)
        XCTAssertEqual(replies.map(\.type), [.bindingSuccess])
        XCTAssertEqual(replies.first?.transactionID, request.transactionID)
        XCTAssertEqual(replies.first?.xorMappedAddress, client)
        XCTAssertEqual(counters.responses.load(ordering: .relaxed), 1)
        XCTAssertTrue(channel.isActive)
        _ = try channel.finish()
    }

    func testAnswersToAConnectionThatStoppedDrainingAreDroppedAndCounted() throws {
        let counters = STUNCounters()
        let channel = try connection(counters: counters)
        channel.isWritable = false
        try channel.writeInbound(STUNMessage(type: .bindingRequest).encoded())
        XCTAssertEqual(try responses(channel).count, 0)
        XCTAssertEqual(counters.dropped.load(ordering: .relaxed), 1)
        channel.isWritable = true
        try channel.writeInbound(STUNMessage(type: .bindingRequest).encoded())
        XCTAssertEqual(try responses(channel).count, 1)
        _ = try channel.finish()
    }

    private func readsPerTurn(_ channel: EmbeddedChannel) throws -> UInt {
        try channel.getOption(ChannelOptions.maxMessagesPerRead).wait()
    }

    private func throttledAllocator(_ channel: EmbeddedChannel) throws -> Bool {
        let allocator = try channel.getOption(ChannelOptions.recvAllocator).wait()
        return (allocator as? FixedSizeRecvByteBufferAllocator)?.capacity == StreamReadThrottle.throttledReadBytes
    }

    /// A client whose answer had to be dropped gets one small read per turn until it drains again, so that pipelining
    /// requests it never reads cannot hold its thread for thousands of messages per turn.
    func testAClientThatStoppedDrainingIsReadOncePerTurnUntilItDrainsAgain() throws {
        let counters = STUNCounters()
        let channel = try connection(counters: counters)
        try channel.writeInbound(STUNMessage(type: .bindingRequest).encoded())
        XCTAssertEqual(try responses(channel).count, 1)
        XCTAssertEqual(try readsPerTurn(channel), 4, "a client that reads its answers is not throttled")

        channel.isWritable = false
        try channel.writeInbound(STUNMessage(type: .bindingRequest).encoded())
        XCTAssertEqual(counters.dropped.load(ordering: .relaxed), 1)
        XCTAssertEqual(try readsPerTurn(channel), 1)
        XCTAssertTrue(try throttledAllocator(channel))

        // Still not draining: a small read does not release it.
        channel.pipeline.fireChannelWritabilityChanged()
        try channel.writeInbound(STUNMessage(type: .bindingRequest).encoded())
        XCTAssertEqual(counters.dropped.load(ordering: .relaxed), 2)
        XCTAssertEqual(try readsPerTurn(channel), 1)

        channel.isWritable = true
        channel.pipeline.fireChannelWritabilityChanged()
        XCTAssertEqual(try readsPerTurn(channel), 4)
        XCTAssertTrue(try channel.getOption(ChannelOptions.recvAllocator).wait() is AdaptiveRecvByteBufferAllocator)
        try channel.writeInbound(STUNMessage(type: .bindingRequest).encoded())
        XCTAssertEqual(try responses(channel).count, 1)
        _ = try channel.finish()
    }

    /// More STUN messages in one read than a client needs to send at once (here indications, which get no answer, so
    /// the connection never stops draining) throttles it until a read brings an ordinary number; ChannelData does
    /// not count.
    func testAReadWithMoreSTUNMessagesThanTheLimitThrottlesUntilAnOrdinaryRead() throws {
        let channel = try connection()
        // A stream starts with a STUN message (the framer refuses ChannelData first).
        try channel.writeInbound(STUNMessage(type: .bindingRequest).encoded())
        XCTAssertEqual(try responses(channel).count, 1)
        let indication = STUNMessage(type: STUNMessageType(method: .binding, messageClass: .indication)).encoded()
        var media = ByteBuffer()
        for _ in 0..<(2 * StreamReadThrottle.stunMessagesPerReadLimit) {
            ChannelData.write(channel: 0x4001, data: ByteBuffer(bytes: [1, 2, 3, 4]), stream: true, into: &media)
        }
        try channel.writeInbound(media)
        XCTAssertEqual(try readsPerTurn(channel), 4, "ChannelData is not counted")

        var atLimit = ByteBuffer()
        for _ in 0..<StreamReadThrottle.stunMessagesPerReadLimit { atLimit.writeImmutableBuffer(indication) }
        try channel.writeInbound(atLimit)
        XCTAssertEqual(try readsPerTurn(channel), 4, "up to the limit is ordinary")

        var flood = atLimit
        flood.writeImmutableBuffer(indication)
        try channel.writeInbound(flood)
        XCTAssertEqual(try readsPerTurn(channel), 1)
        XCTAssertTrue(try throttledAllocator(channel))

        try channel.writeInbound(flood)
        XCTAssertEqual(try readsPerTurn(channel), 1, "still flooding")

        // Messages just too long for a throttled read to exceed the limit do not win the connection back.
        var justBelowTheLimit = ByteBuffer()
        for _ in 0..<(StreamReadThrottle.releasedAtOrBelow + 1) { justBelowTheLimit.writeImmutableBuffer(indication) }
        try channel.writeInbound(justBelowTheLimit)
        XCTAssertEqual(try readsPerTurn(channel), 1, "a flood's throttle ends only with a read of a few messages")

        // Draining again does not end a flood's throttle; a read of ChannelData alone does.
        channel.pipeline.fireChannelWritabilityChanged()
        XCTAssertEqual(try readsPerTurn(channel), 1)
        var oneFrame = ByteBuffer()
        ChannelData.write(channel: 0x4001, data: ByteBuffer(bytes: [1, 2, 3, 4]), stream: true, into: &oneFrame)
        try channel.writeInbound(oneFrame)
        XCTAssertEqual(try readsPerTurn(channel), 4)

        try channel.writeInbound(flood)
        XCTAssertEqual(try readsPerTurn(channel), 1)
        try channel.writeInbound(indication)
        XCTAssertEqual(try readsPerTurn(channel), 4)
        XCTAssertTrue(try channel.getOption(ChannelOptions.recvAllocator).wait() is AdaptiveRecvByteBufferAllocator)
        XCTAssertTrue(channel.isActive)
        XCTAssertEqual(try responses(channel).count, 0)
        _ = try channel.finish()
    }

    func testBindingRequestSplitAcrossReadsIsAnsweredOnce() throws {
        let channel = try connection()
        let request = STUNMessage(type: .bindingRequest)
        let bytes = Array(request.encoded().readableBytesView)
        try channel.writeInbound(ByteBuffer(bytes: bytes.prefix(7)))
        XCTAssertEqual(try responses(channel).count, 0)
        try channel.writeInbound(ByteBuffer(bytes: bytes.dropFirst(7)))
        XCTAssertEqual(try responses(channel).map(\.transactionID), [request.transactionID])
        _ = try channel.finish()
    }

    /// The transport reaches the responder: over a stream (TLS here) CHANGE-REQUEST cannot be honoured.
    func testChangeRequestOverTLSStreamGets400() throws {
        let channel = try connection(transport: .tls)
        try channel.writeInbound(STUNMessage(type: .bindingRequest, attributes: [.changeRequest(.changePort)]).encoded())
        XCTAssertEqual(try responses(channel).map { $0.errorCode?.code }, [400])
        _ = try channel.finish()
    }

    func testTextBytesCloseTheConnectionAndReleaseItsSlot() throws {
        let connections = ConnectionLimiter(maxTotal: 8, maxPerAddress: 8)
        let channel = try connection(connections: connections)
        XCTAssertEqual(connections.open, 1)
        try channel.writeInbound(ByteBuffer(string: "GET / HTTP/1.1\r\n\r\n"))
        XCTAssertFalse(channel.isActive)
        XCTAssertEqual(try responses(channel).count, 0)
        XCTAssertEqual(connections.open, 0)
    }

    /// Feeds `inputs` to a fresh connection: none is answered, each counts as dropped, and the connection stays open.
    private func assertDroppedWithoutAnswer(_ inputs: [ByteBuffer], file: StaticString = #filePath, line: UInt = #line) throws {
        let counters = STUNCounters()
        let channel = try connection(counters: counters)
        for input in inputs { try channel.writeInbound(input) }
        XCTAssertEqual(try responses(channel).count, 0, file: file, line: line)
        XCTAssertEqual(counters.dropped.load(ordering: .relaxed), inputs.count, file: file, line: line)
        XCTAssertTrue(channel.isActive, file: file, line: line)
        _ = try channel.finish()
    }

    func testUndecodableSTUNIsDroppedAndCountedAndTheConnectionStaysOpen() throws {
        // An Allocate request whose length is not a multiple of 4.
        try assertDroppedWithoutAnswer([stunHeader(type: 0x0003, declaring: 3, body: 3)])
    }

    func testTURNRequestAndChannelDataWithoutTURNAreDroppedAndCounted() throws {
        try assertDroppedWithoutAnswer([ByteBuffer(bytes: threeUnits()[2]), ByteBuffer(bytes: threeUnits()[1])])
    }

    func testConnectionOverTheLimitIsClosedAndCounted() throws {
        let counters = STUNCounters()
        let connections = ConnectionLimiter(maxTotal: 1, maxPerAddress: 8)
        let first = try connection(counters: counters, connections: connections)
        let second = try connection(counters: counters, connections: connections)
        XCTAssertTrue(first.isActive)
        XCTAssertFalse(second.isActive)
        XCTAssertEqual(counters.tcpRefused.load(ordering: .relaxed), 1)
        XCTAssertEqual(counters.tcpConnections.load(ordering: .relaxed), 1)
        XCTAssertEqual(connections.open, 1)
        _ = try first.finish()
        XCTAssertEqual(connections.open, 0)
        XCTAssertEqual(counters.tcpConnections.load(ordering: .relaxed), 0)
    }
}
