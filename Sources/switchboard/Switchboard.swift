import ArgumentParser

@main
struct Switchboard: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "switchboard",
        abstract: "WebRTC signaling server and STUN/TURN relay in one binary.",
        subcommands: [Serve.self, Stun.self, TurnCheck.self, Credentials.self],
        defaultSubcommand: nil
    )
}
