import ArgumentParser
import Foundation
import FridayCore

/// The entry point: ArgumentParser's, except that an error's message (which can hold what
/// was typed, a file's text or an engine's answer) goes out through `Plain`, neutralised.
/// Help, `--version` and completion scripts are friday's own text and are written as they are.
@main
enum FridayMain {
    static func main() async {
        do {
            var command = try Friday.parseAsRoot()
            if var a = command as? AsyncParsableCommand { try await a.run() } else { try command.run() }
        } catch {
            let code = Friday.exitCode(for: error)
            let message = Friday.fullMessage(for: error)
            if code == .success {
                if !message.isEmpty { FileHandle.standardOutput.write(Data((message + "\n").utf8)) }
            } else if !message.isEmpty {
                Plain.err(message)
            }
            exit(code.rawValue)
        }
    }
}

/// `friday`: a terminal dashboard for live deploys.
struct Friday: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "friday",
        abstract: "A terminal dashboard for live deploys: pipeline, canary traffic, errors and the team, on one screen.",
        version: "friday 0.10.0 (event log format \(DeployEvent.formatVersion), attach protocol \(Wire.version))",
        subcommands: [Demo.self, Run.self, Attach.self, Board.self, Serve.self, Status.self, Promote.self, Pause.self, Resume.self, Revert.self, Retry.self, Say.self, Stop.self, Ingest.self, Check.self, Replay.self, Stats.self, StoreCommand.self, LockCommand.self, UnlockCommand.self, Themes.self, Bucket.self, Bench.self]
    )
}
