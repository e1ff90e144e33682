import NIOCore
import STUN
import TURN

// libFuzzer entry point for everything that reads bytes off the network before any state is touched:
// the STUN decoder (both modes), integrity checks, re-encoding of what was decoded, the Binding responder
// and the ChannelData parser. How to build and run it: Fuzz/README.md.

private let allocator = ByteBufferAllocator()
private let key = IntegrityKey.shortTerm(password: "fuzz")
private let responder = BindingResponder(addresses: ResponderAddresses(
    primary: TransportAddress(ip: .v4(0x7F00_0001), port: 3478),
    alternate: TransportAddress(ip: .v4(0x7F00_0002), port: 3479)))
private let client = TransportAddress(ip: .v4(0x7F00_0001), port: 50000)

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    var buffer = allocator.buffer(capacity: size)
    buffer.writeBytes(UnsafeBufferPointer(start: data, count: size))

    _ = STUNMessage.framedLength(of: buffer)
    _ = ChannelData.parse(buffer)
    _ = ChannelData.framedLength(of: buffer, stream: true)

    for options in [STUNMessage.DecodingOptions(), .init(acceptClassic: true, verifyFingerprint: false)] {
        guard let message = try? STUNMessage(decoding: buffer, options: options) else { continue }
        _ = message.verifyIntegrity(.sha1, key: key)
        _ = message.verifyIntegrity(.sha256, key: key)
        // Whatever decodes must encode again, and the encoding must decode: the server echoes attributes it read.
        let encoded = message.strippingIntegrityAndFingerprint.encoded(options: .init(fingerprint: true))
        do {
            _ = try STUNMessage(decoding: encoded, options: options)
        } catch {
            fatalError("re-encoded message does not decode: \(error)")
        }
    }

    var out = allocator.buffer(capacity: 1500)
    for transport in [BindingResponder.Transport.udp, .tcp] {
        out.clear()
        _ = responder.handle(buffer, from: client, receivedOn: .primary, localAddress: nil, transport: transport, into: &out)
        if out.readableBytes > 0 {
            guard (try? STUNMessage(decoding: out, options: .init(acceptClassic: true))) != nil else {
                fatalError("responder wrote a reply that does not decode")
            }
        }
    }
    return 0
}
