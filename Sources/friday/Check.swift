import ArgumentParser
import Foundation
import FridayIntegrations

/// `friday check FILE`: validates a deploy file and prints the plan it describes.
struct Check: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Check a deploy file and print the plan it describes.")

    @Argument(help: "The deploy file.", completion: .file(extensions: ["toml"]))
    var file: String = "friday.toml"

    func run() throws {
        let config = try loadConfig(file)
        Plain.out("\(file): ok")
        for line in config.planDescription { Plain.out("  " + line) }
        Plain.out("  log: \(defaultLogPath(for: config))")
    }
}

/// Reads a deploy file; errors become a message with file:line and key.
func loadConfig(_ path: String) throws -> DeployConfig {
    guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
        throw ExitWith(message: "\(path): cannot read the deploy file (does it exist? `friday check PATH` validates one)")
    }
    do { return try DeployConfigParser.parse(text, file: path) } catch { throw ExitWith(message: error.description) }
}

/// `$XDG_STATE_HOME/friday/deploys/ID.jsonl` (XDG_STATE_HOME defaults to ~/.local/state).
func defaultLogPath(for config: DeployConfig) -> String { defaultLogPath(forID: config.id) }
