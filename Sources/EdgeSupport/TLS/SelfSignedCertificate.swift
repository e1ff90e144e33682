import Crypto
import Foundation
import SwiftASN1
import X509

/// A throwaway certificate for trying TLS locally (`serve --self-signed`): a fresh P-256 key, valid from an hour ago
/// for 30 days, for `localhost`, 127.0.0.1, ::1 and any configured host names. Nothing is written to disk.
public enum SelfSignedCertificate {
    public static func make(hosts: [String], now: Date = Date()) throws -> ServerCertificate {
        let (certificatePEM, keyPEM) = try makePEM(hosts: hosts, now: now)
        return try ServerCertificate(chainPEM: certificatePEM, keyPEM: keyPEM, chainSource: "self-signed", keySource: "self-signed")
    }

    /// The certificate and its key as PEM text, as `--tls-cert` and `--tls-key` files would hold them.
    public static func makePEM(hosts: [String], now: Date = Date(), validFor days: Double = 30) throws -> (certificate: String, key: String) {
        let key = P256.Signing.PrivateKey()
        let name = try DistinguishedName {
            CommonName("Switchboard self-signed")
            OrganizationName("Switchboard")
        }
        var names: [GeneralName] = [.dnsName("localhost"), .ipAddress(ASN1OctetString(contentBytes: [127, 0, 0, 1])),
                                    .ipAddress(ASN1OctetString(contentBytes: ArraySlice(Array(repeating: 0, count: 15) + [1])))]
        for host in hosts where !host.hasPrefix("[") && Self.ipv4(host) == nil && host != "localhost" {
            names.append(.dnsName(host))
        }
        for host in hosts { if let bytes = Self.ipv4(host) { names.append(.ipAddress(ASN1OctetString(contentBytes: bytes))) } }
        let certificate = try Certificate(
            version: .v3,
            serialNumber: Certificate.SerialNumber(),
            publicKey: .init(key.publicKey),
            notValidBefore: now.addingTimeInterval(-3600),
            notValidAfter: now.addingTimeInterval(days * 86_400),
            issuer: name,
            subject: name,
            signatureAlgorithm: .ecdsaWithSHA256,
            // Its own root, as `openssl req -x509` makes them: a client can trust exactly this certificate
            // (`turn-check --ca-file`, `curl --cacert`); verifiers do not treat a non-CA certificate as a trust anchor.
            extensions: try Certificate.Extensions {
                Critical(BasicConstraints.isCertificateAuthority(maxPathLength: 0))
                Critical(KeyUsage(digitalSignature: true, keyCertSign: true))
                try ExtendedKeyUsage([.serverAuth])
                SubjectAlternativeNames(names)
            },
            issuerPrivateKey: .init(key))
        return (try certificate.serializeAsPEM().pemString, try Certificate.PrivateKey(key).serializeAsPEM().pemString)
    }

    private static func ipv4(_ text: String) -> ArraySlice<UInt8>? {
        let parts = text.split(separator: ".")
        guard parts.count == 4 else { return nil }
        let bytes = parts.compactMap { UInt8($0) }
        return bytes.count == 4 ? ArraySlice(bytes) : nil
    }
}
