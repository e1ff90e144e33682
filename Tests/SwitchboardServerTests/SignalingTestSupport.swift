import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import JWTKit
import XCTest

extension RunningServer {
    var httpPort: Int { Int(address("http").port) }
}

/// Claims as a token issuer would write them.
struct TestClaims: JWTPayload {
    var sub: SubjectClaim
    var exp: ExpirationClaim
    var rooms: [String]?

    func verify(using algorithm: some JWTAlgorithm) async throws {}
}

enum TestTokens {
    static func hs256(secret: String, user: String, expiresIn: TimeInterval = 600, rooms: [String]? = nil) async throws -> String {
        let keys = JWTKeyCollection()
        await keys.add(hmac: HMACKey(from: secret), digestAlgorithm: .sha256)
        return try await keys.sign(TestClaims(sub: .init(value: user), exp: .init(value: Date().addingTimeInterval(expiresIn)), rooms: rooms))
    }
}

/// Plain HTTP on loopback for the long-polling and API tests.
struct TestHTTP {
    let port: Int

    func request(_ method: String, _ path: String, json: Any? = nil, body: String? = nil, timeout: TimeInterval = 30) async throws -> (status: Int, body: Any?) {
        var request = URLRequest(url: URL(string: "http://127.0.0.1:\(port)\(path)")!)
        request.httpMethod = method
        request.timeoutInterval = timeout
        if let json { request.httpBody = try JSONSerialization.data(withJSONObject: json, options: [.fragmentsAllowed]) }
        if let body { request.httpBody = Data(body.utf8) }
        let (data, response) = try await URLSession.shared.data(for: request)
        let status = (response as! HTTPURLResponse).statusCode
        let object = data.isEmpty ? nil : try? JSONSerialization.jsonObject(with: data, options: [.fragmentsAllowed])
        return (status, object)
    }
}

// Assertions whose arguments are evaluated before the call, so they may contain `try await`.
func expectEqual<T: Equatable>(_ actual: T?, _ expected: T?, _ message: String = "", file: StaticString = #filePath, line: UInt = #line) {
    XCTAssertEqual(actual, expected, message, file: file, line: line)
}

func expectNil(_ value: Any?, file: StaticString = #filePath, line: UInt = #line) {
    XCTAssertNil(value, file: file, line: line)
}

func expectNotNil(_ value: Any?, file: StaticString = #filePath, line: UInt = #line) {
    XCTAssertNotNil(value, file: file, line: line)
}
