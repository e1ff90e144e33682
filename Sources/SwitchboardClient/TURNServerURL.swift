import STUN

/// A `turn:` or `turns:` URL as in an RTCIceServer (RFC 7065): `turn:HOST[:PORT][?transport=udp|tcp]`,
/// `turns:HOST[:PORT][?transport=tcp]`. The default port is 3478, and 5349 for `turns:`.
public struct TURNServerURL: Sendable, Equatable, CustomStringConvertible {
    public enum Transport: String, Sendable {
        case udp, tcp, tls
    }

    public var host: String
    public var port: UInt16
    public var transport: Transport

    public struct Invalid: Error, CustomStringConvertible {
        public var description: String
    }

    public init(_ text: String) throws(Invalid) {
        let secure: Bool
        var rest: Substring
        if text.hasPrefix("turns:") {
            secure = true
            rest = text.dropFirst(6)
        } else if text.hasPrefix("turn:") {
            secure = false
            rest = text.dropFirst(5)
        } else {
            throw Invalid(description: "expected a turn: or turns: URL, got \(text)")
        }
        var transport: Transport = secure ? .tls : .udp
        if let query = rest.firstIndex(of: "?") {
            let parameter = rest[rest.index(after: query)...]
            rest = rest[..<query]
            switch (parameter, secure) {
            case ("transport=udp", false): transport = .udp
            case ("transport=tcp", false): transport = .tcp
            case ("transport=tcp", true): transport = .tls
            default: throw Invalid(description: "unsupported \(parameter) in \(text) (turn: takes transport=udp or tcp, turns: only tcp)")
            }
        }
        guard !rest.isEmpty else { throw Invalid(description: "no host in \(text)") }
        let defaultPort: UInt16 = secure ? 5349 : 3478
        // `[v6]:port`, `[v6]`, `host:port`, `host`; a bare IPv6 literal has more than one colon.
        if rest.hasPrefix("[") {
            guard let close = rest.firstIndex(of: "]") else { throw Invalid(description: "unclosed [ in \(text)") }
            host = String(rest[rest.index(after: rest.startIndex)..<close])
            let after = rest[rest.index(after: close)...]
            if after.isEmpty {
                port = defaultPort
            } else if after.hasPrefix(":"), let value = UInt16(after.dropFirst()), value != 0 {
                port = value
            } else {
                throw Invalid(description: "bad port in \(text)")
            }
        } else if let colon = rest.lastIndex(of: ":"), rest.firstIndex(of: ":") == colon {
            host = String(rest[..<colon])
            guard let value = UInt16(rest[rest.index(after: colon)...]), value != 0 else {
                throw Invalid(description: "bad port in \(text)")
            }
            port = value
        } else {
            host = String(rest)
            port = defaultPort
        }
        self.transport = transport
    }

    public var description: String {
        let hostPart = host.contains(":") ? "[\(host)]" : host
        switch transport {
        case .udp: return "turn:\(hostPart):\(port)?transport=udp"
        case .tcp: return "turn:\(hostPart):\(port)?transport=tcp"
        case .tls: return "turns:\(hostPart):\(port)?transport=tcp"
        }
    }
}
