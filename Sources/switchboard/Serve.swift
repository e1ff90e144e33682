import ArgumentParser
import Foundation
import Logging
import ServiceLifecycle
import EdgeSupport
import SwitchboardApp

/// `switchboard serve`: every setting flag comes from the settings table (`ServerSettings.all`), so the flags,
/// the environment variables, the TOML keys, this help and docs/configuration.md cannot disagree.
struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run STUN/TURN, WebSocket signaling and the demo page in one process.",
        usage: "switchboard serve [--config FILE] [--print-config] [--SETTING VALUE ...]",
        discussion: "`switchboard serve --help` lists every setting.")

    /// Our own help: the settings table laid out as it is, rather than re-wrapped as one paragraph.
    static var fullHelp: String {
        """
        OVERVIEW: \(configuration.abstract)

        USAGE: \(configuration.usage ?? "")

        Settings come from --config FILE (TOML, keys named like the flags), then SWITCHBOARD_* environment
        variables (repeatable ones comma-separated), then flags; flags win. Port 0 picks a free port. One line
        per listener is printed on stdout once it is bound, e.g. `stun udp 127.0.0.1:3478`. --print-config
        prints the effective settings as TOML, secrets masked, and exits. docs/configuration.md has the same table.

        SETTINGS:
        \(ServerSettings.helpText())

        """
    }

    // The table's flags are parsed by `ServeArguments`; ArgumentParser only hands the words over.
    @Argument(parsing: .captureForPassthrough, help: .hidden) var arguments: [String] = []

    func run() async throws {
        let configuration: ServerConfiguration
        let parsed: ServeArguments
        do {
            parsed = try ServeArguments.parse(arguments)
            if parsed.help {
                print(Serve.fullHelp, terminator: "")
                return
            }
            configuration = try ConfigurationSources.load(
                file: parsed.configFile, environment: ProcessInfo.processInfo.environment, flags: parsed.settings)
        } catch let error as ConfigurationError {
            FileHandle.standardError.write(Data("error: \(error.description)\n".utf8))
            throw ExitCode.validationFailure
        }
        if parsed.printConfig {
            print(ServerSettings.printedConfiguration(configuration), terminator: "")
            return
        }
        let format = configuration.logFormat
        let level = Logger.Level(rawValue: configuration.logLevel) ?? .info
        LoggingSystem.bootstrap { label in
            var handler: LogHandler = format == .json ? JSONLogHandler(label: label) : StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
        let logger = Logger(label: "switchboard")
        let service = try SwitchboardService(configuration: configuration, logger: logger) { listeners in
            // Readiness lines: scripts and tests wait for these on stdout.
            let lines = listeners.map { "\($0)\n" }.joined()
            FileHandle.standardOutput.write(Data(lines.utf8))
        }
        let group = ServiceGroup(configuration: .init(
            services: [.init(service: service)], gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
        do {
            try await group.run()
        } catch {
            // One line an operator can act on, then a non-zero exit (a busy port, a bad address).
            let failure = (error as? ListenerStartError).map(\.description) ?? "\(error)"
            FileHandle.standardError.write(Data("error: \(failure)\n".utf8))
            throw ExitCode.failure
        }
    }
}
