#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import TURN

/// The real clock, which the edge hands to the TURN core (the core itself reads no clock).
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
