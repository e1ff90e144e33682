import EdgeSupport
import Foundation
@testable import Webhooks
import XCTest

/// https:// receivers: delivered when their certificate chains to a trusted root (here `--webhook-ca-file`), and
/// never delivered to a certificate nobody vouched for.
final class WebhookTLSTests: XCTestCase {
    func testAnHTTPSReceiverIsReachedThroughTheConfiguredCAAndRefusedWithoutIt() async throws {
        let pem = try SelfSignedCertificate.makePEM(hosts: ["127.0.0.1"])
        let receiver = try await TestReceiver.start(tls: pem) { _ in .status(204) }
        defer { Task { await receiver.stop() } }
        XCTAssertEqual(receiver.url.scheme, "https")
        let caFile = FileManager.default.temporaryDirectory.appendingPathComponent("webhook-ca-\(UUID().uuidString).pem")
        try pem.certificate.write(to: caFile, atomically: true, encoding: .utf8)
        addTeardownBlock { try? FileManager.default.removeItem(at: caFile) }

        var trusted = testSettings([receiver.url], directory: temporaryQueueDirectory())
        trusted.trustedCertificatesFile = caFile.path
        let (dispatcher, _) = try running(trusted)
        dispatcher.submit(sampleEvent(1))
        let delivered = await eventually { dispatcher.statistics.delivered == 1 }
        XCTAssertTrue(delivered, "\(dispatcher.statistics)")
        XCTAssertEqual(receiver.requests.count, 1)

        // Without the CA the handshake fails: nothing reaches the receiver, and the event waits to be retried.
        let (untrusting, _) = try running(testSettings([receiver.url], directory: temporaryQueueDirectory()))
        untrusting.submit(sampleEvent(2))
        try await Task.sleep(for: .milliseconds(600))
        XCTAssertEqual(untrusting.statistics.delivered, 0)
        XCTAssertEqual(untrusting.statistics.queueDepth, 1)
        XCTAssertEqual(receiver.requests.count, 1, "the untrusted client's request must not have arrived")
    }
}
