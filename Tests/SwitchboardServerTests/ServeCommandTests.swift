#if canImport(Glibc)
import Glibc
#endif
import EdgeSupport
import Foundation
import NIOConcurrencyHelpers
import NIOCore
import STUN
import SwitchboardApp
import SwitchboardClient
import XCTest

/// `switchboard serve` as a real process: readiness lines, a working answer, and a clean exit on SIGTERM.
final class ServeCommandTests: XCTestCase {
    static var binary: URL {
        if let path = ProcessInfo.processInfo.environment["SWITCHBOARD_BIN"] { return URL(fileURLWithPath: path) }
        // On Linux the test runner is the .xctest executable in the build products folder, next to `switchboard`.
        return URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("switchboard")
    }

    func testServePrintsOneReadinessLinePerListenerAnswersAndExitsOnSIGTERM() async throws {
        let binary = Self.binary
        guard FileManager.default.isExecutableFile(atPath: binary.path) else {
            if ProcessInfo.processInfo.environment["CI"] == "true" { return XCTFail("switchboard binary missing at \(binary.path)") }
            throw XCTSkip("switchboard binary not built at \(binary.path); run `swift build` first")
        }
        let process = Process()
        process.executableURL = binary
        process.arguments = ["serve", "--listen-ip", "127.0.0.1", "--stun-port", "0", "--http-port", "0", "--admin-port", "0", "--log-level", "warning"]
        let stdout = Pipe()
        process.standardOutput = stdout
        process.standardError = FileHandle.nullDevice
        try process.run()
        defer { if process.isRunning { process.terminate() } }

        var lines: [String] = []
        var pending = Data()
        let handle = stdout.fileHandleForReading
        while lines.count < 4 {
            let chunk = handle.availableData
            guard !chunk.isEmpty else { break }
            pending += chunk
            while let newline = pending.firstIndex(of: 0x0A) {
                lines.append(String(decoding: pending[pending.startIndex..<newline], as: UTF8.self))
                pending = pending[pending.index(after: newline)...]
            }
        }
        XCTAssertEqual(lines.map { $0.hasPrefix("http ") ? "http" : $0.hasPrefix("admin ") ? "admin" : $0.split(separator: " ").prefix(2).joined(separator: " ") },
                       ["stun udp", "stun tcp", "http", "admin"])
        let udp = try XCTUnwrap(TransportAddress(String(lines[0].split(separator: " ")[2])))
        XCTAssertEqual(udp.ip, .ipv4Loopback)
        XCTAssertNotEqual(udp.port, 0, "port 0 is replaced by the port picked")

        let client = try await STUNClient.open(local: TransportAddress(ip: .ipv4Loopback, port: 0))
        let response = try await client.transact(STUNMessage(type: .bindingRequest), to: udp,
                                                 policy: RetransmissionPolicy(initialRTO: .milliseconds(100), maxRequests: 5))
        XCTAssertEqual(response.message.xorMappedAddress, client.localAddress)
        await client.close()

        process.terminate()  // SIGTERM
        let deadline = Date().addingTimeInterval(10)
        while process.isRunning, Date() < deadline { try await Task.sleep(for: .milliseconds(20)) }
        XCTAssertFalse(process.isRunning, "serve must exit after SIGTERM")
        XCTAssertEqual(process.terminationStatus, 0)
    }

    /// A port already in use is a message and a non-zero exit within 2 s, for every listener, never a silent hang.
    func testABusyPortEndsServeWithALineNamingTheListener() async throws {
        let binary = Self.binary
        guard FileManager.default.isExecutableFile(atPath: binary.path) else {
            if ProcessInfo.processInfo.environment["CI"] == "true" { return XCTFail("switchboard binary missing at \(binary.path)") }
            throw XCTSkip("switchboard binary not built at \(binary.path); run `swift build` first")
        }
        let tcp = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        let udp = socket(AF_INET, Int32(SOCK_DGRAM.rawValue), 0)
        defer { close(tcp); close(udp) }
        func bindLoopback(_ fd: Int32) -> UInt16 {
            var address = sockaddr_in()
            address.sin_family = sa_family_t(AF_INET)
            address.sin_addr.s_addr = inet_addr("127.0.0.1")
            var length = socklen_t(MemoryLayout<sockaddr_in>.size)
            withUnsafeMutablePointer(to: &address) { pointer in
                pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { _ = bind(fd, $0, length) }
                pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { _ = getsockname(fd, $0, &length) }
            }
            return UInt16(bigEndian: address.sin_port)
        }
        let httpPort = bindLoopback(tcp)
        XCTAssertEqual(listen(tcp, 1), 0)
        let stunPort = bindLoopback(udp)
        for (arguments, expected) in [(["--http-port", "\(httpPort)"], "error: http 127.0.0.1:\(httpPort): address already in use"),
                                      (["--admin-port", "\(httpPort)"], "error: admin 127.0.0.1:\(httpPort): address already in use"),
                                      (["--stun-port", "\(stunPort)"], "error: stun udp 127.0.0.1:\(stunPort): address already in use")] {
            let process = Process()
            process.executableURL = binary
            process.arguments = ["serve", "--listen-ip", "127.0.0.1", "--stun-port", "0", "--http-port", "0", "--admin-port", "0"] + arguments
            let stderr = Pipe()
            process.standardOutput = FileHandle.nullDevice
            process.standardError = stderr
            let started = Date()
            try process.run()
            defer { if process.isRunning { process.terminate() } }
            while process.isRunning, Date().timeIntervalSince(started) < 5 { try await Task.sleep(for: .milliseconds(20)) }
            XCTAssertFalse(process.isRunning, "serve must give up on a busy port")
            XCTAssertLessThan(Date().timeIntervalSince(started), 2)
            XCTAssertNotEqual(process.terminationStatus, 0)
            let text = String(decoding: stderr.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            XCTAssertTrue(text.split(separator: "\n").contains { $0 == expected }, text)
        }
    }

    /// `serve --help` and `serve --print-config` come from the settings table, as the process prints them.
    func testHelpListsEverySettingAndPrintConfigMasksSecrets() throws {
        let binary = Self.binary
        guard FileManager.default.isExecutableFile(atPath: binary.path) else {
            if ProcessInfo.processInfo.environment["CI"] == "true" { return XCTFail("switchboard binary missing at \(binary.path)") }
            throw XCTSkip("switchboard binary not built at \(binary.path); run `swift build` first")
        }
        func run(_ arguments: [String], environment: [String: String] = [:]) throws -> (status: Int32, out: String, err: String) {
            let process = Process()
            process.executableURL = binary
            process.arguments = arguments
            process.environment = environment
            let out = Pipe(), err = Pipe()
            process.standardOutput = out
            process.standardError = err
            try process.run()
            let text = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            let error = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            process.waitUntilExit()
            return (process.terminationStatus, text, error)
        }
        let help = try run(["serve", "--help"])
        XCTAssertEqual(help.status, 0)
        for setting in ServerSettings.all {
            XCTAssertTrue(help.out.contains("\(setting.flag) <"), "\(setting.flag) missing from serve --help")
            XCTAssertTrue(help.out.contains(setting.environmentVariable), "\(setting.environmentVariable) missing from serve --help")
        }
        let printed = try run(["serve", "--user", "alice:hunter2", "--stun-port", "4000", "--print-config"],
                              environment: ["SWITCHBOARD_AUTH_SECRET": "topsecret", "SWITCHBOARD_REALM": "example.org"])
        XCTAssertEqual(printed.status, 0, printed.err)
        XCTAssertTrue(printed.out.contains("stun-port = 4000\n"), printed.out)
        XCTAssertTrue(printed.out.contains("realm = \"example.org\"\n"), printed.out)
        XCTAssertTrue(printed.out.contains("user = [\"alice:********\"]"), printed.out)
        XCTAssertFalse(printed.out.contains("hunter2") || printed.out.contains("topsecret"), "a secret was printed")
        let refused = try run(["serve", "--relay-ports", "9-3"])
        XCTAssertEqual(refused.status, 64)
        XCTAssertEqual(refused.err, "error: command line: relay-ports: '9-3' is not MIN-MAX with 1 ≤ MIN ≤ MAX ≤ 65535\n")
    }

    /// SIGHUP to the real process: the certificate files are read again, new handshakes get the new certificate
    /// and a connection opened before keeps working.
    func testSIGHUPReloadsTheCertificateFilesInTheRunningProcess() async throws {
        let binary = Self.binary
        guard FileManager.default.isExecutableFile(atPath: binary.path) else {
            if ProcessInfo.processInfo.environment["CI"] == "true" { return XCTFail("switchboard binary missing at \(binary.path)") }
            throw XCTSkip("switchboard binary not built at \(binary.path); run `swift build` first")
        }
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("switchboard-hup-\(UUID())")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let certFile = folder.appendingPathComponent("cert.pem"), keyFile = folder.appendingPathComponent("key.pem")
        func install() throws {
            let pem = try SelfSignedCertificate.makePEM(hosts: [])
            try pem.certificate.write(to: certFile, atomically: true, encoding: .utf8)
            try pem.key.write(to: keyFile, atomically: true, encoding: .utf8)
        }
        try install()
        let process = Process()
        process.executableURL = binary
        process.arguments = ["serve", "--listen-ip", "127.0.0.1", "--stun-port", "0", "--http-port", "0", "--admin-port", "0", "--tls-port", "0",
                             "--tls-cert", certFile.path, "--tls-key", keyFile.path, "--log-level", "warning"]
        let stdout = Pipe()
        process.standardOutput = stdout
        process.standardError = FileHandle.nullDevice
        try process.run()
        defer { if process.isRunning { process.terminate() } }
        var text = ""
        while !text.contains("\nhttp ") {
            let chunk = stdout.fileHandleForReading.availableData
            guard !chunk.isEmpty else { break }
            text += String(decoding: chunk, as: UTF8.self)
        }
        let line = try XCTUnwrap(text.split(separator: "\n").first { $0.hasPrefix("turn tls ") })
        let address = try XCTUnwrap(TransportAddress(String(line.split(separator: " ")[2])))

        func fingerprint(of socket: @escaping @Sendable (NIOLockedValueBox<[UInt8]>) async throws -> StreamSocket) async throws
            -> (StreamSocket, [UInt8]) {
            let seen = NIOLockedValueBox<[UInt8]>([])
            let connection = try await socket(seen)
            let binding = try await connection.transact(.binding, [], nonce: nil, key: .shortTerm(password: "unused"), timeout: .seconds(5))
            XCTAssertEqual(binding.type.messageClass, .successResponse)
            return (connection, seen.withLockedValue { $0 })
        }
        let connect: @Sendable (NIOLockedValueBox<[UInt8]>) async throws -> StreamSocket = { seen in
            try await StreamSocket(connectingTo: address) { chain in seen.withLockedValue { $0 = (try? chain[0].toDERBytes()) ?? [] } }
        }
        let (old, first) = try await fingerprint(of: connect)
        try install()
        kill(process.processIdentifier, SIGHUP)
        var second = first
        for _ in 0..<100 where second == first {
            try await Task.sleep(for: .milliseconds(50))
            let (fresh, seen) = try await fingerprint(of: connect)
            second = seen
            await fresh.close()
        }
        XCTAssertNotEqual(second, first, "after SIGHUP new handshakes must get the new certificate")
        let still = try await old.transact(.binding, [], nonce: nil, key: .shortTerm(password: "unused"), timeout: .seconds(5))
        XCTAssertEqual(still.type.messageClass, .successResponse, "a connection from before the reload keeps working")
        XCTAssertTrue(process.isRunning, "SIGHUP must not end the process")
        await old.close()
    }
}
