import Foundation
import NIOCore
#if canImport(Glibc)
import Glibc
#endif

/// One endpoint's queue on disk: numbered append-only files (`0000000000000001.log`, …) of `LogRecord`s.
///
/// Events are appended in batches and each batch is fsynced before its events are offered for delivery, so an
/// event the dispatcher has accepted survives kill -9 and power loss alike. A `finished` record follows
/// deliveries, without an fsync of its own: losing one only sends an event again, which at-least-once allows.
/// A file whose events are all finished is deleted; when nothing is left undelivered the current file is cut back
/// to empty.
///
/// Not thread-safe: the dispatcher touches it from its one I/O thread only.
final class EndpointLog: @unchecked Sendable {
    let directory: URL
    private let segmentBytes: Int
    /// Closed files, oldest first, with the highest event sequence each holds.
    private var closed: [(number: Int, lastSequence: UInt64)] = []
    private var activeNumber: Int
    private var active: FileHandle
    private var activeBytes = 0
    private var activeLastSequence: UInt64 = 0
    /// Events found unfinished when the log was opened, in order.
    private(set) var recovered: [StoredEvent] = []
    /// What went wrong reading old files (a torn tail, damage), for the operator's log.
    private(set) var recoveryNotes: [String] = []
    private(set) var nextSequence: UInt64 = 1

    init(directory: URL, segmentBytes: Int) throws(WebhookQueueError) {
        self.directory = directory
        self.segmentBytes = segmentBytes
        let files = FileManager.default
        do {
            try files.createDirectory(at: directory, withIntermediateDirectories: true)
        } catch {
            throw WebhookQueueError(path: directory.path, problem: "cannot create the directory: \(error.localizedDescription)")
        }
        let numbers: [Int]
        do {
            numbers = try files.contentsOfDirectory(atPath: directory.path).compactMap(Self.segmentNumber).sorted()
        } catch {
            throw WebhookQueueError(path: directory.path, problem: "cannot list the directory: \(error.localizedDescription)")
        }
        var events: [StoredEvent] = []
        var finishedThrough: UInt64 = 0
        var lastSequences: [Int: UInt64] = [:]
        for number in numbers {
            let url = Self.segmentURL(directory, number)
            let data: Data
            do {
                data = try Data(contentsOf: url)
            } catch {
                throw WebhookQueueError(path: url.path, problem: "cannot read: \(error.localizedDescription)")
            }
            var buffer = ByteBuffer(bytes: data)
            var last: UInt64 = 0
            do {
                while let record = try buffer.readLogRecord() {
                    switch record {
                    case .event(let event):
                        events.append(event)
                        last = max(last, event.sequence)
                    case .finished(let sequence):
                        finishedThrough = max(finishedThrough, sequence)
                    }
                }
                if buffer.readableBytes > 0 {
                    recoveryNotes.append("\(url.lastPathComponent): \(buffer.readableBytes) bytes of an unfinished write skipped")
                }
            } catch {
                recoveryNotes.append("\(url.lastPathComponent): \(error) at byte \(buffer.readerIndex); the rest is skipped")
            }
            lastSequences[number] = last
        }
        recovered = events.filter { $0.sequence > finishedThrough }.sorted { $0.sequence < $1.sequence }
        nextSequence = (events.map(\.sequence).max() ?? 0) + 1
        if recovered.isEmpty {
            for number in numbers { try? files.removeItem(at: Self.segmentURL(directory, number)) }
            activeNumber = 1
        } else {
            closed = numbers.map { ($0, lastSequences[$0] ?? 0) }
            activeNumber = (numbers.last ?? 0) + 1
        }
        active = try Self.create(directory, activeNumber)
    }

    /// Appends `events` and, when given, a finished record; fsyncs when there are events. With nothing left
    /// undelivered (`everythingFinished`) the log is emptied instead.
    func write(_ events: [StoredEvent], finishedThrough: UInt64?, everythingFinished: Bool) throws(WebhookQueueError) {
        if everythingFinished && events.isEmpty {
            try reset()
            return
        }
        if activeBytes >= segmentBytes { try roll() }
        var buffer = ByteBuffer()
        for event in events {
            buffer.writeLogRecord(.event(event))
            activeLastSequence = max(activeLastSequence, event.sequence)
            nextSequence = max(nextSequence, event.sequence + 1)
        }
        if let finishedThrough { buffer.writeLogRecord(.finished(through: finishedThrough)) }
        guard buffer.readableBytes > 0 else { return }
        try attempt("write") {
            try active.write(contentsOf: Data(buffer.readableBytesView))
            if !events.isEmpty { try active.synchronize() }
        }
        activeBytes += buffer.readableBytes
        if let finishedThrough { deleteClosed(through: finishedThrough) }
    }

    /// Sequence numbers for new events, in the order they are written.
    func takeSequence() -> UInt64 {
        defer { nextSequence += 1 }
        return nextSequence
    }

    /// Makes every write so far durable (shutdown: the finished records too, so fewer events are sent twice).
    func sync() throws(WebhookQueueError) {
        try attempt("fsync") { try active.synchronize() }
    }

    func close() {
        try? active.close()
    }

    private func reset() throws(WebhookQueueError) {
        for segment in closed { try? FileManager.default.removeItem(at: Self.segmentURL(directory, segment.number)) }
        closed.removeAll()
        guard activeBytes > 0 else { return }
        try attempt("truncate") { try active.truncate(atOffset: 0) }
        activeBytes = 0
        activeLastSequence = 0
    }

    private func roll() throws(WebhookQueueError) {
        try attempt("fsync") { try active.synchronize() }
        try? active.close()
        closed.append((activeNumber, activeLastSequence))
        activeNumber += 1
        active = try Self.create(directory, activeNumber)
        activeBytes = 0
        activeLastSequence = 0
    }

    private func deleteClosed(through sequence: UInt64) {
        while let first = closed.first, first.lastSequence <= sequence {
            try? FileManager.default.removeItem(at: Self.segmentURL(directory, first.number))
            closed.removeFirst()
        }
    }

    private func attempt(_ what: String, _ body: () throws -> Void) throws(WebhookQueueError) {
        do {
            try body()
        } catch {
            throw WebhookQueueError(path: Self.segmentURL(directory, activeNumber).path, problem: "\(what) failed: \(error)")
        }
    }

    private static func create(_ directory: URL, _ number: Int) throws(WebhookQueueError) -> FileHandle {
        let url = segmentURL(directory, number)
        guard FileManager.default.createFile(atPath: url.path, contents: nil),
              let handle = FileHandle(forWritingAtPath: url.path) else {
            throw WebhookQueueError(path: url.path, problem: "cannot create the log file")
        }
        syncDirectory(directory)
        return handle
    }

    /// A new file's name is durable only once its directory is synced.
    private static func syncDirectory(_ directory: URL) {
        let descriptor = open(directory.path, O_RDONLY | O_DIRECTORY)
        guard descriptor >= 0 else { return }
        _ = fsync(descriptor)
        _ = Glibc.close(descriptor)
    }

    static func segmentURL(_ directory: URL, _ number: Int) -> URL {
        let digits = String(number)
        return directory.appendingPathComponent(String(repeating: "0", count: max(0, 16 - digits.count)) + digits + ".log")
    }

    private static func segmentNumber(_ name: String) -> Int? {
        guard name.count == 20, name.hasSuffix(".log") else { return nil }
        return Int(name.dropLast(4))
    }
}
