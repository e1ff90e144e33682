/// A strict RFC 8259 parser over UTF-8 bytes, for client frames.
///
/// Foundation's `JSONDecoder` into `JSONValue` was a quarter of the server's CPU per signaling frame. This parser
/// builds `JSONValue` directly, bounds nesting, and reports where each top-level member's value sits in the text so
/// that `data` can be forwarded as the sender wrote it, without re-encoding.
public struct JSONParseError: Error, Sendable, Equatable {
    public var offset: Int
    public var reason: String
}

public enum JSONParser {
    public static let maxDepth = 64

    /// Parses any JSON text.
    public static func parse(_ text: String) throws(JSONParseError) -> JSONValue {
        var text = text
        let result = text.withUTF8 { bytes -> Result<JSONValue, JSONParseError> in
            var cursor = Cursor(bytes: bytes)
            do {
                return .success(try cursor.document())
            } catch let error as JSONParseError {
                return .failure(error)
            } catch {
                return .failure(JSONParseError(offset: 0, reason: "\(error)"))
            }
        }
        return try result.get()
    }

    /// Parses a JSON object and returns, besides its members, the exact text of the values of `rawKeys`.
    public static func parseObject(_ text: String, keepingRawTextOf rawKeys: Set<String> = []) throws(JSONParseError) -> (members: [String: JSONValue], raw: [String: String]) {
        var members: [String: JSONValue] = [:]
        var raw: [String: String] = [:]
        try forEachMember(of: text) { (name, cursor) throws(JSONParseError) in
            let start = cursor.index
            members[name] = try cursor.value(depth: 1)
            guard rawKeys.contains(name) else { return }
            raw[name] = String(decoding: UnsafeBufferPointer(rebasing: cursor.bytes[start..<cursor.index]), as: UTF8.self)
        }
        return (members, raw)
    }

    /// Walks the members of a top-level object: `member` gets each name and a cursor at its value, and must consume
    /// the value (`value(depth: 1)` or `skipValue(depth: 1)`). Nothing is built for the members it skips.
    static func forEachMember(of text: String,
                              _ member: (String, inout Cursor) throws(JSONParseError) -> Void) throws(JSONParseError) {
        var text = text
        let result = text.withUTF8 { bytes -> JSONParseError? in
            var cursor = Cursor(bytes: bytes)
            do {
                cursor.skipWhitespace()
                guard cursor.peek() == UInt8(ascii: "{") else { throw cursor.error("expected an object") }
                if try !cursor.open(depth: 1, closer: UInt8(ascii: "}")) {
                    repeat {
                        let name = try cursor.memberName()
                        try member(name, &cursor)
                    } while try !cursor.closes(UInt8(ascii: "}"))
                }
                cursor.skipWhitespace()
                guard cursor.atEnd else { throw cursor.error("unexpected text after the value") }
                return nil
            } catch let error as JSONParseError {
                return error
            } catch {
                return JSONParseError(offset: 0, reason: "\(error)")
            }
        }
        if let result { throw result }
    }

    struct Cursor {
        let bytes: UnsafeBufferPointer<UInt8>
        var index = 0

        init(bytes: UnsafeBufferPointer<UInt8>) { self.bytes = bytes }

        var atEnd: Bool { index >= bytes.count }
        func peek() -> UInt8? { index < bytes.count ? bytes[index] : nil }
        func error(_ reason: String) -> JSONParseError { JSONParseError(offset: index, reason: reason) }

        mutating func skipWhitespace() {
            while index < bytes.count {
                switch bytes[index] {
                case 0x20, 0x09, 0x0A, 0x0D: index += 1
                default: return
                }
            }
        }

        mutating func document() throws(JSONParseError) -> JSONValue {
            let value = try self.value(depth: 0)
            skipWhitespace()
            guard atEnd else { throw error("unexpected text after the value") }
            return value
        }

        mutating func value(depth: Int) throws(JSONParseError) -> JSONValue {
            skipWhitespace()
            guard let byte = peek() else { throw error("unexpected end") }
            switch byte {
            case UInt8(ascii: "{"): return try object(depth: depth + 1)
            case UInt8(ascii: "["): return try array(depth: depth + 1)
            case UInt8(ascii: "\""): return .string(try string())
            case UInt8(ascii: "t"): try literal("true"); return .bool(true)
            case UInt8(ascii: "f"): try literal("false"); return .bool(false)
            case UInt8(ascii: "n"): try literal("null"); return .null
            case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return .number(try number())
            default: throw error("unexpected character")
            }
        }

        mutating func literal(_ word: StaticString) throws(JSONParseError) {
            let count = word.utf8CodeUnitCount
            guard index + count <= bytes.count else { throw error("unexpected end") }
            for offset in 0..<count where bytes[index + offset] != word.utf8Start[offset] {
                throw error("unexpected character")
            }
            index += count
        }

        mutating func object(depth: Int) throws(JSONParseError) -> JSONValue {
            var members: [String: JSONValue] = [:]
            guard try !open(depth: depth, closer: UInt8(ascii: "}")) else { return .object(members) }
            repeat {
                let key = try memberName()
                members[key] = try value(depth: depth)
            } while try !closes(UInt8(ascii: "}"))
            return .object(members)
        }

        /// Consumes a container's opening bracket and the whitespace after it; true when it is empty (its closer is
        /// consumed too).
        mutating func open(depth: Int, closer: UInt8) throws(JSONParseError) -> Bool {
            guard depth <= JSONParser.maxDepth else { throw error("nested deeper than \(JSONParser.maxDepth)") }
            index += 1
            skipWhitespace()
            guard peek() == closer else { return false }
            index += 1
            return true
        }

        /// A member's name and the colon after it; `keep` false checks the name without making a `String`.
        @discardableResult
        mutating func memberName(keep: Bool = true) throws(JSONParseError) -> String {
            skipWhitespace()
            guard peek() == UInt8(ascii: "\"") else { throw error("expected a member name") }
            var name = ""
            if keep { name = try string() } else { try skipString() }
            skipWhitespace()
            guard peek() == UInt8(ascii: ":") else { throw error("expected ':'") }
            index += 1
            skipWhitespace()
            return name
        }

        /// After a member or element: false at a `,` (another follows), true at `closer` (the container ends).
        mutating func closes(_ closer: UInt8) throws(JSONParseError) -> Bool {
            skipWhitespace()
            switch peek() {
            case UInt8(ascii: ","): index += 1; return false
            case closer: index += 1; return true
            default: throw error(closer == UInt8(ascii: "}") ? "expected ',' or '}'" : "expected ',' or ']'")
            }
        }

        /// Checks one value as strictly as `value(depth:)` does, without building it; returns where it sat.
        @discardableResult
        mutating func skipValue(depth: Int) throws(JSONParseError) -> Range<Int> {
            skipWhitespace()
            let start = index
            guard let byte = peek() else { throw error("unexpected end") }
            switch byte {
            case UInt8(ascii: "{"):
                if try !open(depth: depth + 1, closer: UInt8(ascii: "}")) {
                    repeat {
                        try memberName(keep: false)
                        try skipValue(depth: depth + 1)
                    } while try !closes(UInt8(ascii: "}"))
                }
            case UInt8(ascii: "["):
                if try !open(depth: depth + 1, closer: UInt8(ascii: "]")) {
                    repeat { try skipValue(depth: depth + 1) } while try !closes(UInt8(ascii: "]"))
                }
            case UInt8(ascii: "\""): try skipString()
            case UInt8(ascii: "t"): try literal("true")
            case UInt8(ascii: "f"): try literal("false")
            case UInt8(ascii: "n"): try literal("null")
            case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): try skipNumber()
            default: throw error("unexpected character")
            }
            return start..<index
        }

        /// A string checked as `string()` checks it; escaped ones take that path, the rest are only scanned.
        mutating func skipString() throws(JSONParseError) {
            let start = index
            index += 1
            while index < bytes.count {
                let byte = bytes[index]
                if byte == UInt8(ascii: "\"") {
                    index += 1
                    return
                }
                if byte == UInt8(ascii: "\\") {
                    index = start
                    _ = try string()
                    return
                }
                guard byte >= 0x20 else { throw error("control character in a string") }
                index += 1
            }
            throw error("unterminated string")
        }

        /// A number checked as `number()` checks it. Only one with an exponent or a long integer part can overflow a
        /// `Double`; those are converted to find out.
        mutating func skipNumber() throws(JSONParseError) {
            let (start, mayOverflow) = try numberGrammar()
            guard mayOverflow else { return }
            _ = try double(from: start)
        }

        /// Reads a number's text by RFC 8259's grammar; says where it began and whether it could be out of range.
        private mutating func numberGrammar() throws(JSONParseError) -> (start: Int, mayOverflow: Bool) {
            let start = index
            if peek() == UInt8(ascii: "-") { index += 1 }
            guard let first = peek(), isDigit(first) else { throw error("bad number") }
            if first == UInt8(ascii: "0") {
                index += 1
            } else {
                while let byte = peek(), isDigit(byte) { index += 1 }
            }
            var mayOverflow = index - start > 300
            if peek() == UInt8(ascii: ".") {
                index += 1
                guard let byte = peek(), isDigit(byte) else { throw error("bad number") }
                while let byte = peek(), isDigit(byte) { index += 1 }
            }
            if peek() == UInt8(ascii: "e") || peek() == UInt8(ascii: "E") {
                mayOverflow = true
                index += 1
                if peek() == UInt8(ascii: "+") || peek() == UInt8(ascii: "-") { index += 1 }
                guard let byte = peek(), isDigit(byte) else { throw error("bad number") }
                while let byte = peek(), isDigit(byte) { index += 1 }
            }
            return (start, mayOverflow)
        }

        private func double(from start: Int) throws(JSONParseError) -> Double {
            let text = String(decoding: UnsafeBufferPointer(rebasing: bytes[start..<index]), as: UTF8.self)
            guard let value = Double(text), value.isFinite else { throw error("number out of range") }
            return value
        }

        mutating func array(depth: Int) throws(JSONParseError) -> JSONValue {
            var elements: [JSONValue] = []
            guard try !open(depth: depth, closer: UInt8(ascii: "]")) else { return .array(elements) }
            repeat { elements.append(try value(depth: depth)) } while try !closes(UInt8(ascii: "]"))
            return .array(elements)
        }

        mutating func string() throws(JSONParseError) -> String {
            index += 1  // opening quote
            let start = index
            // Fast path: no escapes.
            while index < bytes.count {
                let byte = bytes[index]
                if byte == UInt8(ascii: "\"") {
                    defer { index += 1 }
                    return String(decoding: UnsafeBufferPointer(rebasing: bytes[start..<index]), as: UTF8.self)
                }
                if byte == UInt8(ascii: "\\") { break }
                guard byte >= 0x20 else { throw error("control character in a string") }
                index += 1
            }
            var scalars = Array(bytes[start..<index])
            while index < bytes.count {
                let byte = bytes[index]
                switch byte {
                case UInt8(ascii: "\""):
                    index += 1
                    return String(decoding: scalars, as: UTF8.self)
                case UInt8(ascii: "\\"):
                    index += 1
                    guard let escape = peek() else { throw error("unexpected end") }
                    index += 1
                    switch escape {
                    case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): scalars.append(escape)
                    case UInt8(ascii: "b"): scalars.append(0x08)
                    case UInt8(ascii: "f"): scalars.append(0x0C)
                    case UInt8(ascii: "n"): scalars.append(0x0A)
                    case UInt8(ascii: "r"): scalars.append(0x0D)
                    case UInt8(ascii: "t"): scalars.append(0x09)
                    case UInt8(ascii: "u"):
                        var code = try hex4()
                        if (0xD800...0xDBFF).contains(code) {
                            guard peek() == UInt8(ascii: "\\"), index + 1 < bytes.count, bytes[index + 1] == UInt8(ascii: "u") else {
                                throw error("lone surrogate")
                            }
                            index += 2
                            let low = try hex4()
                            guard (0xDC00...0xDFFF).contains(low) else { throw error("lone surrogate") }
                            code = 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00)
                        } else if (0xDC00...0xDFFF).contains(code) {
                            throw error("lone surrogate")
                        }
                        scalars.append(contentsOf: String(Character(Unicode.Scalar(code)!)).utf8)
                    default:
                        throw error("bad escape")
                    }
                default:
                    guard byte >= 0x20 else { throw error("control character in a string") }
                    scalars.append(byte)
                    index += 1
                }
            }
            throw error("unterminated string")
        }

        mutating func hex4() throws(JSONParseError) -> UInt32 {
            guard index + 4 <= bytes.count else { throw error("unexpected end") }
            var value: UInt32 = 0
            for _ in 0..<4 {
                let byte = bytes[index]
                let digit: UInt8
                switch byte {
                case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = byte - UInt8(ascii: "0")
                case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = byte - UInt8(ascii: "a") + 10
                case UInt8(ascii: "A")...UInt8(ascii: "F"): digit = byte - UInt8(ascii: "A") + 10
                default: throw error("bad \\u escape")
                }
                value = value << 4 | UInt32(digit)
                index += 1
            }
            return value
        }

        mutating func number() throws(JSONParseError) -> Double {
            let (start, _) = try numberGrammar()
            return try double(from: start)
        }

        func isDigit(_ byte: UInt8) -> Bool { byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9") }
    }
}
