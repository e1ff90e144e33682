import EdgeSupport
import Foundation

extension ServerConfiguration {
    /// Whether any TLS listener is configured (a certificate, or `--self-signed`).
    public var servesTLS: Bool { selfSigned || tlsCertFile != nil || tlsKeyFile != nil }

    /// The certificate every TLS listener serves, checked now so that a bad file stops `serve` before it binds
    /// anything; nil when TLS is not configured.
    func serverCertificate() throws(ConfigurationError) -> ServerCertificate? {
        if httpsPort != nil, !servesTLS {
            throw ConfigurationError(source: "configuration", key: "https-port", problem: "HTTPS needs a certificate: --tls-cert and --tls-key, or --self-signed")
        }
        if selfSigned {
            guard tlsCertFile == nil, tlsKeyFile == nil else {
                throw ConfigurationError(source: "configuration", key: "self-signed", problem: "give either --self-signed or --tls-cert and --tls-key, not both")
            }
            do {
                return try SelfSignedCertificate.make(hosts: publicHosts)
            } catch {
                throw ConfigurationError(source: "configuration", key: "self-signed", problem: "cannot make a certificate: \(error)")
            }
        }
        switch (tlsCertFile, tlsKeyFile) {
        case (nil, nil):
            return nil
        case (let chain?, let key?):
            do {
                return try ServerCertificate(chainFile: chain, keyFile: key)
            } catch {
                throw ConfigurationError(source: "configuration", key: error.file == key ? "tls-key" : "tls-cert", problem: error.description)
            }
        case (nil, _):
            throw ConfigurationError(source: "configuration", key: "tls-cert", problem: "--tls-key needs --tls-cert beside it")
        case (_, nil):
            throw ConfigurationError(source: "configuration", key: "tls-key", problem: "--tls-cert needs --tls-key beside it")
        }
    }
}
