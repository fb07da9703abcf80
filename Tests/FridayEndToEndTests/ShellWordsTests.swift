import FridayCore
import FridayEngine
import FridayTesting
import Foundation
import XCTest

/// The command line speaks shell, not dashboard (issue 24, items 7 and 9): refusals name the
/// command that helps, a refused verb is answered to its sender only, `say` takes its line as
/// words, `status` with no deploy lists them, `stop` without `--traffic` says what it needs,
/// and the board lists ids, in plain text and JSON, and keeps a deploy that ended.
final class ShellWordsTests: XCTestCase {
    let bin = fridayBinary()
    var state: String!
    var pids: [pid_t] = []
    var env: [String: String] { ["XDG_STATE_HOME": state, "USER": "sam"] }

    var example: String {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../../examples/simulated/friday.toml").standardized.path
    }

    override func setUpWithError() throws {
        state = "/tmp/fs-\(getpid())-\(UInt16.random(in: 0...UInt16.max))"
        try FileManager.default.createDirectory(atPath: state, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws {
        _ = try? runProcess(bin, ["stop", "shell", "--traffic", "leave", "--reason", "test over"], env: env)
        for p in pids { kill(p, SIGKILL); var st: Int32 = 0; waitpid(p, &st, 0) }
        try? FileManager.default.removeItem(atPath: state)
    }

    func events() -> [DeployEvent] { (try? EventLog.readEvents(path: state + "/friday/deploys/shell.jsonl").events) ?? [] }

    func testTheCommandLineSpeaksShellAndAnswersARefusalToItsSenderOnly() throws {
        let file = state + "/shell.toml"
        try String(contentsOfFile: example, encoding: .utf8).replacingOccurrences(of: "id = \"checkout-v2.4.0\"", with: "id = \"shell\"")
            .write(toFile: file, atomically: true, encoding: .utf8)
        pids.append(try XCTUnwrap(spawnProcess([bin, "serve", file, "--speed", "5", "--linger", "600"], env: env, output: "\(state!)/serve.out")))
        let deadline = Date().addingTimeInterval(60)
        while Date() < deadline {
            let r = try runProcess(bin, ["status", "shell", "--json"], env: env)
            if r.status == 0, (try? JSONValue.parse(r.out.trimmingCharacters(in: .whitespacesAndNewlines)))?["state"]?.stringValue == "rolling" { break }
            usleep(200_000)
        }
        // status with no deploy and no ./friday.toml: the deploys, with their ids.
        let list = try runProcess(bin, ["status"], env: env, cwd: state)
        XCTAssertEqual(list.status, 0, list.err)
        XCTAssertTrue(list.out.hasPrefix("NEED"), list.out)
        XCTAssertTrue(list.out.contains(" shell ") && list.out.contains("checkout"), list.out)
        // board --json: one object per deploy, the id first.
        let json = try runProcess(bin, ["board", "--json"], env: env)
        XCTAssertEqual(json.status, 0, json.err)
        let row = try JSONValue.parse(try XCTUnwrap(json.out.split(separator: "\n").first.map(String.init)))
        XCTAssertEqual(row["id"]?.stringValue, "shell")
        XCTAssertEqual(row["service"]?.stringValue, "checkout")

        // say takes its line as words after the deploy.
        let said = try runProcess(bin, ["say", "shell", "looking", "at", "the", "graphs"], env: env)
        XCTAssertEqual(said.status, 0, said.err)
        let nothing = try runProcess(bin, ["say", "shell"], env: env)
        XCTAssertNotEqual(nothing.status, 0)
        XCTAssertTrue(nothing.err.contains("say what?"), nothing.err)

        // A refused verb: the reason on stderr, exit 1, nothing in the team log.
        let before = events().count
        let retry = try runProcess(bin, ["retry", "shell"], env: env)
        XCTAssertEqual(retry.status, 1)
        XCTAssertTrue(retry.err.contains("retry refused: retry applies to a reverted or failed rollout"), retry.err)
        // stop without --traffic (no terminal to ask on): its own words, not the program's usage.
        let stop = try runProcess(bin, ["stop", "shell"], env: env)
        XCTAssertNotEqual(stop.status, 0)
        XCTAssertTrue(stop.err.contains("--traffic leave, pause or revert"), stop.err)
        XCTAssertFalse(stop.err.contains("SUBCOMMANDS") || stop.err.contains("USAGE: friday <subcommand>"), stop.err)

        // Reverted: a promote says the shell command that helps, not the dashboard's key.
        let revert = try runProcess(bin, ["revert", "shell", "--reason", "checking the shell words"], env: env)
        XCTAssertEqual(revert.status, 0, revert.err)
        var reverted = false
        let until = Date().addingTimeInterval(30)
        while !reverted, Date() < until {
            reverted = events().contains { if case .deployFinished(.reverted, _, _) = $0.payload { return true }; return false }
            if !reverted { usleep(100_000) }
        }
        XCTAssertTrue(reverted)
        let promote = try runProcess(bin, ["promote", "shell"], env: env)
        XCTAssertEqual(promote.status, 1)
        XCTAssertTrue(promote.err.contains("`friday retry shell` retries it first"), promote.err)
        XCTAssertFalse(promote.err.contains("press R"), promote.err)
        let all = events()
        XCTAssertTrue(all.contains { if case let .chatMessage(from, text) = $0.payload { return from == "sam (cli)" && text == "looking at the graphs" }; return false })
        XCTAssertFalse(all.dropFirst(before).contains { if case .commandRejected = $0.payload { return true }; return false },
                       "refused CLI verbs are answered to their sender, not logged for everyone")
    }
}
