import Foundation
import Signaling
import XCTest

/// Drives a `SignalingCore` like a transport: keeps what each session was sent, decoded, and what was closed.
final class SignalingHarness {
    let core: SignalingCore
    var now: Double = 1000
    private(set) var inbox: [String: [[String: Any]]] = [:]
    private(set) var closed: [String: SignalingCloseReason] = [:]
    private(set) var events: [SignalingEvent] = []

    init(_ configure: (inout SignalingLimits) -> Void = { _ in }) {
        var limits = SignalingLimits()
        configure(&limits)
        core = SignalingCore(limits: limits) { user, host, _ in
            .array([.object(["urls": .string("turn:\(host):3478"), "username": .string("x:\(user)"), "credential": .string("c")])])
        }
    }

    func apply(_ actions: [SignalingCore.Action]) {
        for action in actions {
            switch action {
            case .send(let session, let text):
                let object = try! JSONSerialization.jsonObject(with: Data(text.utf8)) as! [String: Any]
                inbox[session, default: []].append(object)
            case .close(let session, let reason):
                closed[session] = reason
            case .event(let event):
                events.append(event)
            }
        }
    }

    @discardableResult
    func connect(user: String = "user-\(Int.random(in: 0..<1_000_000))", rooms: Identity.Rooms = .any) -> String {
        var actions: [SignalingCore.Action] = []
        guard case .success(let id) = core.connect(identity: Identity(user: user, rooms: rooms), host: "127.0.0.1", now: now, into: &actions) else {
            XCTFail("connect refused")
            return ""
        }
        apply(actions)
        return id
    }

    func send(_ session: String, _ frame: [String: Any]) {
        let text = String(data: try! JSONSerialization.data(withJSONObject: frame), encoding: .utf8)!
        sendText(session, text)
    }

    func sendText(_ session: String, _ text: String) {
        var actions: [SignalingCore.Action] = []
        core.receive(text, from: session, now: now, into: &actions)
        apply(actions)
    }

    /// Frames received since the last call, for one session.
    func take(_ session: String) -> [[String: Any]] {
        defer { inbox[session] = [] }
        return inbox[session] ?? []
    }

    func types(_ session: String) -> [String] { take(session).map { $0["type"] as! String } }

    /// Events since the last call.
    func takeEvents() -> [SignalingEvent] {
        defer { events = [] }
        return events
    }

    func join(_ session: String, _ room: String, meta: [String: Any]? = nil) -> [String: Any]? {
        var frame: [String: Any] = ["type": "join", "room": room]
        if let meta { frame["meta"] = meta }
        send(session, frame)
        return take(session).first { $0["type"] as? String == "joined" }
    }

    func disconnect(_ session: String, clean: Bool) {
        var actions: [SignalingCore.Action] = []
        core.disconnected(session, clean: clean, now: now, into: &actions)
        apply(actions)
    }

    func advance(_ seconds: Double) {
        now += seconds
        var actions: [SignalingCore.Action] = []
        core.expire(now: now, into: &actions)
        apply(actions)
    }

    func resume(_ token: String, last: UInt64) -> Result<String, SignalingCloseReason> {
        var actions: [SignalingCore.Action] = []
        let result = core.resume(token: token, last: last, identity: nil, host: "127.0.0.1", now: now, into: &actions)
        apply(actions)
        return result
    }
}
