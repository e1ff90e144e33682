@testable import TURN
import XCTest

final class BufferedSystemRandomTests: XCTestCase {
    /// Values keep coming past a block's end, none repeated (a repeat among a few hundred 64-bit values would mean a
    /// block handed out twice or left unfilled).
    func testValuesAcrossSeveralBlocksAreDistinct() {
        let random = BufferedSystemRandom()
        let values = (0..<300).map { _ in random.next() }
        XCTAssertEqual(Set(values).count, values.count)
        XCTAssertFalse(values.contains(0))
    }

    /// Two generators do not share a block.
    func testSeparateGeneratorsDrawSeparateValues() {
        let first = BufferedSystemRandom(), second = BufferedSystemRandom()
        let a = (0..<40).map { _ in first.next() }, b = (0..<40).map { _ in second.next() }
        XCTAssertTrue(Set(a).isDisjoint(with: b))
    }
}
