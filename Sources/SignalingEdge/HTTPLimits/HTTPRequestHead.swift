/// The parts of an HTTP/1.1 request head (RFC 9112) that decide where the request ends and whether it may go on
/// to a route: the whole head is checked here, strictly, before the framework's parser sees a byte of it.
struct HTTPRequestHead: Sendable, Equatable {
    enum Body: Sendable, Equatable {
        case none
        case length(Int)
        case chunked
    }

    var method: String
    var body: Body
    /// A WebSocket upgrade: after the head, the connection's bytes are frames, not requests.
    var upgradesToWebSocket: Bool
    var host: String?
    var origin: String?

    /// Parses a complete head (as found by `end(in:)`).
    static func parse(_ bytes: some Collection<UInt8>, limits: HTTPRequestLimits) -> Result<HTTPRequestHead, HTTPRefusal> {
        var lines: [ArraySlice<UInt8>] = []
        var current: [UInt8] = []
        for byte in bytes {
            if byte == UInt8(ascii: "\n") {
                if current.last == UInt8(ascii: "\r") { current.removeLast() }
                lines.append(current[...])
                current.removeAll(keepingCapacity: true)
            } else {
                current.append(byte)
            }
        }
        var leading = 0
        while lines.first?.isEmpty == true {
            lines.removeFirst()
            leading += 1
        }
        if lines.last?.isEmpty == true { lines.removeLast() }
        guard leading <= 4, let requestLine = lines.first else { return .failure(.badRequest("no request line")) }
        let fields = lines.dropFirst()
        guard fields.count <= limits.maxHeaderCount else {
            return .failure(.headerTooLarge("more than \(limits.maxHeaderCount) header fields"))
        }

        // request-line = method SP request-target SP HTTP-version
        let parts = requestLine.split(separator: UInt8(ascii: " "), omittingEmptySubsequences: false)
        guard parts.count == 3, !parts[0].isEmpty, parts[0].allSatisfy(isTokenByte),
              !parts[1].isEmpty, parts[1].allSatisfy({ $0 > 0x20 && $0 < 0x7F }) else {
            return .failure(.badRequest("malformed request line"))
        }
        let version = String(decoding: parts[2], as: UTF8.self)
        guard version == "HTTP/1.1" || version == "HTTP/1.0" else {
            if version == "HTTP/2.0" { return .failure(.badRequest("HTTP/2 is not spoken here; use HTTP/1.1")) }
            return .failure(.badRequest("unsupported HTTP version"))
        }
        let method = String(decoding: parts[0], as: UTF8.self)

        var contentLength: Int?
        var transferEncoding: [String] = []
        var hosts = 0
        var host: String?
        var origin: String?
        var upgrade = false
        var connectionUpgrade = false
        for line in fields {
            guard let first = line.first, first != UInt8(ascii: " "), first != UInt8(ascii: "\t") else {
                return .failure(.badRequest("obsolete line folding in header fields"))
            }
            guard let colon = line.firstIndex(of: UInt8(ascii: ":")) else {
                return .failure(.badRequest("header field without a colon"))
            }
            let name = line[line.startIndex..<colon]
            guard !name.isEmpty, name.allSatisfy(isTokenByte) else { return .failure(.badRequest("malformed header field name")) }
            let rawValue = line[line.index(after: colon)...]
            guard rawValue.allSatisfy({ $0 == UInt8(ascii: "\t") || ($0 >= 0x20 && $0 != 0x7F) }) else {
                return .failure(.badRequest("control character in a header field value"))
            }
            let lowerName = String(decoding: name, as: UTF8.self).lowercased()
            let value = String(decoding: rawValue, as: UTF8.self).trimmingSpaces
            switch lowerName {
            case "content-length":
                // Repeated or comma-listed values must all agree (RFC 9110 §8.6); anything but digits is refused.
                for item in value.split(separator: ",", omittingEmptySubsequences: false) {
                    let digits = item.trimmingSpaces
                    guard !digits.isEmpty, digits.count <= 15, digits.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }),
                          let length = Int(digits) else {
                        return .failure(.badRequest("Content-Length is not a number"))
                    }
                    if let contentLength, contentLength != length {
                        return .failure(.badRequest("conflicting Content-Length values"))
                    }
                    contentLength = length
                }
            case "transfer-encoding":
                transferEncoding += value.lowercased().split(separator: ",").map { $0.trimmingSpaces }
            case "host":
                hosts += 1
                host = value
            case "origin":
                origin = value
            case "upgrade":
                upgrade = upgrade || value.lowercased().split(separator: ",").contains { $0.trimmingSpaces == "websocket" }
            case "connection":
                connectionUpgrade = connectionUpgrade
                    || value.lowercased().split(separator: ",").contains { $0.trimmingSpaces == "upgrade" }
            default:
                break
            }
        }
        if version == "HTTP/1.1", hosts != 1 {
            return .failure(.badRequest(hosts == 0 ? "Host header missing" : "more than one Host header"))
        }
        if hosts > 1 { return .failure(.badRequest("more than one Host header")) }

        let body: Body
        if !transferEncoding.isEmpty {
            // Both framings at once is the classic request-smuggling shape (RFC 9112 §6.3): refuse it outright.
            guard contentLength == nil else { return .failure(.badRequest("both Content-Length and Transfer-Encoding")) }
            guard transferEncoding == ["chunked"], version == "HTTP/1.1" else {
                return .failure(.badRequest("unsupported Transfer-Encoding"))
            }
            body = .chunked
        } else if let contentLength {
            guard contentLength <= limits.maxBodyBytes else { return .failure(.bodyTooLarge) }
            body = contentLength == 0 ? .none : .length(contentLength)
        } else {
            body = .none
        }
        let webSocket = method == "GET" && upgrade && connectionUpgrade
        return .success(HTTPRequestHead(method: method, body: body, upgradesToWebSocket: webSocket, host: host, origin: origin))
    }

    /// tchar (RFC 9110 §5.6.2).
    private static func isTokenByte(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "0")...UInt8(ascii: "9"):
            true
        case UInt8(ascii: "!"), UInt8(ascii: "#"), UInt8(ascii: "$"), UInt8(ascii: "%"), UInt8(ascii: "&"), UInt8(ascii: "'"),
             UInt8(ascii: "*"), UInt8(ascii: "+"), UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "^"), UInt8(ascii: "_"),
             UInt8(ascii: "`"), UInt8(ascii: "|"), UInt8(ascii: "~"):
            true
        default:
            false
        }
    }
}

extension StringProtocol {
    fileprivate var trimmingSpaces: String {
        let scalars = unicodeScalars.drop { $0 == " " || $0 == "\t" }.reversed().drop { $0 == " " || $0 == "\t" }
        return String(String.UnicodeScalarView(scalars.reversed()))
    }
}

/// Finds where a request head ends as its bytes arrive, one read at a time, without looking at a byte twice (a
/// client trickling one byte per packet must not make the server rescan the head each time).
struct HTTPHeadScanner: Sendable {
    /// Bytes looked at so far.
    private(set) var scanned = 0
    /// Line feeds so far: with `maxHeaderCount`, refuses 10,000 tiny fields before their blank line comes.
    private(set) var lines = 0
    private var lineStart = 0
    private var previous: UInt8 = 0
    private var sawRequestLine = false

    /// Scans `bytes`, which continue the head where the last call stopped. Returns how many of them belong to the
    /// head once its blank line is found (leading blank lines, which RFC 9112 §2.2 lets a server skip, included).
    mutating func scan(_ bytes: some Sequence<UInt8>) -> Int? {
        var taken = 0
        for byte in bytes {
            taken += 1
            defer { previous = byte; scanned += 1 }
            guard byte == UInt8(ascii: "\n") else { continue }
            lines += 1
            let length = scanned - lineStart
            let blank = length == 0 || (length == 1 && previous == UInt8(ascii: "\r"))
            lineStart = scanned + 1
            if blank, sawRequestLine { return taken }
            if !blank { sawRequestLine = true }
        }
        return nil
    }
}
