import Crypto
import Foundation
import NIOSSL
import X509

/// A certificate chain and its private key, read and checked before any listener uses them.
///
/// The checks an operator would otherwise meet only as failed handshakes: the files must be readable PEM, the key
/// must belong to the first certificate, and a certificate that has expired (or is not yet valid) is reported.
public struct ServerCertificate: Sendable {
    public let chain: [NIOSSLCertificate]
    public let key: NIOSSLPrivateKey
    /// The leaf's validity, for the warning at start and after a reload.
    public let notValidBefore: Date
    public let notValidAfter: Date
    /// SHA-256 over the leaf's DER, as browsers and `openssl x509 -fingerprint -sha256` print it (`AB:CD:…`).
    public let fingerprint: String

    /// Reads a PEM chain (leaf first) and a PEM private key (PKCS#8, SEC1 or RSA).
    public init(chainFile: String, keyFile: String) throws(CertificateProblem) {
        let chainPEM = try Self.read(chainFile, what: "certificate")
        let keyPEM = try Self.read(keyFile, what: "key")
        try self.init(chainPEM: chainPEM, keyPEM: keyPEM, chainSource: chainFile, keySource: keyFile)
    }

    public init(chainPEM: String, keyPEM: String, chainSource: String = "certificate", keySource: String = "key")
        throws(CertificateProblem) {
        let leaf: Certificate
        let privateKey: Certificate.PrivateKey
        do {
            leaf = try Certificate(pemEncoded: chainPEM)
        } catch {
            throw CertificateProblem(file: chainSource, problem: "no PEM certificate in it (\(error))")
        }
        do {
            privateKey = try Certificate.PrivateKey(pemEncoded: keyPEM)
        } catch {
            throw CertificateProblem(file: keySource, problem: "no PEM private key in it (\(error))")
        }
        guard privateKey.publicKey == leaf.publicKey else {
            throw CertificateProblem(file: keySource, problem: "the key does not belong to the first certificate of \(chainSource)")
        }
        do {
            chain = try NIOSSLCertificate.fromPEMBytes(Array(chainPEM.utf8))
            key = try NIOSSLPrivateKey(bytes: Array(keyPEM.utf8), format: .pem)
        } catch {
            throw CertificateProblem(file: chainSource, problem: "not usable for TLS (\(error))")
        }
        notValidBefore = leaf.notValidBefore
        notValidAfter = leaf.notValidAfter
        fingerprint = (try? chain[0].toDERBytes()).map { der in
            SHA256.hash(data: der).map { String(format: "%02X", $0) }.joined(separator: ":")
        } ?? ""
    }

    /// A reason to warn, or nil when `now` is inside the validity period.
    public func validityWarning(now: Date = Date()) -> String? {
        if now > notValidAfter { return "the certificate expired on \(notValidAfter); clients will refuse it" }
        if now < notValidBefore { return "the certificate is not valid before \(notValidBefore); clients will refuse it" }
        return nil
    }

    private static func read(_ file: String, what: String) throws(CertificateProblem) -> String {
        do {
            return try String(contentsOfFile: file, encoding: .utf8)
        } catch {
            throw CertificateProblem(file: file, problem: "cannot read the \(what) file (\((error as NSError).localizedDescription))")
        }
    }
}

/// Why a certificate or key cannot be used, naming the file.
public struct CertificateProblem: Error, CustomStringConvertible, Equatable {
    public var file: String
    public var problem: String

    public var description: String { "\(file): \(problem)" }
}
