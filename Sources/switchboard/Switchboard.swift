import ArgumentParser

@main
struct Switchboard: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "switchboard",
        abstract: "WebRTC signaling server and STUN/TURN relay in one binary.",
        subcommands: [Serve.self, Stun.self, TurnCheck.self, Credentials.self, Admin.self],
        defaultSubcommand: nil
    )

    /// `serve --help` prints the settings table as laid out (ArgumentParser would re-wrap it as one paragraph).
    static func main() async {
        let arguments = Array(CommandLine.arguments.dropFirst())
        if arguments.first == "serve", arguments.contains(where: { $0 == "--help" || $0 == "-h" }) {
            print(Serve.fullHelp, terminator: "")
            return
        }
        do {
            var command = try parseAsRoot(arguments)
            if var asyncCommand = command as? AsyncParsableCommand {
                try await asyncCommand.run()
            } else {
                try command.run()
            }
        } catch {
            exit(withError: error)
        }
    }
}
