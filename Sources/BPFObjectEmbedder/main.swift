import Foundation

// Build tool for BPFObjectPlugin: BPFObjectEmbedder CLANG SOURCE INCLUDE_DIR OUTPUT.swift
// Compiles SOURCE for the BPF target and writes OUTPUT, a Swift file holding the object (base64, which compiles far
// faster than an array literal) or, when clang fails, the reason.

let arguments = CommandLine.arguments
guard arguments.count == 5 else {
    FileHandle.standardError.write(Data("usage: BPFObjectEmbedder CLANG SOURCE INCLUDE_DIR OUTPUT\n".utf8))
    exit(64)
}
let (clang, source, includes, output) = (arguments[1], arguments[2], arguments[3], arguments[4])

/// The kernel's UAPI headers include <asm/types.h>, which Debian keeps under the multiarch directory.
func multiarchIncludeDirectory() -> String {
    var name = utsname()
    uname(&name)
    let machine = withUnsafeBytes(of: &name.machine) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
    return "/usr/include/\(machine)-linux-gnu"
}

struct CompileFailure: Error {
    let reason: String
}

func compile() -> Result<Data, CompileFailure> {
    let object = output + ".o"
    let process = Process()
    process.executableURL = URL(fileURLWithPath: clang.hasPrefix("/") ? clang : "/usr/bin/env")
    let flags = ["-O2", "-g", "-target", "bpf", "-Wall", "-I", multiarchIncludeDirectory(), "-I", includes, "-c", source,
                 "-o", object]
    process.arguments = clang.hasPrefix("/") ? flags : [clang] + flags
    let errors = Pipe()
    process.standardError = errors
    do {
        try process.run()
    } catch {
        return .failure(CompileFailure(reason: "clang could not run (\(clang)): \(error)"))
    }
    let message = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
    process.waitUntilExit()
    guard process.terminationStatus == 0, let bytes = FileManager.default.contents(atPath: object) else {
        let firstLines = message.split(separator: "\n").prefix(3).joined(separator: " / ")
        return .failure(CompileFailure(reason: "clang could not build the BPF program: \(firstLines)"))
    }
    try? FileManager.default.removeItem(atPath: object)
    return .success(bytes)
}

func literal(_ text: String) -> String {
    "\"" + text.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"") + "\""
}

let generated: String
switch compile() {
case .success(let bytes):
    generated = """
        // Generated at build time by BPFObjectEmbedder from channel_fastpath.bpf.c.
        let channelFastPathObject: Result<String, KernelFastPathUnavailable> = .success(\(literal(bytes.base64EncodedString())))

        """
case .failure(let failure):
    let reason = failure.reason
    FileHandle.standardError.write(Data("warning: kernel fast path not built: \(reason)\n".utf8))
    generated = """
        // Generated at build time by BPFObjectEmbedder: the BPF program did not build.
        let channelFastPathObject: Result<String, KernelFastPathUnavailable> = .failure(.notBuilt(\(literal(reason))))

        """
}
do {
    try generated.write(toFile: output, atomically: true, encoding: .utf8)
} catch {
    FileHandle.standardError.write(Data("BPFObjectEmbedder: cannot write \(output): \(error)\n".utf8))
    exit(1)
}
