import Crypto
#if canImport(FoundationEssentials)
import FoundationEssentials  // ContiguousBytes, which the digests conform to
#else
import Foundation
#endif

/// An HMAC key (RFC 2104) whose padded key blocks are hashed once, driven through the hash functions' own
/// `update(bufferPointer:)`.
///
/// swift-crypto's `HMAC.update(data:)` is generic over `DataProtocol` and not inlinable, so called from our modules it
/// ran unspecialized, looking up type metadata and walking regions for every piece; with the key set-up per message
/// that was about a third of the server's CPU per authenticated Allocate in `perf`. Keeping the keyed state lets a
/// fixed key (the nonce secret) skip the set-up entirely. The RFC 5769 vectors check the result.
public struct HMACKey<H: HashFunction> {
    @usableFromInline let inner: H
    @usableFromInline let outer: H

    @inlinable
    public init(_ key: [UInt8]) {
        var block = [UInt8](repeating: 0, count: H.blockByteCount)
        if key.count > H.blockByteCount {
            var hash = H()
            key.withUnsafeBytes { hash.update(bufferPointer: $0) }
            hash.finalize().withUnsafeBytes { digest in
                for index in digest.indices { block[index] = digest[index] }
            }
        } else {
            for index in key.indices { block[index] = key[index] }
        }
        var inner = H(), outer = H()
        for index in block.indices { block[index] ^= 0x36 }
        block.withUnsafeBytes { inner.update(bufferPointer: $0) }
        // 0x36 ^ 0x5c: from the inner pad to the outer one without keeping the key block around.
        for index in block.indices { block[index] ^= 0x36 ^ 0x5C }
        block.withUnsafeBytes { outer.update(bufferPointer: $0) }
        for index in block.indices { block[index] = 0 }
        self.inner = inner
        self.outer = outer
    }

    /// A MAC computation under this key: `update` it with the message, then `finalize`.
    @inlinable
    public func start() -> Computation { Computation(inner: inner, outer: outer) }

    @inlinable
    public func authenticationCode(for bytes: UnsafeRawBufferPointer) -> [UInt8] {
        var computation = start()
        computation.update(bytes)
        return computation.finalize()
    }

    public struct Computation {
        @usableFromInline var inner: H
        @usableFromInline let outer: H

        @inlinable
        init(inner: H, outer: H) {
            self.inner = inner
            self.outer = outer
        }

        @inlinable
        public mutating func update(_ bytes: UnsafeRawBufferPointer) {
            inner.update(bufferPointer: bytes)
        }

        @inlinable
        public func finalize() -> [UInt8] {
            var outer = self.outer
            inner.finalize().withUnsafeBytes { outer.update(bufferPointer: $0) }
            return outer.finalize().withUnsafeBytes { Array($0) }
        }
    }
}

extension HMACKey: Sendable where H: Sendable {}
