import STUN

/// Turns raw setting text into typed values; every refusal quotes the text it refused.
enum SettingParsers {
    static func port(_ text: String) throws(SettingProblem) -> UInt16 {
        guard let port = UInt16(text) else { throw SettingProblem("'\(text)' is not a port (0-65535)") }
        return port
    }

    static func ip(_ text: String) throws(SettingProblem) -> IPAddress {
        guard let ip = IPAddress(text) else { throw SettingProblem("'\(text)' is not an IPv4 or IPv6 address") }
        return ip
    }

    static func positive(_ text: String) throws(SettingProblem) -> Int {
        guard let value = Int(text), value > 0 else { throw SettingProblem("'\(text)' is not a positive integer") }
        return value
    }

    /// Microseconds from 0 to 10,000 (0 switches the feature off).
    static func microseconds(_ text: String) throws(SettingProblem) -> Int {
        guard let value = Int(text), (0...10_000).contains(value) else {
            throw SettingProblem("'\(text)' is not a whole number of microseconds from 0 to 10000")
        }
        return value
    }

    static func portRange(_ text: String) throws(SettingProblem) -> ClosedRange<UInt16> {
        let parts = text.split(separator: "-")
        guard parts.count == 2, let low = UInt16(parts[0]), let high = UInt16(parts[1]), low > 0, low <= high else {
            throw SettingProblem("'\(text)' is not MIN-MAX with 1 ≤ MIN ≤ MAX ≤ 65535")
        }
        return low...high
    }

    static func oneOf(_ text: String, _ choices: [String]) throws(SettingProblem) -> String {
        guard choices.contains(text) else { throw SettingProblem("'\(text)' is not one of \(choices.joined(separator: ", "))") }
        return text
    }

    /// Seconds as the flag takes them: whole numbers print without a fraction so that docs read `10`, not `10.0`.
    static func seconds(_ value: Double) -> String {
        value == value.rounded() && abs(value) < 1e15 ? String(Int(value)) : String(value)
    }
}
