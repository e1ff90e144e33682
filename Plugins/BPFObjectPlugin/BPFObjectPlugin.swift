import Foundation
import PackagePlugin

/// Compiles the kernel fast path's BPF program (`BPF/*.bpf.c` in the target) with the toolchain's clang and hands
/// the object to the target as generated Swift, so that the program is built from its source on every build and no
/// binary is committed. A machine whose clang cannot target BPF still builds: the server then reports the reason
/// when `--kernel-fastpath` is asked for.
@main
struct BPFObjectPlugin: BuildToolPlugin {
    func createBuildCommands(context: PluginContext, target: Target) throws -> [Command] {
        guard let target = target as? SourceModuleTarget else { return [] }
        let source = target.directoryURL.appending(path: "BPF/channel_fastpath.bpf.c")
        let includes = context.package.directoryURL.appending(path: "Sources/CKernelFastPath/include")
        let output = context.pluginWorkDirectoryURL.appending(path: "ChannelFastPathObject.swift")
        let clang = (try? context.tool(named: "clang").url.path) ?? "clang"
        return [
            .buildCommand(
                displayName: "Compiling the kernel fast path (BPF) for \(target.name)",
                executable: try context.tool(named: "BPFObjectEmbedder").url,
                arguments: [clang, source.path, includes.path, output.path],
                inputFiles: [source, includes.appending(path: "channel_routes.h")],
                outputFiles: [output]
            )
        ]
    }
}
