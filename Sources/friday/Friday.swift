import ArgumentParser
import FridayCore

/// `friday`: a terminal dashboard for live deploys.
@main
struct Friday: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "friday",
        abstract: "A terminal dashboard for live deploys: pipeline, canary traffic, errors and the team, on one screen.",
        version: "friday 0.10.0 (event log format \(DeployEvent.formatVersion), attach protocol \(Wire.version))",
        subcommands: [Demo.self, Run.self, Attach.self, Serve.self, Status.self, Promote.self, Pause.self, Resume.self, Revert.self, Retry.self, Say.self, Stop.self, Ingest.self, Check.self, Replay.self, Themes.self, Bucket.self, Bench.self]
    )
}
