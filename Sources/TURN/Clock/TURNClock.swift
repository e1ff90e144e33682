#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

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

/// The real clock.
public struct SystemTURNClock: TURNClock {
    public init() {}

    public func now() -> Timestamp {
        return Timestamp(nanoseconds: SystemTURNClock.monotonicNanoseconds())
    }

    public func unixSeconds() -> Int64 {
        Int64(SystemTURNClock.wallSeconds())
    }

    private static func monotonicNanoseconds() -> UInt64 {
        var spec = timespec()
        clock_gettime(CLOCK_MONOTONIC, &spec)
        return UInt64(spec.tv_sec) * 1_000_000_000 + UInt64(spec.tv_nsec)
    }

    private static func wallSeconds() -> Int {
        var spec = timespec()
        clock_gettime(CLOCK_REALTIME, &spec)
        return spec.tv_sec
    }
}
