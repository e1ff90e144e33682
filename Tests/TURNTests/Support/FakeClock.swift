import TURN

/// A clock the test moves by hand. Monotonic and wall time advance together.
final class FakeClock: TURNClock, @unchecked Sendable {
    private(set) var monotonic: UInt64 = 1_000_000_000_000
    private(set) var unix: Int64 = 1_800_000_000

    func now() -> Timestamp { Timestamp(nanoseconds: monotonic) }
    func unixSeconds() -> Int64 { unix }

    func advance(seconds: Double) {
        monotonic += UInt64(seconds * 1e9)
        unix = 1_800_000_000 + Int64((monotonic - 1_000_000_000_000) / 1_000_000_000)
    }
}
