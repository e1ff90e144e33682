import Foundation
import NIOCore
import Signaling
import STUN
import TURN

/// Builds the `iceServers` handed out on join and by `GET /v1/ice-servers`: our STUN URL and TURN URLs (UDP, TCP,
/// and TLS when it is served) with TURN REST credentials for the user, valid for `ttl` seconds.
///
/// The host in the URLs is never taken from the request (a Host header is the client's to write): it is the
/// configured `--public-host` list, else `--external-ip` or a concrete listen address, else the local address the
/// client's connection reached.
struct ICEServerDirectory: Sendable {
    let secret: String
    let port: UInt16
    /// The STUN/TURN-over-TLS ports (`turns:`); empty when TLS is not served.
    var tlsPorts: [UInt16] = []
    /// URL hosts (IPv6 in brackets); empty means the address each connection reached.
    let hosts: [String]
    let ttl: Int = 86_400

    /// With `session`, the credential is bound to that signaling session (`EXPIRY:USER:SESSION`): it stops
    /// working, and its allocations close, when the session ends.
    func iceServers(user: String, reachedHost: String, session: String? = nil) -> JSONValue {
        let hosts = hosts.isEmpty ? [reachedHost] : hosts
        let credential = RESTCredential.generate(secret: secret, user: user, session: session, ttl: ttl,
                                                  unixTime: Int64(Date().timeIntervalSince1970))
        return .array([
            .object(["urls": .array(hosts.map { .string("stun:\($0):\(port)") })]),
            .object([
                "urls": .array(hosts.flatMap { host in
                    [JSONValue.string("turn:\(host):\(port)?transport=udp"), .string("turn:\(host):\(port)?transport=tcp")]
                        + tlsPorts.map { JSONValue.string("turns:\(host):\($0)?transport=tcp") }
                }),
                "username": .string(credential.username),
                "credential": .string(credential.password),
            ]),
        ])
    }

    /// The local address a connection reached, as a URL host: what a wildcard listener advertises.
    static func reachedHost(_ local: SocketAddress?) -> String {
        guard let ip = local.flatMap(TransportAddress.init)?.ip else { return "127.0.0.1" }
        return PublicHost.urlHost(ip)
    }
}

/// Host names and addresses an operator may give as `--public-host`.
package enum PublicHost {
    /// The URL form of `text` (IPv6 in brackets), or nil when it is neither an IP address nor a DNS name.
    package static func normalised(_ text: String) -> String? {
        var bare = Substring(text)
        if bare.hasPrefix("["), bare.hasSuffix("]") { bare = bare.dropFirst().dropLast() }
        if let ip = IPAddress(String(bare)) { return urlHost(ip) }
        let labels = bare.split(separator: ".", omittingEmptySubsequences: false)
        guard (1...253).contains(bare.utf8.count), !labels.isEmpty else { return nil }
        for label in labels {
            guard (1...63).contains(label.utf8.count), label.first != "-", label.last != "-",
                  label.utf8.allSatisfy({ byte in
                      (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(byte) || (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(byte)
                          || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) || byte == UInt8(ascii: "-")
                  }) else { return nil }
        }
        return bare.lowercased()
    }

    package static func urlHost(_ ip: IPAddress) -> String { ip.family == .ipv6 ? "[\(ip)]" : "\(ip)" }
}
