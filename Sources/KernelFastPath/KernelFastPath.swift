import CKernelFastPath
import FoundationEssentials
import Glibc
import Synchronization

/// Why the kernel fast path is not in use; the server relays in user space instead.
public enum KernelFastPathUnavailable: Error, Sendable, CustomStringConvertible {
    /// The BPF program did not compile when the server was built (no clang able to target BPF).
    case notBuilt(String)
    /// The kernel, or libbpf, would not load it (no privilege, an old kernel, no libbpf.so.1).
    case notLoaded(String)
    /// It loaded but could not be attached to an interface (tcx needs Linux 6.6).
    case notAttached(String)

    public var description: String {
        switch self {
        case .notBuilt(let reason): "not built into this binary: \(reason)"
        case .notLoaded(let reason): reason
        case .notAttached(let reason): reason
        }
    }
}

/// The channel fast path's BPF program, loaded and attached at tc ingress of the server's interfaces, and its maps.
///
/// The program and its attachments live until `close()` or until the process ends (tcx links are released with
/// the process, so a crash leaves nothing forwarding behind it).
public final class KernelFastPath: Sendable {
    /// The loader's handle, kept as a bit pattern so that this class stays Sendable; nil once closed, so that a read
    /// after `close` (a late metrics scrape) never reaches a descriptor the process has since given to something else.
    private let handle: Mutex<UInt?>
    public let maps: KernelFastPathMaps
    /// Interfaces the program is attached to, by name, for the start-up log line.
    public let interfaces: [String]
    /// Attached interfaces (other than loopback) on which the kernel does not forward: datagrams arriving there for
    /// a peer or client on another host stay in user space, so the operator is told at start.
    public let interfacesWithoutForwarding: [String]
    public let capacity: Int

    /// Loads the program with room for `routes` channels and attaches it to the interfaces that carry `addresses`
    /// (every interface with an IPv4 address when one of them is the wildcard).
    public static func load(routes: Int, addresses: [UInt32]) -> Result<KernelFastPath, KernelFastPathUnavailable> {
        let object: String
        switch channelFastPathObject {
        case .success(let base64): object = base64
        case .failure(let reason): return .failure(reason)
        }
        guard let bytes = Data(base64Encoded: object) else { return .failure(.notBuilt("the embedded object is corrupt")) }
        var error = [CChar](repeating: 0, count: 1024)
        let loaded = bytes.withUnsafeBytes { raw in
            sb_fastpath_load(raw.baseAddress, raw.count, UInt32(clamping: routes), &error, error.count)
        }
        guard let loaded else {
            return .failure(.notLoaded(String(decoding: error.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)))
        }
        let interfaces = NetworkInterfaces.carrying(addresses)
        if interfaces.isEmpty {
            sb_fastpath_close(loaded)
            return .failure(.notAttached("no interface carries the listening addresses"))
        }
        var attached: [String] = []
        for interface in interfaces {
            let result = sb_fastpath_attach_ingress(loaded, Int32(interface.index))
            if result != 0 {
                sb_fastpath_close(loaded)
                return .failure(.notAttached("attaching to \(interface.name) failed: \(String(cString: strerror(-result)))"
                                             + (result == -EINVAL ? " (tcx attachments need Linux 6.6 or newer)" : "")))
            }
            attached.append(interface.name)
        }
        let withoutForwarding = interfaces.filter { $0.name != "lo" && NetworkInterfaces.forwards($0.name) == false }.map(\.name)
        return .success(KernelFastPath(handle: UInt(bitPattern: loaded), maps: KernelFastPathMaps(sb_fastpath_get_maps(loaded)),
                                       interfaces: attached, interfacesWithoutForwarding: withoutForwarding, capacity: routes))
    }

    private init(handle: UInt, maps: KernelFastPathMaps, interfaces: [String], interfacesWithoutForwarding: [String],
                 capacity: Int) {
        self.handle = Mutex(handle)
        self.maps = maps
        self.interfaces = interfaces
        self.interfacesWithoutForwarding = interfacesWithoutForwarding
        self.capacity = capacity
    }

    /// Datagrams of installed routes the program left to user space since it loaded because their checksum was left
    /// to the device and they would have left by another interface (docs/kernel-fastpath.md); nil if the kernel
    /// would not say.
    public func checksumLeftToDeviceCount() -> UInt64? {
        handle.withLock { handle in
            guard handle != nil else { return nil }
            var events = sb_fastpath_events()
            return sb_fastpath_events_read(maps.raw, &events) == 0 ? events.checksum_left_to_device : nil
        }
    }

    /// Detaches the program and frees it with its maps; nothing may use `maps` afterwards. Closing twice is harmless.
    public func close() {
        handle.withLock { handle in
            guard let open = handle else { return }
            sb_fastpath_close(OpaquePointer(bitPattern: open))
            handle = nil
        }
    }
}

/// The program's maps by descriptor. Any thread may write routes (the kernel serialises map updates); each
/// `ChannelRouteTable` writes only its own routes and counter slots.
public struct KernelFastPathMaps: Sendable {
    /// Descriptors and plain numbers only, so any thread may hold a copy.
    let raw: sb_fastpath_maps

    init(_ maps: sb_fastpath_maps) {
        raw = maps
    }
}
