import NIOConcurrencyHelpers
import NIOCore
import STUN

/// Counts the open connections of one listener, in total and per source address, so that one client (or one
/// flood) cannot take every descriptor of the process. Connections of one listener live on several event loops,
/// so the counts sit behind one lock; only accept and close touch it, never the bytes in between.
package final class ConnectionLimiter: Sendable {
    package enum Refusal: Error, Sendable, Equatable {
        case totalReached
        case perAddressReached
    }

    /// A granted connection; give it back with `release` exactly once (each call counts one connection gone).
    package struct Ticket: Sendable {
        fileprivate let key: IPAddress?
    }

    private struct Counts {
        var total = 0
        var perAddress: [IPAddress: Int] = [:]
    }

    package let maxTotal: Int
    package let maxPerAddress: Int
    private let counts = NIOLockedValueBox(Counts())

    package init(maxTotal: Int, maxPerAddress: Int) {
        self.maxTotal = maxTotal
        self.maxPerAddress = maxPerAddress
    }

    /// Counts a new connection from `remote` when both bounds allow it. A connection whose peer address cannot
    /// be read (a Unix socket) counts towards the total only.
    package func admit(_ remote: SocketAddress?) -> Result<Ticket, Refusal> {
        let key = remote.flatMap(TransportAddress.init).map { Self.key(for: $0.ip) }
        return counts.withLockedValue { counts in
            if counts.total >= maxTotal { return .failure(.totalReached) }
            if let key {
                let current = counts.perAddress[key, default: 0]
                if current >= maxPerAddress { return .failure(.perAddressReached) }
                counts.perAddress[key] = current + 1
            }
            counts.total += 1
            return .success(Ticket(key: key))
        }
    }

    package func release(_ ticket: Ticket) {
        counts.withLockedValue { counts in
            counts.total -= 1
            guard let key = ticket.key, let current = counts.perAddress[key] else { return }
            counts.perAddress[key] = current > 1 ? current - 1 : nil
        }
    }

    /// One IPv6 client usually holds a whole /64, so IPv6 addresses count per /64 (IPv4-mapped ones per address).
    package static func key(for ip: IPAddress) -> IPAddress {
        guard case .v6(let high, let low) = ip, !(high == 0 && low >> 32 == 0xFFFF) else { return ip }
        return .v6(high: high, low: 0)
    }

    /// Open connections (tests and metrics).
    package var open: Int { counts.withLockedValue { $0.total } }
    /// Addresses with at least one open connection: returns to 0 when every connection has closed.
    package var addresses: Int { counts.withLockedValue { $0.perAddress.count } }
}
