import Foundation
import NIOCore
import STUN
import XCTest

/// Whatever the bytes, decoding returns or throws; it never traps. A message that does decode can be used:
/// its integrity checked and its attributes re-encoded.
final class DecoderRobustnessTests: XCTestCase {
    static let key = IntegrityKey.shortTerm(password: "robust")

    /// Decodes both strictly and leniently and, when that works, exercises what a server does next.
    private func feed(_ bytes: ByteBuffer) {
        for options in [STUNMessage.DecodingOptions(), .init(acceptClassic: true, verifyFingerprint: false)] {
            guard let message = try? STUNMessage(decoding: bytes, options: options) else { continue }
            _ = message.verifyIntegrity(.sha1, key: Self.key)
            _ = message.verifyIntegrity(.sha256, key: Self.key)
            _ = message.strippingIntegrityAndFingerprint.encoded(options: .init(integrityKey: Self.key,
                                                                               integrityAlgorithms: [.sha1, .sha256],
                                                                               fingerprint: true))
            _ = message.attributes.map(\.type.description)
        }
        _ = STUNMessage.framedLength(of: bytes)
    }

    private func withLengthField(of buffer: ByteBuffer) -> ByteBuffer {
        guard buffer.readableBytes >= 20 else { return buffer }
        var buffer = buffer
        buffer.setInteger(UInt16(truncatingIfNeeded: buffer.readableBytes - 20), at: buffer.readerIndex + 2)
        return buffer
    }

    private func seeds() -> [ByteBuffer] {
        var random = RandomMessages(seed: 42)
        let generated = (0..<150).map { index in
            random.message().encoded(options: .init(integrityKey: index % 2 == 0 ? Self.key : nil,
                                                    integrityAlgorithms: index % 3 == 0 ? [.sha1, .sha256] : [.sha256],
                                                    fingerprint: index % 4 != 0))
        }
        return [RFC5769VectorTests.sampleRequest, RFC5769VectorTests.ipv4Response, RFC5769VectorTests.ipv6Response,
                RFC5769VectorTests.longTermRequest] + generated
    }

    func testEveryTruncationOfValidMessagesDecodesOrThrows() {
        for seed in seeds() {
            for length in 0...seed.readableBytes {
                let prefix = seed.getSlice(at: seed.readerIndex, length: length)!
                feed(prefix)
                // With the length field patched the attribute walk itself meets the cut.
                feed(withLengthField(of: prefix))
            }
        }
    }

    func testRandomBitFlipsAndByteWritesDecodeOrThrow() {
        var random = SplitMix64(seed: 7)
        for seed in seeds() {
            for _ in 0..<150 {
                var mutated = seed
                for _ in 0..<Int.random(in: 1...4, using: &random) {
                    let index = Int.random(in: 0..<mutated.readableBytes, using: &random)
                    let old = mutated.getInteger(at: index, as: UInt8.self)!
                    let new = Bool.random(using: &random) ? old ^ (1 << UInt8.random(in: 0...7, using: &random))
                                                          : UInt8.random(in: 0...255, using: &random)
                    mutated.setInteger(new, at: index)
                }
                feed(mutated)
                feed(withLengthField(of: mutated))
            }
        }
    }

    func testRandomBytesBehindAValidHeaderDecodeOrThrow() {
        var random = SplitMix64(seed: 99)
        for _ in 0..<5000 {
            var buffer = STUNMessage(type: .bindingRequest).encoded()
            let count = Int.random(in: 0...30, using: &random) * 4
            buffer.writeBytes((0..<count).map { _ in UInt8.random(in: 0...255, using: &random) })
            feed(withLengthField(of: buffer))
        }
    }

    func testRandomAttributesOfKnownTypesAndAnyLengthDecodeOrThrow() {
        var random = SplitMix64(seed: 1234)
        let types = Array(RandomMessages.knownTypes)
        for _ in 0..<5000 {
            var buffer = STUNMessage(type: .bindingRequest).encoded()
            for _ in 0..<Int.random(in: 1...4, using: &random) {
                let length = Int.random(in: 0...40, using: &random)
                buffer.writeInteger(types[Int.random(in: 0..<types.count, using: &random)])
                buffer.writeInteger(UInt16(length))
                buffer.writeBytes((0..<((length + 3) & ~3)).map { _ in UInt8.random(in: 0...255, using: &random) })
            }
            feed(withLengthField(of: buffer))
        }
    }

    func testEachExtremeLengthFieldDecodesOrThrows() {
        for seed in seeds().prefix(20) {
            for length: UInt16 in [0, 4, 0xFFFC, 0xFFFF] {
                var mutated = seed
                mutated.setInteger(length, at: 2)
                feed(mutated)
            }
        }
        // An attribute whose length field is 0xFFFF at the very end of a message.
        var buffer = STUNMessage(type: .bindingRequest).encoded()
        buffer.writeBytes([0x80, 0x22, 0xFF, 0xFF])
        feed(withLengthField(of: buffer))
    }

    /// Inputs saved from fuzzing (Tests/STUNTests/FuzzRegressions), replayed so a fixed crash stays fixed.
    func testSavedFuzzRegressionsDecodeOrThrow() throws {
        let directory = try XCTUnwrap(Bundle.module.url(forResource: "FuzzRegressions", withExtension: nil))
        let files = try FileManager.default.contentsOfDirectory(at: directory, includingPropertiesForKeys: nil)
            .filter { $0.pathExtension == "bin" }
        XCTAssertFalse(files.isEmpty)
        for file in files {
            let bytes = try Data(contentsOf: file)
            feed(ByteBuffer(bytes: Array(bytes)))
        }
    }
}
