import Foundation
import NIOCore
@testable import Webhooks
import XCTest

final class EndpointLogTests: XCTestCase {
    var directory: URL!

    override func setUp() {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("webhook-log-\(UUID().uuidString)")
    }

    override func tearDown() {
        try? FileManager.default.removeItem(at: directory)
    }

    func event(_ log: EndpointLog, _ n: Int) -> StoredEvent {
        StoredEvent(sequence: log.takeSequence(), acceptedAt: Date().wholeMilliseconds,
                    payload: WebhookPayload(event: WebhookEvent(type: "peer.joined", timestamp: Date(), fields: ["n": .int(n)]),
                                            id: "evt_\(n)"))
    }

    func files() throws -> [String] {
        try FileManager.default.contentsOfDirectory(atPath: directory.path).filter { $0.hasSuffix(".log") }.sorted()
    }

    /// What a second process finds after the first stopped without closing anything (kill -9).
    func testUnfinishedEventsAreReadBackByTheNextOpenInOrder() throws {
        let first = try EndpointLog(directory: directory, segmentBytes: 1 << 20)
        let events = (1...5).map { event(first, $0) }
        try first.write(Array(events[0..<3]), finishedThrough: nil, everythingFinished: false)
        try first.write(Array(events[3...]), finishedThrough: 2, everythingFinished: false)
        let second = try EndpointLog(directory: directory, segmentBytes: 1 << 20)
        XCTAssertEqual(second.recovered, Array(events[2...]))
        XCTAssertEqual(second.takeSequence(), 6)
    }

    func testATornTailIsSkippedAndWhatCameBeforeIsKept() throws {
        let first = try EndpointLog(directory: directory, segmentBytes: 1 << 20)
        let events = (1...2).map { event(first, $0) }
        try first.write(events, finishedThrough: nil, everythingFinished: false)
        first.close()
        let file = directory.appendingPathComponent(try files().last!)
        // Half a record, as a crash in the middle of a write leaves it.
        var record = ByteBuffer()
        record.writeLogRecord(.event(event(first, 3)))
        let handle = try FileHandle(forWritingTo: file)
        try handle.seekToEnd()
        try handle.write(contentsOf: Data(record.readableBytesView.prefix(record.readableBytes / 2)))
        try handle.close()
        let second = try EndpointLog(directory: directory, segmentBytes: 1 << 20)
        XCTAssertEqual(second.recovered, events)
        XCTAssertEqual(second.recoveryNotes.count, 1)
    }

    func testADamagedRecordEndsTheReadingOfItsFile() throws {
        let first = try EndpointLog(directory: directory, segmentBytes: 1 << 20)
        let events = (1...2).map { event(first, $0) }
        try first.write([events[0]], finishedThrough: nil, everythingFinished: false)
        try first.write([events[1]], finishedThrough: nil, everythingFinished: false)
        first.close()
        let file = directory.appendingPathComponent(try files().last!)
        var bytes = try Data(contentsOf: file)
        bytes[bytes.count - 3] ^= 0xFF
        try bytes.write(to: file)
        let second = try EndpointLog(directory: directory, segmentBytes: 1 << 20)
        XCTAssertEqual(second.recovered, [events[0]])
    }

    func testEverythingFinishedEmptiesTheLog() throws {
        let log = try EndpointLog(directory: directory, segmentBytes: 1 << 20)
        try log.write([event(log, 1)], finishedThrough: nil, everythingFinished: false)
        try log.write([], finishedThrough: 1, everythingFinished: true)
        let size = try FileManager.default.attributesOfItem(atPath: directory.appendingPathComponent(try files()[0]).path)[.size] as? Int
        XCTAssertEqual(size, 0)
        XCTAssertEqual(try EndpointLog(directory: directory, segmentBytes: 1 << 20).recovered, [])
    }

    func testFullFilesAreDeletedOnceTheirEventsAreFinished() throws {
        // Every write after the first starts a new file.
        let log = try EndpointLog(directory: directory, segmentBytes: 1)
        let events = (1...6).map { event(log, $0) }
        for event in events { try log.write([event], finishedThrough: nil, everythingFinished: false) }
        XCTAssertEqual(try files().count, 6)
        // The finished record starts a seventh; the files of events 1 to 4 go.
        try log.write([], finishedThrough: 4, everythingFinished: false)
        XCTAssertEqual(try files().count, 3)
        XCTAssertEqual(try EndpointLog(directory: directory, segmentBytes: 1).recovered, Array(events[4...]))
    }
}
