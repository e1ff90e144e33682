import Foundation
import NIOConcurrencyHelpers
@testable import Webhooks
import XCTest

/// The dispatcher against a real HTTP receiver on loopback.
final class WebhookDeliveryTests: XCTestCase {
    /// The receiver fails the first attempts with 500; every request carries a signature each secret verifies,
    /// retries keep their id, and after de-duplication by id the receiver has every event once, in order.
    func testRetriedEventsArriveSignedInOrderAndOnceEachAfterDeduplication() async throws {
        let receiver = try await TestReceiver.start { $0.number <= 3 ? .status(500) : .status(200) }
        defer { Task { await receiver.stop() } }
        let (dispatcher, _) = try running(testSettings([receiver.url], directory: temporaryQueueDirectory()))
        let types = ["room.started", "room.finished", "peer.joined", "peer.left", "allocation.created", "allocation.closed"]
        for n in 0..<24 { XCTAssertTrue(dispatcher.submit(sampleEvent(n, type: types[n % types.count]))) }
        let done = await eventually { dispatcher.statistics.delivered == 24 }
        XCTAssertTrue(done, "\(dispatcher.statistics)")

        let requests = receiver.requests
        XCTAssertEqual(requests.count, 24 + 3)
        for request in requests {
            let signature = try XCTUnwrap(request.signature)
            let timestamp = try XCTUnwrap(request.timestamp)
            XCTAssertEqual(signature.split(separator: ",").count, 2)
            for secret in ["first-secret", "second-secret"] {
                XCTAssertTrue(WebhookSignature.verify(header: signature, timestamp: timestamp, body: request.body, secret: secret))
            }
            XCTAssertLessThan(abs(Double(timestamp)! - Date().timeIntervalSince1970), 60)
            XCTAssertEqual(request.json["id"] as? String, request.id)
        }
        var seen = Set<String>()
        let unique = requests.filter { seen.insert($0.id!).inserted }
        XCTAssertEqual(unique.count, 24)
        XCTAssertEqual(unique.map { $0.json["n"] as? Int }, (0..<24).map { $0 })
        XCTAssertEqual(unique.map { $0.json["type"] as? String }, (0..<24).map { types[$0 % types.count] })
        // The three failures were all the first event's: nothing went ahead of it.
        XCTAssertEqual(Set(requests.prefix(4).map(\.id)).count, 1)
        let statistics = dispatcher.statistics
        XCTAssertEqual(statistics.queueDepth, 0)
        XCTAssertNil(statistics.oldestUndeliveredAge)
        XCTAssertEqual(statistics.failed + statistics.rejected + statistics.dropped, 0)
    }

    func testA400IsRejectedWithoutARetryAndTheNextEventGoesOn() async throws {
        let receiver = try await TestReceiver.start { $0.number == 1 ? .status(400) : .status(200) }
        defer { Task { await receiver.stop() } }
        let (dispatcher, _) = try running(testSettings([receiver.url], directory: temporaryQueueDirectory()))
        dispatcher.submit(sampleEvent(1))
        dispatcher.submit(sampleEvent(2))
        let done = await eventually { dispatcher.statistics.delivered == 1 }
        XCTAssertTrue(done)
        XCTAssertEqual(dispatcher.statistics.rejected, 1)
        XCTAssertEqual(receiver.requests.map { $0.json["n"] as? Int }, [1, 2])
    }

    /// Redirects are not followed: the configured URL is wrong, so the event is rejected rather than retried.
    func testARedirectIsRejectedNotFollowed() async throws {
        let receiver = try await TestReceiver.start { _ in .status(307) }
        defer { Task { await receiver.stop() } }
        let (dispatcher, _) = try running(testSettings([receiver.url], directory: temporaryQueueDirectory()))
        dispatcher.submit(sampleEvent(1))
        let done = await eventually { dispatcher.statistics.rejected == 1 }
        XCTAssertTrue(done)
        try await Task.sleep(for: .milliseconds(200))
        XCTAssertEqual(receiver.requests.count, 1)
        XCTAssertEqual(dispatcher.statistics.delivered, 0)
    }

    func testAHangingReceiverIsCutOffByTheRequestTimeout() async throws {
        let receiver = try await TestReceiver.start { $0.number == 1 ? .hang : .status(200) }
        defer { Task { await receiver.stop() } }
        var settings = testSettings([receiver.url], directory: temporaryQueueDirectory())
        settings.requestTimeout = .milliseconds(500)
        let (dispatcher, _) = try running(settings)
        let start = Date()
        dispatcher.submit(sampleEvent(1))
        let done = await eventually { dispatcher.statistics.delivered == 1 }
        XCTAssertTrue(done)
        let elapsed = Date().timeIntervalSince(start)
        XCTAssertGreaterThanOrEqual(elapsed, 0.5)
        XCTAssertLessThan(elapsed, 3)
        XCTAssertEqual(receiver.requests.count, 2)
        XCTAssertEqual(receiver.requests[0].id, receiver.requests[1].id)
    }

    /// A receiver that answers 200 with a gigabyte of body: the attempt counts as delivered as soon as the bound is
    /// read, and the connection is closed long before the body could have been sent.
    func testAHugeResponseBodyIsNotReadPastTheBound() async throws {
        let total = 1 << 30
        let receiver = try await TestReceiver.start { $0.number == 1 ? .huge(bytes: total) : .status(200) }
        defer { Task { await receiver.stop() } }
        let (dispatcher, _) = try running(testSettings([receiver.url], directory: temporaryQueueDirectory()))
        let start = Date()
        dispatcher.submit(sampleEvent(1))
        dispatcher.submit(sampleEvent(2))
        let done = await eventually { dispatcher.statistics.delivered == 2 }
        XCTAssertTrue(done)
        XCTAssertLessThan(Date().timeIntervalSince(start), 2)
        try await Task.sleep(for: .milliseconds(200))
        // What the socket took before the close: socket buffers' worth, not the gigabyte.
        XCTAssertLessThan(receiver.hugeBytesWritten.withLockedValue { $0 }, 32 << 20)
        XCTAssertEqual(receiver.requests.count, 2)
    }

    /// With the receiver hanging, the queue fills; submitting many more returns at once each time and counts
    /// every one that did not fit as dropped.
    func testAFullQueueDropsAndCountsWithoutBlockingTheCaller() async throws {
        let receiver = try await TestReceiver.start { _ in .hang }
        defer { Task { await receiver.stop() } }
        var settings = testSettings([receiver.url], directory: temporaryQueueDirectory())
        settings.queueLimit = 100
        let (dispatcher, _) = try running(settings)
        let start = ContinuousClock.now
        var accepted = 0
        for n in 0..<10_000 where dispatcher.submit(sampleEvent(n)) { accepted += 1 }
        let elapsed = ContinuousClock.now - start
        XCTAssertEqual(accepted, 100)
        XCTAssertLessThan(elapsed, .seconds(2), "submitting must never wait for disk or network")
        let statistics = dispatcher.statistics
        XCTAssertEqual(statistics.dropped, 9_900)
        XCTAssertEqual(statistics.queueDepth, 100)
        XCTAssertNotNil(statistics.oldestUndeliveredAge)
    }

    /// Events a first dispatcher accepted but could not deliver (its receiver answering 503) are delivered, with
    /// the same ids and in the same order, by a second dispatcher on the same queue directory.
    func testANewDispatcherOnTheSameQueueDirectoryDeliversWhatTheLastOneDidNot() async throws {
        let directory = temporaryQueueDirectory()
        let down = try await TestReceiver.start(path: "/hooks") { _ in .status(503) }
        let url = down.url
        let (first, firstRun) = try running(testSettings([url], directory: directory))
        for n in 0..<10 { first.submit(sampleEvent(n)) }
        let tried = await eventually { down.requests.count >= 2 }
        XCTAssertTrue(tried)
        let firstIDs = Set(down.requests.compactMap(\.id))
        first.shutdown()
        try await firstRun.value
        XCTAssertEqual(first.statistics.delivered, 0)
        XCTAssertEqual(first.statistics.queueDepth, 10)
        XCTAssertFalse(first.submit(sampleEvent(99)), "a stopped dispatcher takes nothing more")
        await down.stop()

        // The same URL: a new receiver on the port the first one had.
        let up = try await TestReceiver.start(port: url.port!) { _ in .status(200) }
        defer { Task { await up.stop() } }
        let (second, _) = try running(testSettings([url], directory: directory))
        XCTAssertEqual(second.statistics.queueDepth, 10)
        let done = await eventually { second.statistics.delivered == 10 }
        XCTAssertTrue(done, "\(second.statistics)")
        XCTAssertEqual(up.requests.map { $0.json["n"] as? Int }, (0..<10).map { $0 })
        XCTAssertTrue(firstIDs.isSubset(of: Set(up.requests.compactMap(\.id))))
        // Everything delivered: the log is emptied.
        let emptied = await eventually {
            let folder = directory.appendingPathComponent(WebhookDispatcher.directoryName(for: url))
            let logs = (try? FileManager.default.contentsOfDirectory(atPath: folder.path).filter { $0.hasSuffix(".log") }) ?? []
            return logs.allSatisfy { name in
                ((try? FileManager.default.attributesOfItem(atPath: folder.appendingPathComponent(name).path)[.size]) as? Int) == 0
            }
        }
        XCTAssertTrue(emptied)
    }

    func testEachURLGetsEveryEventUnderTheSameID() async throws {
        let a = try await TestReceiver.start { _ in .status(200) }
        let b = try await TestReceiver.start { _ in .status(204) }
        defer { Task { await a.stop(); await b.stop() } }
        let (dispatcher, _) = try running(testSettings([a.url, b.url], directory: temporaryQueueDirectory()))
        for n in 0..<5 { dispatcher.submit(sampleEvent(n)) }
        let done = await eventually { dispatcher.statistics.delivered == 10 }
        XCTAssertTrue(done)
        XCTAssertEqual(a.requests.map(\.id), b.requests.map(\.id))
        XCTAssertEqual(dispatcher.statistics.endpoints.map(\.delivered), [5, 5])
    }
}
