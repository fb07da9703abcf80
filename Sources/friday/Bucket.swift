import ArgumentParser
import Foundation
import FridayCore

/// `friday bucket FLAG USER_ID`: which side of a percentage rollout a user is on.
struct Bucket: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Say which bucket (0-99) a user falls in for a flag, and whether they get the new code path.",
        discussion: "A user is in the canary when bucket < percent; the bucket is FNV-1a 64 of \"FLAG:USER\" modulo 100."
    )

    @Argument(help: "The flag's name.") var flag: String
    @Argument(help: "The user's id.") var user: String
    @Option(help: "The flag's percentage (default: read from --file).") var percent: Int?
    @Option(help: "A flag file ({\"flags\":{\"NAME\":{\"percent\":N}}}) to read the percentage from.") var file: String?

    func run() throws {
        let b = FlagBucket.bucket(flag: flag, user: user)
        var p = percent
        if p == nil, let file {
            guard let data = FileManager.default.contents(atPath: file) else { throw ExitWith(message: "\(file): cannot read the flag file") }
            let v: JSONValue
            do { v = try JSONValue.parse(bytes: data) } catch { throw ExitWith(message: "\(file): not JSON: \(error.description)") }
            if let items = v["flags"]?[flag]?["split"]?.arrayValue {
                // Several versions: the first whose running total is above the bucket.
                var split: [VersionWeight] = []
                for item in items {
                    guard let name = item["version"]?.stringValue, let n = item["percent"]?.intValue, (0...100).contains(n) else {
                        throw ExitWith(message: "\(file): flag \"\(TerminalText.neutralise(flag))\": each split entry needs \"version\" and a whole \"percent\" 0–100")
                    }
                    split.append(VersionWeight(version: name, percent: n))
                }
                let sum = split.reduce(0) { $0 + $1.percent }
                guard sum == 100 else { throw ExitWith(message: "\(file): flag \"\(TerminalText.neutralise(flag))\": the split adds up to \(sum), not 100") }
                let v = FlagBucket.version(flag: flag, user: user, split: split) ?? "?"
                Plain.out("\(TerminalText.neutralise(user)) is in bucket \(b) of flag \(TerminalText.neutralise(flag)): \(TerminalText.neutralise(v)) (split \(TerminalText.neutralise(weightsText(split))))")
                return
            }
            guard let n = v["flags"]?[flag]?["percent"]?.intValue else { throw ExitWith(message: "\(file): no flag \"\(flag)\" with a whole \"percent\"") }
            p = n
        }
        guard let p else { Plain.out("\(user) is in bucket \(b) of flag \(flag): in the canary at any percentage above \(b)"); return }
        guard (0...100).contains(p) else { throw ExitWith(message: "--percent must be 0-100, got \(p)") }
        Plain.out("\(user) is in bucket \(b) of flag \(flag) at \(p)%: " + (b < p ? "new code path (canary)" : "old code path"))
    }
}
