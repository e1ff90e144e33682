/// Time as the TURN core sees it. Injected so that lifetimes, nonce expiry and REST credential expiry are tested
/// without sleeping.
public protocol TURNClock: Sendable {
    /// Monotonic time, for lifetimes and rate limits.
    func now() -> Timestamp
    /// Seconds since the Unix epoch, for TURN REST usernames (`expiry:user`) and nonce expiry.
    func unixSeconds() -> Int64
}

/// A monotonic instant in nanoseconds.
public struct Timestamp: Comparable, Hashable, Sendable {
    public var nanoseconds: UInt64

    public init(nanoseconds: UInt64) {
        self.nanoseconds = nanoseconds
    }

    public static func < (a: Timestamp, b: Timestamp) -> Bool { a.nanoseconds < b.nanoseconds }

    public func adding(seconds: UInt32) -> Timestamp {
        Timestamp(nanoseconds: nanoseconds &+ UInt64(seconds) * 1_000_000_000)
    }

    public func seconds(until later: Timestamp) -> Double {
        later.nanoseconds >= nanoseconds ? Double(later.nanoseconds - nanoseconds) / 1e9 : 0
    }
}
