#if canImport(Glibc)
import Glibc
#endif
import NIOCore
import STUN

/// Whether a port is free for a group of listeners that share it (SO_REUSEADDR, SO_REUSEPORT). The group's sockets
/// share the port among themselves, and the kernel lets other sockets join them the same way: a second server of
/// the same user started on the same port by mistake would be handed a share of the clients instead of an error,
/// and for port 0 the kernel may even pick a UDP port that other SO_REUSEADDR sockets hold. A plain socket bound
/// first, without those flags, finds out: it fails with EADDRINUSE while anything else holds the port, and for port
/// 0 it gets one that nothing holds. It is closed at once, so two servers started at the very same moment could
/// still both pass; one that is already running is always seen.
package enum ListenerPortProbe {
    package enum Kind {
        /// TCP: SO_REUSEADDR as on the listeners, so connections of an earlier run in TIME_WAIT are no conflict.
        case stream
        /// UDP: no sharing flag, so any socket bound to the port is a conflict; IPv6 only on an IPv6 address, as the
        /// UDP listeners are.
        case datagram
    }

    /// `address` once checked free, with port 0 replaced by a port that nothing held; throws the bind error
    /// (EADDRINUSE, EACCES, …) when it cannot be taken.
    package static func claim(_ address: TransportAddress, _ kind: Kind) throws -> TransportAddress {
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
            // Not for port 0: the kernel then picks a port without even TIME_WAIT connections on it.
            if address.port != 0 {
                _ = setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
            }
        case .datagram:
            if family == AF_INET6 {
                _ = setsockopt(fd, Int32(IPPROTO_IPV6), IPV6_V6ONLY, &one, socklen_t(MemoryLayout<Int32>.size))
            }
        }
        let bound = socketAddress.withSockAddr { bind(fd, $0, socklen_t($1)) }
        guard bound == 0 else { throw IOError(errnoCode: errno, reason: "bind") }
        guard address.port == 0 else { return address }
        var storage = sockaddr_storage()
        var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
        let named = withUnsafeMutablePointer(to: &storage) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        guard named == 0 else { throw IOError(errnoCode: errno, reason: "getsockname") }
        let port = withUnsafePointer(to: &storage) { pointer in
            family == AF_INET6
                ? pointer.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { UInt16(bigEndian: $0.pointee.sin6_port) }
                : pointer.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { UInt16(bigEndian: $0.pointee.sin_port) }
        }
        return TransportAddress(ip: address.ip, port: port)
    }
}
