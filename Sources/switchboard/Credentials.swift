import ArgumentParser
import Foundation
import TURN

/// `switchboard credentials`: issues a TURN REST credential from a shared secret, for operators' scripts and for
/// pasting into a WebRTC application's `iceServers` while testing, without running the server.
struct Credentials: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Issue a time-limited TURN credential from a REST shared secret (--auth-secret).",
        discussion: """
            The username is EXPIRY:USER (or EXPIRY without --user) and the password is \
            base64(HMAC-SHA1(secret, username)), as coturn's use-auth-secret expects. Prints the username, password \
            and expiry, then an RTCIceServer object; with --json, only the RTCIceServer object.
            """)

    @Option(help: "TURN REST shared secret, as given to `serve --auth-secret`.") var secret: String
    @Option(help: "User name embedded in the username (EXPIRY:USER).") var user: String?
    @Option(help: "Seconds the credential stays valid.") var ttl: Int = 86_400
    @Option(help: """
        TURN URI for the RTCIceServer object (repeatable; default: turn:127.0.0.1:3478?transport=udp and \
        turn:127.0.0.1:3478?transport=tcp).
        """) var uri: [String] = []
    @Flag(help: "Print only the RTCIceServer object as JSON.") var json = false

    static let maximumTTL = 10 * 365 * 86_400
    static let defaultURIs = ["turn:127.0.0.1:3478?transport=udp", "turn:127.0.0.1:3478?transport=tcp"]

    /// The WebRTC `RTCIceServer` dictionary, field names as browsers expect them.
    struct ICEServer: Encodable {
        var urls: [String]
        var username: String
        var credential: String
    }

    func validate() throws {
        guard !secret.isEmpty else { throw ValidationError("--secret must not be empty") }
        guard ttl > 0, ttl <= Credentials.maximumTTL else {
            throw ValidationError("--ttl must be between 1 and \(Credentials.maximumTTL) seconds (ten years)")
        }
        if let user, user.isEmpty { throw ValidationError("--user must not be empty; leave it out for EXPIRY-only usernames") }
    }

    func run() throws {
        let now = Int64(Date().timeIntervalSince1970)
        let credential = RESTCredential.generate(secret: secret, user: user, ttl: ttl, unixTime: now)
        let server = ICEServer(urls: uri.isEmpty ? Credentials.defaultURIs : uri,
                               username: credential.username, credential: credential.password)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        let object = String(decoding: try encoder.encode(server), as: UTF8.self)
        if json {
            print(object)
            return
        }
        let expires = Date(timeIntervalSince1970: TimeInterval(now + Int64(ttl)))
        print("username: \(credential.username)")
        print("password: \(credential.password)")
        print("expires: \(expires.ISO8601Format())")
        print(object)
    }
}
