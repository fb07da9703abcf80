import FridayCore
import FridayEngine
import FridayTesting
import Foundation
import XCTest

/// The right name in the permanent record (issue 24, item 3): a deploy file without `by` is
/// started by the person running friday, not the simulator's teammate "lee"; with `$USER`
/// and `$LOGNAME` unset (containers, cron, CI) the account name is used, and no action's
/// author is ever "you".
final class AuthorshipTests: XCTestCase {
    let bin = fridayBinary()
    var state: String!
    var pids: [pid_t] = []

    var example: String {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../../examples/simulated/friday.toml").standardized.path
    }

    /// This process's account name, as `getpwuid` gives it.
    var account: String { String(cString: getpwuid(getuid())!.pointee.pw_name) }

    override func setUpWithError() throws {
        state = "/tmp/fa-\(getpid())-\(UInt16.random(in: 0...UInt16.max))"
        try FileManager.default.createDirectory(atPath: state, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws {
        _ = try? runProcess(bin, ["stop", "anon", "--traffic", "leave", "--reason", "test over"], env: ["XDG_STATE_HOME": state, "USER": "tester"])
        for p in pids { kill(p, SIGKILL); var st: Int32 = 0; waitpid(p, &st, 0) }
        try? FileManager.default.removeItem(atPath: state)
    }

    /// The example without its `by` line, under another id.
    func fileWithoutBy() throws -> String {
        let text = try String(contentsOfFile: example, encoding: .utf8)
        XCTAssertTrue(text.contains("by = \"lee\"\n"))
        let file = state + "/anon.toml"
        try text.replacingOccurrences(of: "by = \"lee\"\n", with: "").replacingOccurrences(of: "id = \"checkout-v2.4.0\"", with: "id = \"anon\"")
            .write(toFile: file, atomically: true, encoding: .utf8)
        return file
    }

    func startedBy(_ log: String) throws -> String? {
        for e in try EventLog.readEvents(path: log).events { if case let .deployStarted(_, _, _, _, _, by) = e.payload { return by } }
        return nil
    }

    func testADeployFileWithoutByIsStartedByThePersonRunningFriday() throws {
        let file = try fileWithoutBy()
        let alice = try runProcess(bin, ["run", file, "--headless", "--log", state + "/a.jsonl", "--duration", "5"], env: ["USER": "alice"])
        XCTAssertEqual(alice.status, 0, alice.err)
        XCTAssertEqual(try startedBy(state + "/a.jsonl"), "alice", "before: lee, the simulator's teammate")
        // No $USER or $LOGNAME (a container, cron, CI): the account.
        let bare = try runProcess(bin, ["run", file, "--headless", "--log", state + "/b.jsonl", "--duration", "5"], env: ["USER": "", "LOGNAME": ""])
        XCTAssertEqual(bare.status, 0, bare.err)
        XCTAssertEqual(try startedBy(state + "/b.jsonl"), account)
        // The file's own `by` still wins.
        let lee = try runProcess(bin, ["run", example, "--headless", "--log", state + "/c.jsonl", "--duration", "5"], env: ["USER": "alice"])
        XCTAssertEqual(lee.status, 0, lee.err)
        XCTAssertEqual(try startedBy(state + "/c.jsonl"), "lee")
    }

    func testACommandFromAShellWithoutUserIsLoggedUnderTheAccountNeverYou() throws {
        let env = ["XDG_STATE_HOME": state!, "USER": "", "LOGNAME": ""]
        pids.append(try XCTUnwrap(spawnProcess([bin, "serve", try fileWithoutBy(), "--speed", "5", "--linger", "600"], env: env, output: "\(state!)/serve.out")))
        // Wait until the rollout runs (a pause before it is refused), then pause from a shell that has no $USER.
        let deadline = Date().addingTimeInterval(60)
        while Date() < deadline {
            let r = try runProcess(bin, ["status", "anon", "--json"], env: env)
            if r.status == 0, (try? JSONValue.parse(r.out.trimmingCharacters(in: .whitespacesAndNewlines)))?["state"]?.stringValue == "rolling" { break }
            usleep(200_000)
        }
        let paused = try runProcess(bin, ["pause", "anon", "--reason", "checking a graph"], env: env)
        XCTAssertEqual(paused.status, 0, paused.err)
        let log = state + "/friday/deploys/anon.jsonl"
        var texts: [String] = []
        let seen = Date().addingTimeInterval(30)
        while Date() < seen {
            var s = DeployState()
            for e in (try? EventLog.readEvents(path: log).events) ?? [] { Reducer.reduce(&s, e) }
            texts = s.log.map(\.text)
            if texts.contains(where: { $0.contains("paused") }) { break }
            usleep(200_000)
        }
        let line = texts.first { $0.contains("paused") } ?? ""
        XCTAssertTrue(line.hasPrefix("\(account) (cli) paused"), texts.suffix(5).joined(separator: "\n"))
        XCTAssertFalse(texts.contains { $0.contains("you (cli)") }, texts.joined(separator: "\n"))
    }
}
