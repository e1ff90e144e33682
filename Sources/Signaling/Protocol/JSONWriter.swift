/// Writes JSON text for server frames. Hand-written rather than JSONEncoder because frames are built on every
/// relayed signal and their field order should be stable (type first) for people reading logs and captures.
struct JSONWriter {
    private(set) var text: String
    private var first = true

    init() {
        text = "{"
        // One signal frame's envelope and a typical SDP fit; growing the string mid-frame copied it.
        text.reserveCapacity(512)
    }

    private mutating func key(_ name: String) {
        if !first { text += "," }
        first = false
        JSONWriter.appendString(name, to: &text)
        text += ":"
    }

    mutating func field(_ name: String, _ value: String) {
        key(name)
        JSONWriter.appendString(value, to: &text)
    }

    mutating func field(_ name: String, _ value: Int) {
        key(name)
        text += String(value)
    }

    mutating func field(_ name: String, _ value: UInt64) {
        key(name)
        text += String(value)
    }

    mutating func field(_ name: String, _ value: Bool) {
        key(name)
        text += value ? "true" : "false"
    }

    mutating func field(_ name: String, _ value: JSONValue) {
        key(name)
        JSONWriter.append(value, to: &text)
    }

    /// A value already serialised as JSON.
    mutating func field(_ name: String, raw: String) {
        key(name)
        text += raw
    }

    mutating func finish() -> String {
        text += "}"
        return text
    }

    static func append(_ value: JSONValue, to text: inout String) {
        switch value {
        case .null: text += "null"
        case .bool(let bool): text += bool ? "true" : "false"
        case .number(let number):
            if number.isFinite, number == number.rounded(), abs(number) < 1e15 {
                text += String(Int64(number))
            } else if number.isFinite {
                text += "\(number)"
            } else {
                text += "null"
            }
        case .string(let string): appendString(string, to: &text)
        case .array(let array):
            text += "["
            for (index, element) in array.enumerated() {
                if index > 0 { text += "," }
                append(element, to: &text)
            }
            text += "]"
        case .object(let object):
            text += "{"
            for (index, key) in object.keys.sorted().enumerated() {
                if index > 0 { text += "," }
                appendString(key, to: &text)
                text += ":"
                append(object[key]!, to: &text)
            }
            text += "}"
        }
    }

    static func appendString(_ string: String, to text: inout String) {
        // Ids, rooms and types need no escaping: appended whole. Scalar by scalar, this was a tenth of the signaling
        // loop's CPU at 50,000 frames/s.
        if !needsEscaping(string) {
            text += "\""
            text += string
            text += "\""
            return
        }
        text += "\""
        for scalar in string.unicodeScalars {
            switch scalar {
            case "\"": text += "\\\""
            case "\\": text += "\\\\"
            case "\n": text += "\\n"
            case "\r": text += "\\r"
            case "\t": text += "\\t"
            case "\u{2028}": text += "\\u2028"
            case "\u{2029}": text += "\\u2029"
            default:
                if scalar.value < 0x20 {
                    let hex = String(scalar.value, radix: 16)
                    text += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
                } else {
                    text.unicodeScalars.append(scalar)
                }
            }
        }
        text += "\""
    }

    /// Quotes, backslashes, control characters, and U+2028/U+2029 (lead byte 0xE2; others with that lead byte merely
    /// take the slow path) must be escaped.
    private static func needsEscaping(_ string: String) -> Bool {
        string.utf8.contains { byte in byte < 0x20 || byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "\\") || byte == 0xE2 }
    }

    static func serialise(_ value: JSONValue) -> String {
        var text = ""
        append(value, to: &text)
        return text
    }
}

extension JSONValue {
    /// Compact JSON text of this value.
    public var serialised: String { JSONWriter.serialise(self) }
}
