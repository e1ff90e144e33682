#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import EdgeSupport
import Logging

/// The process's open-descriptor limit. Every connection and every relay socket is a descriptor, and the usual
/// soft limit (1,024) runs out long before the configured bounds do, so at start the soft limit is raised to the
/// hard one, and a limit still below what the configuration can use is reported.
enum DescriptorLimit {
    /// Raises the soft limit to the hard limit; warns when the result is below `needed`. Returns the limit in force.
    @discardableResult
    static func raise(needed: Int, logger: Logger) -> Int {
        var limit = rlimit()
        guard getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0 else { return 0 }
        if limit.rlim_cur < limit.rlim_max {
            var raised = limit
            raised.rlim_cur = limit.rlim_max
            if setrlimit(Int32(RLIMIT_NOFILE.rawValue), &raised) == 0 { limit = raised }
        }
        let current = Int(clamping: limit.rlim_cur)
        if current < needed {
            logger.warning("""
                open-file limit \(current) is below the \(needed) descriptors the configured bounds can use \
                (connections and relay ports); raise it (ulimit -n, or LimitNOFILE= in a systemd unit) or lower \
                --http-max-connections, --max-tcp-connections or --relay-ports
                """)
        }
        return current
    }
}

extension ServerConfiguration {
    /// Descriptors the configured bounds can use at once: both connection limits, every relay port, a second
    /// descriptor of a relay socket for each TCP or TLS client that sends on a routed channel from its own thread,
    /// and a margin for listeners and the runtime.
    var descriptorsNeeded: Int {
        let relayPorts = Int(relayPorts.upperBound) - Int(relayPorts.lowerBound) + 1
        return httpMaxConnections + 2 * maxTCPConnections + relayPorts + 256
    }
}
