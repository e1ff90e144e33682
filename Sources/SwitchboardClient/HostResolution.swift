import NIOCore
import STUN

extension TransportAddress {
    /// Resolves `HOST[:PORT]` (`[v6]:port` for IPv6 literals) through the system resolver; numeric hosts skip it.
    public static func resolve(_ text: String, defaultPort: UInt16) throws -> TransportAddress {
        if let address = TransportAddress(text, defaultPort: defaultPort) { return address }
        var host = Substring(text)
        var port = defaultPort
        if let colon = text.lastIndex(of: ":"), text.firstIndex(of: ":") == colon {
            guard let parsed = UInt16(text[text.index(after: colon)...]) else { throw STUNClientError.cannotResolve(text) }
            host = text[..<colon]
            port = parsed
        }
        guard !host.isEmpty, let resolved = try? SocketAddress.makeAddressResolvingHost(String(host), port: Int(port)),
              let address = TransportAddress(resolved) else { throw STUNClientError.cannotResolve(text) }
        return address
    }
}
