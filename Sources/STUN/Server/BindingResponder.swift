import NIOCore

/// Answers STUN Binding requests (RFC 8489 §6.3, RFC 5780 §6, RFC 3489 clients), without doing any I/O.
///
/// Given the bytes of a request, where it came from and which socket it reached, it writes the response into a
/// buffer and says which socket must send it and to where. Decoding happens once; the response is written straight
/// into the output buffer with no intermediate attribute list.
public struct BindingResponder: Sendable {
    public enum Transport: Sendable { case udp, tcp }

    /// What to do with one incoming datagram or framed stream message.
    public enum Decision: Equatable, Sendable {
        /// Send the bytes appended to the output buffer from `socket` to `destination`.
        case respond(from: ResponderSocket, to: TransportAddress)
        /// Send nothing: not STUN, not a request, or a case where the RFC says discard silently.
        case drop(DropReason)
    }

    public enum DropReason: Equatable, Sendable {
        case notDecodable(STUNDecodingError)
        case notARequest
        case notBinding
    }

    /// Largest PADDING we echo (RFC 5780 §7.6 uses it to probe fragmentation; keep replies inside one IPv6 MTU).
    public static let maximumPadding = 1400

    public var addresses: ResponderAddresses
    public var software: String? {
        didSet { softwareAttribute = Self.encodedSoftware(software) }
    }
    /// SOFTWARE as it goes on the wire (type, length, value, padding), written by `writeSuccess` with one copy.
    private(set) var softwareAttribute: [UInt8]

    public init(addresses: ResponderAddresses, software: String? = "Switchboard") {
        self.addresses = addresses
        self.software = software
        softwareAttribute = Self.encodedSoftware(software)
    }

    private static func encodedSoftware(_ software: String?) -> [UInt8] {
        guard let software else { return [] }
        var bytes = ByteBuffer()
        bytes.writeSTUNAttribute(.software(software), transactionID: TransactionID(high: 0, middle: 0, low: 0))
        return Array(bytes.readableBytesView)
    }

    /// Handles one Binding request. Requests of other methods are reported as `.notBinding` so the caller can route
    /// them (to the TURN core, later); undecodable bytes are dropped unless a 400 can be addressed.
    public func handle(_ bytes: ByteBuffer, from source: TransportAddress, receivedOn socket: ResponderSocket,
                       localAddress: TransportAddress?, transport: Transport, into out: inout ByteBuffer) -> Decision {
        if let request = BindingRequest(scanning: bytes) {
            return handle(request, from: source, receivedOn: socket, localAddress: localAddress, transport: transport, into: &out)
        }
        let request: STUNMessage
        do {
            request = try STUNMessage(decoding: bytes, options: .init(acceptClassic: true))
        } catch {
            return answerUndecodable(bytes, error: error, from: source, socket: socket, into: &out)
        }
        guard request.type.messageClass == .request else { return .drop(.notARequest) }
        guard request.type.method == .binding else { return .drop(.notBinding) }
        return handle(request, from: source, receivedOn: socket, localAddress: localAddress, transport: transport, into: &out)
    }

    /// Handles an already decoded Binding request.
    public func handle(_ request: STUNMessage, from source: TransportAddress, receivedOn socket: ResponderSocket,
                       localAddress: TransportAddress?, transport: Transport, into out: inout ByteBuffer) -> Decision {
        handle(BindingRequest(request), from: source, receivedOn: socket, localAddress: localAddress, transport: transport,
               into: &out)
    }

    /// Handles a Binding request read by `BindingRequest(scanning:)` or from a decoded message.
    public func handle(_ request: BindingRequest, from source: TransportAddress, receivedOn socket: ResponderSocket,
                       localAddress: TransportAddress?, transport: Transport, into out: inout ByteBuffer) -> Decision {
        if !request.unknownComprehensionRequired.isEmpty {
            writeError(.unknownAttribute, for: request, extra: [.unknownAttributes(request.unknownComprehensionRequired)], into: &out)
            return .respond(from: socket, to: source)
        }
        var replySocket = socket
        var destination = source
        if let change = request.changeRequest, !change.isEmpty {
            guard transport == .udp else {
                writeError(STUNErrorCode(code: 400, reason: "CHANGE-REQUEST is only meaningful over UDP"), for: request, into: &out)
                return .respond(from: socket, to: source)
            }
            // RFC 5780 §6.1: a server that cannot send from the other address treats CHANGE-REQUEST as unknown.
            guard addresses.alternate != nil else {
                writeError(.unknownAttribute, for: request, extra: [.unknownAttributes([.changeRequest])], into: &out)
                return .respond(from: socket, to: source)
            }
            replySocket = socket.changed(by: change)
        }
        if let port = request.responsePort {
            guard transport == .udp else {
                writeError(STUNErrorCode(code: 400, reason: "RESPONSE-PORT is only meaningful over UDP"), for: request, into: &out)
                return .respond(from: socket, to: source)
            }
            guard port != 0 else {
                writeError(STUNErrorCode(code: 400, reason: "RESPONSE-PORT 0"), for: request, into: &out)
                return .respond(from: socket, to: source)
            }
            destination.port = port
        }
        if request.paddingLength != nil, transport != .udp {
            writeError(STUNErrorCode(code: 400, reason: "PADDING is only meaningful over UDP"), for: request, into: &out)
            return .respond(from: socket, to: source)
        }

        let origin = responseOrigin(replySocket, receivedOn: socket, localAddress: localAddress)
        // The OTHER-ADDRESS of the socket the request reached: the diagonal one (RFC 5780 §7.3).
        let other = addresses.alternate == nil ? nil
            : addresses.address(of: ResponderSocket(alternateIP: !socket.alternateIP, alternatePort: !socket.alternatePort))

        let id = request.transactionID
        if !request.isClassic, request.paddingLength == nil {
            writeSuccess(transactionID: id, mapped: source, origin: origin, other: other, into: &out)
            return .respond(from: replySocket, to: destination)
        }
        let start = out.writerIndex
        writeHeader(STUNMessageType(method: .binding, messageClass: .successResponse), cookie: request.cookie,
                    transactionID: id, into: &out)
        if request.isClassic {
            // RFC 3489 agents know MAPPED-ADDRESS, SOURCE-ADDRESS and CHANGED-ADDRESS, and XOR-MAPPED-ADDRESS
            // (a comprehension-required type to them) could make them reject the whole response.
            out.writeSTUNAttribute(.mappedAddress(source), transactionID: id)
            if let origin { out.writeSTUNAttribute(.sourceAddress(origin), transactionID: id) }
            if let other { out.writeSTUNAttribute(.changedAddress(other), transactionID: id) }
        } else {
            out.writeSTUNAttribute(.xorMappedAddress(source), transactionID: id)
            if let origin { out.writeSTUNAttribute(.responseOrigin(origin), transactionID: id) }
            if let other { out.writeSTUNAttribute(.otherAddress(other), transactionID: id) }
        }
        if let padding = request.paddingLength {
            out.writeSTUNAttribute(.padding(min(padding, BindingResponder.maximumPadding)), transactionID: id)
        }
        // RFC 3489's SERVER attribute must have a length that is a multiple of 4, and classic clients reject any
        // other (Debian's `stun` does), so they get no SOFTWARE.
        if let software, !request.isClassic { out.writeSTUNAttribute(.software(software), transactionID: id) }
        STUNMessage.finish(&out, messageStart: start, transactionID: id, options: .init(fingerprint: !request.isClassic))
        return .respond(from: replySocket, to: destination)
    }

    private func responseOrigin(_ replySocket: ResponderSocket, receivedOn socket: ResponderSocket,
                                localAddress: TransportAddress?) -> TransportAddress? {
        guard var address = addresses.address(of: replySocket) else { return nil }
        if address.ip.isUnspecified {
            // A wildcard listener: the origin is the address the request was sent to, when the edge knows it.
            guard replySocket == socket, let localAddress else { return nil }
            address = localAddress
        }
        return address
    }

    /// RFC 8489 §6.3: a request whose attributes are malformed gets 400; bytes that are not STUN, fail FINGERPRINT or
    /// are truncated are discarded, because nothing in them can be trusted.
    public func answerUndecodable(_ bytes: ByteBuffer, error: STUNDecodingError, from source: TransportAddress,
                                  socket: ResponderSocket, into out: inout ByteBuffer) -> Decision {
        switch error {
        case .malformedAttribute, .attributeOverrunsMessage, .attributeAfterFingerprint:
            guard let header = bytes.getInteger(at: bytes.readerIndex, as: UInt16.self),
                  let type = STUNMessageType(wireValue: header), type.messageClass == .request,
                  let cookie = bytes.getInteger(at: bytes.readerIndex + 4, as: UInt32.self),
                  let id = bytes.getBytes(at: bytes.readerIndex + 8, length: 12) else { return .drop(.notDecodable(error)) }
            writeError(STUNErrorCode(code: 400, reason: "Bad Request: \(error)"), method: type.method, cookie: cookie,
                       transactionID: TransactionID(bytes: id), into: &out)
            return .respond(from: socket, to: source)
        default:
            return .drop(.notDecodable(error))
        }
    }

    private func writeHeader(_ type: STUNMessageType, cookie: UInt32, transactionID: TransactionID,
                             into out: inout ByteBuffer) {
        out.writeInteger(type.wireValue)
        out.writeInteger(UInt16(0))
        out.writeInteger(cookie)
        out.writeInteger(transactionID.high)
        out.writeInteger(transactionID.middle)
        out.writeInteger(transactionID.low)
    }

    private func writeError(_ error: STUNErrorCode, for request: BindingRequest, extra: [STUNAttribute] = [],
                            into out: inout ByteBuffer) {
        writeError(error, method: .binding, cookie: request.cookie, transactionID: request.transactionID, extra: extra,
                   into: &out)
    }

    private func writeError(_ error: STUNErrorCode, method: STUNMethod, cookie: UInt32, transactionID: TransactionID,
                            extra: [STUNAttribute] = [], into out: inout ByteBuffer) {
        let start = out.writerIndex
        writeHeader(STUNMessageType(method: method, messageClass: .errorResponse), cookie: cookie,
                    transactionID: transactionID, into: &out)
        out.writeSTUNAttribute(.errorCode(error), transactionID: transactionID)
        for attribute in extra { out.writeSTUNAttribute(attribute, transactionID: transactionID) }
        let isClassic = cookie != STUNMessage.magicCookie
        if let software, !isClassic { out.writeSTUNAttribute(.software(software), transactionID: transactionID) }
        STUNMessage.finish(&out, messageStart: start, transactionID: transactionID, options: .init(fingerprint: !isClassic))
    }
}

extension IPAddress {
    /// 0.0.0.0 or ::.
    public var isUnspecified: Bool {
        switch self {
        case .v4(let value): value == 0
        case .v6(let high, let low): high == 0 && low == 0
        }
    }
}
