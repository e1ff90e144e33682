#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import NIOCore
import STUN

/// A listener that could not be opened at start: which one, where, and why, in the words an operator acts on
/// (`http 127.0.0.1:8080: address already in use`).
public struct ListenerStartError: Error, CustomStringConvertible {
    public var listener: String
    public var address: String
    public var cause: String

    public var description: String { "\(listener) \(address): \(cause)" }

    package init(listener: String, address: String, error: any Error) {
        self.listener = listener
        self.address = address
        self.cause = Self.cause(of: error)
    }

    /// The errno behind NIO's and our own socket errors, as `strerror` words in lower case.
    package static func cause(of error: any Error) -> String {
        let code: Int32?
        switch error {
        case let error as IOError: code = error.errnoCode
        case let error as any SystemCallError: code = error.errnoCode
        default: code = nil
        }
        guard let code else { return "\(error)" }
        return String(cString: strerror(code)).lowercased()
    }
}

extension ListenerStartError {
    /// Runs `body`, which opens `listener` at `address`; a failure comes out as a `ListenerStartError`.
    package static func naming<T>(_ listener: String, _ address: CustomStringConvertible, isolation: isolated (any Actor)? = #isolation,
                          _ body: () async throws -> T) async throws -> T {
        do {
            return try await body()
        } catch let error as ListenerStartError {
            throw error
        } catch {
            throw ListenerStartError(listener: listener, address: address.description, error: error)
        }
    }
}

extension ListenerStartError {
    /// The address `channel` was bound to (the port picked, for port 0), or the error naming `listener`.
    package static func boundAddress(of channel: any Channel, listener: String,
                                     requested address: TransportAddress) throws -> TransportAddress {
        guard let local = channel.localAddress.flatMap(TransportAddress.init) else {
            throw ListenerStartError(listener: listener, address: address.description, error: ListenerAddressMissing())
        }
        return local
    }
}

/// A bound socket that reports no local address (not expected from the kernel).
struct ListenerAddressMissing: Error, CustomStringConvertible {
    var description: String { "the bound socket has no address" }
}

/// An error from a system call of our own (not NIO's), which carries its errno.
package protocol SystemCallError: Error {
    var errnoCode: Int32 { get }
}
