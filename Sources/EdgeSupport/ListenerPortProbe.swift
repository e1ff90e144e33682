#if canImport(Glibc)
import Glibc
#endif
import NIOCore
import STUN

/// Whether a port is free for a group of SO_REUSEPORT listeners to bind. The group's sockets share the port among
/// themselves, and the kernel lets any other socket of the same user join them the same way: a second server
/// started on the same port by mistake would be handed a share of the clients instead of an error. A plain socket
/// bound first, without SO_REUSEPORT, finds out: it fails with EADDRINUSE while anything else holds the port.
package enum ListenerPortProbe {
    package enum Kind {
        /// TCP: SO_REUSEADDR as on the listeners, so connections of an earlier run in TIME_WAIT are no conflict.
        case stream
        /// UDP: no sharing flag, so any socket bound to the port is a conflict; IPv6 only on an IPv6 address, as the
        /// UDP listeners are.
        case datagram
    }

    /// Throws the bind error (EADDRINUSE, EACCES, …) when `address` cannot be taken; port 0 always can.
    package static func ensureFree(_ address: TransportAddress, _ kind: Kind) throws {
        guard address.port != 0 else { return }
        let socketAddress = address.socketAddress
        let family = socketAddress.protocol.rawValue
        #if canImport(Glibc)
        let type = Int32(kind == .stream ? SOCK_STREAM.rawValue : SOCK_DGRAM.rawValue)
        #else
        let type = kind == .stream ? SOCK_STREAM : SOCK_DGRAM
        #endif
        let fd = socket(family, type, 0)
        guard fd >= 0 else { throw IOError(errnoCode: errno, reason: "socket") }
        defer { close(fd) }
        var one: Int32 = 1
        switch kind {
        case .stream:
            _ = setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        case .datagram:
            if family == AF_INET6 {
                _ = setsockopt(fd, Int32(IPPROTO_IPV6), IPV6_V6ONLY, &one, socklen_t(MemoryLayout<Int32>.size))
            }
        }
        let bound = socketAddress.withSockAddr { bind(fd, $0, socklen_t($1)) }
        guard bound == 0 else { throw IOError(errnoCode: errno, reason: "bind") }
    }
}
