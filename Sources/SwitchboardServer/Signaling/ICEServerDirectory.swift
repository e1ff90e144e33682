import Foundation
import Signaling
import STUN
import TURN

/// Builds the `iceServers` handed out on join and by `GET /v1/ice-servers`: our STUN URL and TURN URLs (UDP and
/// TCP) with TURN REST credentials for the user, valid for `ttl` seconds.
struct ICEServerDirectory: Sendable {
    let secret: String
    let port: UInt16
    /// Advertised host when configured (`--external-ip`, or a concrete listen IP); otherwise the Host header's.
    let fixedHost: String?
    let ttl: Int = 86_400

    func iceServers(user: String, requestHost: String) -> JSONValue {
        let host = fixedHost ?? Self.sanitise(requestHost) ?? "127.0.0.1"
        let credential = RESTCredential.generate(secret: secret, user: user, ttl: ttl,
                                                  unixTime: Int64(Date().timeIntervalSince1970))
        return .array([
            .object(["urls": .string("stun:\(host):\(port)")]),
            .object([
                "urls": .array([.string("turn:\(host):\(port)?transport=udp"), .string("turn:\(host):\(port)?transport=tcp")]),
                "username": .string(credential.username),
                "credential": .string(credential.password),
            ]),
        ])
    }

    /// The host part of a Host header, if it is a plain host name or IP literal; anything else is not echoed back.
    static func sanitise(_ authority: String) -> String? {
        var host = Substring(authority)
        if host.hasPrefix("[") {
            guard let close = host.firstIndex(of: "]") else { return nil }
            host = host[...close]
        } else if let colon = host.lastIndex(of: ":") {
            host = host[..<colon]
        }
        guard (1...253).contains(host.utf8.count) else { return nil }
        let allowed = host.utf8.allSatisfy { byte in
            switch byte {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
                 UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "."), UInt8(ascii: "-"), UInt8(ascii: ":"),
                 UInt8(ascii: "["), UInt8(ascii: "]"):
                true
            default:
                false
            }
        }
        return allowed ? String(host) : nil
    }
}
