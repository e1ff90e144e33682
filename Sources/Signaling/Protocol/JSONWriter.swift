/// Writes JSON text for server frames. Hand-written rather than JSONEncoder because frames are built on every
/// relayed signal and their field order should be stable (type first) for people reading logs and captures.
///
/// It writes UTF-8 bytes into a buffer the caller may keep between frames, and makes one `String` at the end:
/// appending to a `String` piece by piece checked its capacity and flags on every append.
struct JSONWriter {
    private var bytes: [UInt8]
    private var first = true

    /// Takes `scratch` over (moved out, so that it stays uniquely referenced and keeps its capacity); `finish` hands
    /// it back.
    init(reusing scratch: inout [UInt8]) {
        bytes = []
        swap(&bytes, &scratch)
        bytes.removeAll(keepingCapacity: true)
        // One signal frame's envelope and a typical SDP fit.
        bytes.reserveCapacity(512)
        bytes.append(UInt8(ascii: "{"))
    }

    private mutating func key(_ name: StaticString) {
        if !first { bytes.append(UInt8(ascii: ",")) }
        first = false
        bytes.append(UInt8(ascii: "\""))
        bytes.append(contentsOf: UnsafeBufferPointer(start: name.utf8Start, count: name.utf8CodeUnitCount))
        bytes.append(UInt8(ascii: "\""))
        bytes.append(UInt8(ascii: ":"))
    }

    mutating func field(_ name: StaticString, _ value: String) {
        key(name)
        JSONWriter.appendString(value, to: &bytes)
    }

    mutating func field(_ name: StaticString, _ value: Int) {
        key(name)
        if value < 0 { bytes.append(UInt8(ascii: "-")) }
        JSONWriter.appendDigits(value.magnitude, to: &bytes)
    }

    mutating func field(_ name: StaticString, _ value: UInt64) {
        key(name)
        JSONWriter.appendDigits(UInt(value), to: &bytes)
    }

    mutating func field(_ name: StaticString, _ value: Bool) {
        key(name)
        bytes.append(contentsOf: (value ? "true" : "false").utf8)
    }

    mutating func field(_ name: StaticString, _ value: JSONValue) {
        key(name)
        JSONWriter.append(value, to: &bytes)
    }

    /// A value already serialised as JSON.
    mutating func field(_ name: StaticString, raw: String) {
        key(name)
        bytes.append(contentsOf: raw.utf8)
    }

    /// The frame's text; `scratch` gets the buffer back for the next frame.
    mutating func finish(returning scratch: inout [UInt8]) -> String {
        bytes.append(UInt8(ascii: "}"))
        let text = String(decoding: bytes, as: UTF8.self)
        swap(&bytes, &scratch)
        return text
    }

    static func appendDigits(_ value: UInt, to bytes: inout [UInt8]) {
        guard value >= 10 else { return bytes.append(UInt8(ascii: "0") + UInt8(value)) }
        appendDigits(value / 10, to: &bytes)
        bytes.append(UInt8(ascii: "0") + UInt8(value % 10))
    }

    static func append(_ value: JSONValue, to bytes: inout [UInt8]) {
        switch value {
        case .null: bytes.append(contentsOf: "null".utf8)
        case .bool(let bool): bytes.append(contentsOf: (bool ? "true" : "false").utf8)
        case .number(let number):
            if number.isFinite, number == number.rounded(), abs(number) < 1e15 {
                bytes.append(contentsOf: String(Int64(number)).utf8)
            } else if number.isFinite {
                bytes.append(contentsOf: "\(number)".utf8)
            } else {
                bytes.append(contentsOf: "null".utf8)
            }
        case .string(let string): appendString(string, to: &bytes)
        case .array(let array):
            bytes.append(UInt8(ascii: "["))
            for (index, element) in array.enumerated() {
                if index > 0 { bytes.append(UInt8(ascii: ",")) }
                append(element, to: &bytes)
            }
            bytes.append(UInt8(ascii: "]"))
        case .object(let object):
            bytes.append(UInt8(ascii: "{"))
            for (index, key) in object.keys.sorted().enumerated() {
                if index > 0 { bytes.append(UInt8(ascii: ",")) }
                appendString(key, to: &bytes)
                bytes.append(UInt8(ascii: ":"))
                append(object[key]!, to: &bytes)
            }
            bytes.append(UInt8(ascii: "}"))
        }
    }

    static func appendString(_ string: String, to bytes: inout [UInt8]) {
        // Ids, rooms and types need no escaping: copied whole, then checked where they landed.
        bytes.append(UInt8(ascii: "\""))
        let start = bytes.count
        bytes.append(contentsOf: string.utf8)
        if bytes[start...].contains(where: needsEscaping) {
            bytes.removeSubrange(start...)
            appendEscaped(string, to: &bytes)
        }
        bytes.append(UInt8(ascii: "\""))
    }

    private static func appendEscaped(_ string: String, to bytes: inout [UInt8]) {
        for scalar in string.unicodeScalars {
            switch scalar {
            case "\"": bytes.append(contentsOf: #"\""#.utf8)
            case "\\": bytes.append(contentsOf: #"\\"#.utf8)
            case "\n": bytes.append(contentsOf: #"\n"#.utf8)
            case "\r": bytes.append(contentsOf: #"\r"#.utf8)
            case "\t": bytes.append(contentsOf: #"\t"#.utf8)
            case "\u{2028}": bytes.append(contentsOf: #"\u2028"#.utf8)
            case "\u{2029}": bytes.append(contentsOf: #"\u2029"#.utf8)
            default:
                if scalar.value < 0x20 {
                    let hex = String(scalar.value, radix: 16)
                    bytes.append(contentsOf: ("\\u" + String(repeating: "0", count: 4 - hex.count) + hex).utf8)
                } else {
                    bytes.append(contentsOf: String(scalar).utf8)
                }
            }
        }
    }

    /// Quotes, backslashes, control characters, and U+2028/U+2029 (lead byte 0xE2; others with that lead byte merely
    /// take the slow path) must be escaped.
    private static func needsEscaping(_ byte: UInt8) -> Bool {
        byte < 0x20 || byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "\\") || byte == 0xE2
    }

    static func serialise(_ value: JSONValue) -> String {
        var bytes: [UInt8] = []
        append(value, to: &bytes)
        return String(decoding: bytes, as: UTF8.self)
    }
}

extension JSONValue {
    /// Compact JSON text of this value.
    public var serialised: String { JSONWriter.serialise(self) }
}
