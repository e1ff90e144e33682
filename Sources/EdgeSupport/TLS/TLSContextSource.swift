import NIOConcurrencyHelpers
import NIOSSL

/// The TLS context new connections are served with, replaceable while the server runs.
///
/// Each accepted connection takes `current` once, in its channel initializer; a reload (SIGHUP) swaps in a context
/// built from the new certificate, so new handshakes use it and connections already open keep theirs.
public final class TLSContextSource: Sendable {
    /// Swapped together, so that `certificate` always names what `current` serves.
    private let served: NIOLockedValueBox<(context: NIOSSLContext, certificate: ServerCertificate)>
    /// ALPN protocols offered, in order of preference; empty offers none.
    public let applicationProtocols: [String]

    public init(certificate: ServerCertificate, applicationProtocols: [String] = []) throws {
        self.applicationProtocols = applicationProtocols
        served = NIOLockedValueBox((try Self.makeContext(certificate, applicationProtocols: applicationProtocols), certificate))
    }

    public var current: NIOSSLContext { served.withLockedValue { $0.context } }
    public var certificate: ServerCertificate { served.withLockedValue { $0.certificate } }

    /// Serves new handshakes with `certificate` from now on.
    public func replace(with certificate: ServerCertificate) throws {
        let fresh = try Self.makeContext(certificate, applicationProtocols: applicationProtocols)
        served.withLockedValue { $0 = (fresh, certificate) }
    }

    /// TLS 1.2 and 1.3 only; for 1.2, ECDHE key exchange with AEAD ciphers only (1.3 has nothing else). The client
    /// is not asked for a certificate, and BoringSSL never renegotiates as a server.
    static func makeContext(_ certificate: ServerCertificate, applicationProtocols: [String]) throws -> NIOSSLContext {
        var configuration = TLSConfiguration.makeServerConfiguration(
            certificateChain: certificate.chain.map { .certificate($0) }, privateKey: .privateKey(certificate.key))
        configuration.minimumTLSVersion = .tlsv12
        configuration.maximumTLSVersion = .tlsv13
        configuration.cipherSuites = "ECDHE+AESGCM:ECDHE+CHACHA20:!aNULL:!eNULL"
        configuration.certificateVerification = .none
        configuration.applicationProtocols = applicationProtocols
        return try NIOSSLContext(configuration: configuration)
    }
}
