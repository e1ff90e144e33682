import Glibc

/// The host's network interfaces and their IPv4 addresses (getifaddrs), to know where to attach and which
/// destinations are local.
enum NetworkInterfaces {
    struct Interface: Hashable {
        let name: String
        let index: UInt32
    }

    /// Each interface with its IPv4 addresses (host byte order).
    static func ipv4Addresses() -> [(Interface, UInt32)] {
        var list: UnsafeMutablePointer<ifaddrs>?
        guard getifaddrs(&list) == 0, let first = list else { return [] }
        defer { freeifaddrs(list) }
        var found: [(Interface, UInt32)] = []
        var cursor: UnsafeMutablePointer<ifaddrs>? = first
        while let entry = cursor {
            defer { cursor = entry.pointee.ifa_next }
            guard let address = entry.pointee.ifa_addr, address.pointee.sa_family == sa_family_t(AF_INET),
                  let name = entry.pointee.ifa_name else { continue }
            let ip = address.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { UInt32(bigEndian: $0.pointee.sin_addr.s_addr) }
            let interfaceName = String(cString: name)
            found.append((Interface(name: interfaceName, index: if_nametoindex(name)), ip))
        }
        return found
    }

    /// The interfaces carrying any of `addresses`; every interface with an IPv4 address for the wildcard (0).
    static func carrying(_ addresses: [UInt32]) -> [Interface] {
        var chosen: [Interface] = []
        for (interface, ip) in ipv4Addresses() where addresses.contains(0) || addresses.contains(ip) {
            if !chosen.contains(interface) { chosen.append(interface) }
        }
        return chosen
    }

    /// Whether the kernel forwards IPv4 datagrams that arrive on `name` (`net.ipv4.conf.<name>.forwarding`); nil
    /// when it cannot be read. The fast path's FIB lookup for a destination on another host needs it on the
    /// interface the datagram came in on.
    static func forwards(_ name: String) -> Bool? {
        guard let file = fopen("/proc/sys/net/ipv4/conf/\(name)/forwarding", "r") else { return nil }
        defer { fclose(file) }
        var line = [CChar](repeating: 0, count: 16)
        guard fgets(&line, Int32(line.count), file) != nil else { return nil }
        return atoi(line) != 0
    }

    /// Whether `ip` (host byte order) is an address of this host, so that a datagram to it is delivered locally.
    static func localAddresses() -> Set<UInt32> {
        Set(ipv4Addresses().map(\.1))
    }
}
