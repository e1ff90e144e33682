import STUN

/// Which relay ports are in use, per relay IP, inside the configured range; and EVEN-PORT reservations.
///
/// The pool only books ports: the edge binds the socket and tells the core when that fails (then the port is
/// skipped for a while, since someone outside us holds it).
struct RelayPortPool {
    struct Reservation {
        var address: TransportAddress
        var expiry: Timestamp
    }

    let range: ClosedRange<UInt16>
    private var used: [IPAddress: Set<UInt16>] = [:]
    private var unusable: [TransportAddress: Timestamp] = [:]
    private(set) var reservations: [UInt64: Reservation] = [:]
    private var generator = BufferedSystemRandom()

    init(range: ClosedRange<UInt16>) {
        self.range = range
    }

    var bookedCount: Int { used.values.reduce(0) { $0 + $1.count } }

    /// Books a free port on `ip`: any port, an even one, or an even one whose successor is also free (then the
    /// successor is booked too and returned as a reservation).
    mutating func book(on ip: IPAddress, even: Bool, reserveNext: Bool, now: Timestamp) -> TransportAddress? {
        let count = Int(range.upperBound) - Int(range.lowerBound) + 1
        let start = Int.random(in: 0..<count, using: &generator)
        // Read and updated in place: a local copy of the set cost O(open allocations) per booking.
        func taken(_ port: UInt16) -> Bool { used[ip]?.contains(port) ?? false }
        for offset in 0..<count {
            let port = UInt16(Int(range.lowerBound) + (start + offset) % count)
            if taken(port) || isUnusable(TransportAddress(ip: ip, port: port), now: now) { continue }
            if even && port % 2 != 0 { continue }
            if reserveNext {
                guard port < range.upperBound, !taken(port + 1),
                      !isUnusable(TransportAddress(ip: ip, port: port + 1), now: now) else { continue }
                used[ip, default: []].insert(port + 1)
            }
            used[ip, default: []].insert(port)
            return TransportAddress(ip: ip, port: port)
        }
        return nil
    }

    mutating func reserve(_ address: TransportAddress, until expiry: Timestamp) -> UInt64 {
        var token = generator.next() as UInt64
        while reservations[token] != nil { token = generator.next() }
        reservations[token] = Reservation(address: address, expiry: expiry)
        return token
    }

    /// Takes a reservation made by an earlier EVEN-PORT allocation; its port is already booked.
    mutating func claim(token: UInt64, now: Timestamp) -> TransportAddress? {
        guard let reservation = reservations.removeValue(forKey: token), now < reservation.expiry else { return nil }
        return reservation.address
    }

    mutating func release(_ address: TransportAddress) {
        used[address.ip]?.remove(address.port)
        if used[address.ip]?.isEmpty == true { used[address.ip] = nil }
    }

    /// A bind failed: skip this port for a minute.
    mutating func markUnusable(_ address: TransportAddress, now: Timestamp) {
        release(address)
        unusable[address] = now.adding(seconds: 60)
    }

    private func isUnusable(_ address: TransportAddress, now: Timestamp) -> Bool {
        guard let until = unusable[address] else { return false }
        return now < until
    }

    /// Drops expired reservations (releasing their ports) and expired unusable marks.
    mutating func expire(now: Timestamp) {
        for (token, reservation) in reservations where !(now < reservation.expiry) {
            reservations[token] = nil
            release(reservation.address)
        }
        unusable = unusable.filter { now < $0.value }
    }
}
