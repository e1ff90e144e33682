#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// The operating system's randomness, drawn a block at a time. `SystemRandomNumberGenerator` makes one getrandom(2)
/// call per value, and every allocation takes one (its random relay port): a system call per Allocate for eight
/// bytes. The values are the kernel's own, only fetched ahead, so they are as unpredictable as before. A class, so that
/// a copy of whatever holds it shares the block rather than handing out the same values again.
final class BufferedSystemRandom: RandomNumberGenerator {
    private static let blockSize = 32
    private var block = [UInt64](repeating: 0, count: BufferedSystemRandom.blockSize)
    private var position = BufferedSystemRandom.blockSize

    func next() -> UInt64 {
        if position == block.count { refill() }
        defer { position += 1 }
        return block[position]
    }

    /// getentropy(3) is getrandom(2) with at most 256 bytes, which one block is.
    private func refill() {
        let filled = block.withUnsafeMutableBytes { getentropy($0.baseAddress, $0.count) == 0 }
        if !filled {
            // getentropy fails only without getrandom (Linux before 3.17): fall back rather than trap.
            var system = SystemRandomNumberGenerator()
            for index in block.indices { block[index] = system.next() }
        }
        position = 0
    }
}
