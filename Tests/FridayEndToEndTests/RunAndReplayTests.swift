import FridayCore
import FridayEngine
import FridayTesting
import Foundation
import XCTest

/// `friday check`, `friday run` (with a log, stopped and resumed) and `friday replay`, as a user runs them.
final class RunAndReplayTests: XCTestCase {
    let bin = fridayBinary()
    var dir: String!
    var example: String {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../../examples/simulated/friday.toml").standardized.path
    }

    override func setUpWithError() throws {
        dir = NSTemporaryDirectory() + "friday-run-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws { try? FileManager.default.removeItem(atPath: dir) }

    func testCheckPrintsThePlanOrTheError() throws {
        let ok = try runProcess(bin, ["check", example], env: ["XDG_STATE_HOME": dir])
        XCTAssertEqual(ok.status, 0, ok.err)
        XCTAssertTrue(ok.out.contains("rollout: 1% 30s → 5% 45s → 25% until promoted → 50% 45s → 100%"), ok.out)
        XCTAssertTrue(ok.out.contains("log: \(dir!)/friday/deploys/checkout-v2.4.0.jsonl"), ok.out)
        let bad = dir + "/bad.toml"
        try (try String(contentsOfFile: example, encoding: .utf8)).replacingOccurrences(of: "pause = \"45s\"", with: "pause = \"45 secs\"")
            .write(toFile: bad, atomically: true, encoding: .utf8)
        let r = try runProcess(bin, ["check", bad])
        XCTAssertEqual(r.status, 1)
        XCTAssertTrue(r.err.contains("\(bad):29: rollout.step[2].pause: \"45 secs\" is not a duration from 0s to 30 days (720h); use 30s, 5m, 1h30m or \"until-promoted\""), r.err)
    }

    func testASecondRunOnTheSameLogIsRefusedAndAFinishedDeployIsNotAppliedAgain() throws {
        // A flag-file router, so what reaches the "router" can be read: the flag file.
        let flags = dir + "/flags.json"
        let file = dir + "/flag.toml"
        let text = try String(contentsOfFile: example, encoding: .utf8)
            .replacingOccurrences(of: "[router]\nkind = \"simulator\"", with: "[router]\nkind = \"flag-file\"\npath = \"\(flags)\"\nflag = \"checkout\"")
            .replacingOccurrences(of: "to = { version = \"v2.4.0\", commit = \"9f2c1ab\" }", with: "to = { version = \"v2.4.0\", commit = \"9f2c1ab\" }\nsimulate = [\"metrics\", \"pipeline\"]")
        try text.write(toFile: file, atomically: true, encoding: .utf8)
        let log = dir + "/flag.jsonl"
        let first = Process()
        first.executableURL = URL(fileURLWithPath: bin)
        first.arguments = ["run", file, "--headless", "--log", log, "--duration", "6"]
        first.standardOutput = FileHandle.nullDevice
        try first.run()
        defer { if first.isRunning { kill(first.processIdentifier, SIGKILL) } }
        var waited = 0
        while !FileManager.default.fileExists(atPath: log + ".lock"), waited < 100 { usleep(50_000); waited += 1 }
        let second = try runProcess(bin, ["run", file, "--headless", "--log", log, "--duration", "5"])
        XCTAssertEqual(second.status, 1)
        XCTAssertTrue(second.err.contains("another friday is running this deploy (pid \(first.processIdentifier) on "), second.err)
        first.waitUntilExit()
        XCTAssertNil(try readEvents(log).problem, "one writer: the log reads back")
        // A finished deploy: a crafted end, then another canary's split in the flag file.
        let events = try EventLog.readEvents(path: log).events
        XCTAssertFalse(events.isEmpty)
        let end = DeployEvent(seq: events.count, ts: events.last!.ts + 1, deploy: events.last!.deploy,
                              payload: .deployFinished(outcome: .promoted, by: "rollout", reason: nil))
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: log))
        handle.seekToEndOfFile()
        handle.write(Data((EventLog.line(for: end) + "\n").utf8))
        try handle.close()
        try #"{"checkout": 10}"#.write(toFile: flags, atomically: true, encoding: .utf8)
        let again = try runProcess(bin, ["run", file, "--headless", "--log", log])
        XCTAssertEqual(again.status, 0, again.err)
        XCTAssertTrue(again.out.contains("already finished"), again.out)
        XCTAssertTrue(again.out.contains("Nothing was sent to the router"), again.out)
        XCTAssertEqual(try String(contentsOfFile: flags, encoding: .utf8), #"{"checkout": 10}"#, "the other canary's split is untouched")
    }

    func testAJudgesRevertIsUndoneInGitOnABranchAndAnEngineStoppedBeforeItMakesItOnItsNextStart() throws {
        // A real repository with the deployed range.
        let repo = dir + "/repo"
        try FileManager.default.createDirectory(atPath: repo, withIntermediateDirectories: true)
        func git(_ args: String...) -> String {
            let (_, out) = bash(["-c", "git -C \"$0\" -c user.email=t@example.com -c user.name=Test \"$@\" 2>&1", repo] + args, env: [:], scratch: dir + "/git")
            return out.trimmingCharacters(in: .whitespacesAndNewlines)
        }
        _ = git("init", "-q", "-b", "main")
        try "v=1\n".write(toFile: repo + "/app.txt", atomically: true, encoding: .utf8)
        _ = git("add", "app.txt"); _ = git("commit", "-q", "-m", "first")
        let from = git("rev-parse", "HEAD")
        try "v=2\n".write(toFile: repo + "/app.txt", atomically: true, encoding: .utf8)
        _ = git("commit", "-q", "-am", "use uuids")
        let to = git("rev-parse", "HEAD")
        let file = dir + "/git.toml"
        let text = try String(contentsOfFile: example, encoding: .utf8)
            .replacingOccurrences(of: "from = { version = \"v2.3.0\", commit = \"4be1c07\" }", with: "from = { version = \"v2.3.0\", commit = \"\(from)\" }")
            .replacingOccurrences(of: "to = { version = \"v2.4.0\", commit = \"9f2c1ab\" }", with: "to = { version = \"v2.4.0\", commit = \"\(to)\" }\nrepo = \"repo\"")
            .replacingOccurrences(of: "scenario = \"good\"", with: "scenario = \"bad-canary\"")
            + "\n[git]\nrevert = true\n"
        try text.write(toFile: file, atomically: true, encoding: .utf8)
        let log = dir + "/git.jsonl"
        let run = try runProcess(bin, ["run", file, "--headless", "--log", log])
        XCTAssertEqual(run.status, 0, run.err)
        XCTAssertTrue(run.out.contains("\"type\":\"deploy.finished\",\"data\":{\"outcome\":\"reverted\""), run.out)
        XCTAssertTrue(run.out.contains("\"type\":\"git.reverted\""), run.out)
        XCTAssertEqual(git("log", "-1", "--format=%s", "friday/revert-checkout-v2.4.0"), "Revert \"use uuids\"")
        XCTAssertEqual(git("rev-parse", "HEAD"), to, "the checkout is where it was")
        let summary = try runProcess(bin, ["replay", log, "--summary"])
        XCTAssertTrue(summary.out.contains("1 commit on branch friday/revert-checkout-v2.4.0 (not pushed)"), summary.out)

        // The engine stopped after the revert and before git's part: cut the log there.
        let lines = try String(contentsOfFile: log, encoding: .utf8).split(separator: "\n")
        let kept = lines.filter { !$0.contains("\"type\":\"git.reverted\"") }
        XCTAssertEqual(kept.count, lines.count - 1)
        try (kept.joined(separator: "\n") + "\n").write(toFile: log, atomically: true, encoding: .utf8)
        try? FileManager.default.removeItem(atPath: log + ".snapshot")
        _ = git("branch", "-D", "friday/revert-checkout-v2.4.0")
        let again = try runProcess(bin, ["run", file, "--headless", "--log", log])
        XCTAssertEqual(again.status, 0, again.err)
        XCTAssertTrue(again.out.contains("its revert in git was not made: making it now"), again.out)
        XCTAssertTrue(again.out.contains("Nothing was sent to the router"), again.out)
        XCTAssertEqual(git("log", "-1", "--format=%s", "friday/revert-checkout-v2.4.0"), "Revert \"use uuids\"")
        XCTAssertEqual(try EventLog.readEvents(path: log).events.last?.payload.type, "git.reverted")
        // Once made, a third start does not make it again.
        let third = try runProcess(bin, ["run", file, "--headless", "--log", log])
        XCTAssertFalse(third.out.contains("making it now"), third.out)
        XCTAssertEqual(git("branch", "--list", "friday/*").split(separator: "\n").count, 1)
    }

    /// A deploy file without a pipeline stage has nothing to wait for: its rollout starts
    /// (before, it never did and `run` exited 0 having done nothing).
    func testADeployWithNoPipelineStageRollsOut() throws {
        var text = try String(contentsOfFile: example, encoding: .utf8)
        while let r = text.range(of: #"\[\[pipeline\.stage\]\]\nname = "[^"]*"\n\n"#, options: .regularExpression) { text.removeSubrange(r) }
        XCTAssertFalse(text.contains("pipeline"))
        let file = dir + "/nostage.toml"
        try text.write(toFile: file, atomically: true, encoding: .utf8)
        let check = try runProcess(bin, ["check", file])
        XCTAssertTrue(check.out.contains("pipeline: none"), check.out)
        let run = try runProcess(bin, ["run", file, "--headless", "--log", dir + "/nostage.jsonl"])
        XCTAssertEqual(run.status, 0, run.err)
        XCTAssertTrue(run.out.contains("\"type\":\"step.started\""), "the rollout started")
        XCTAssertTrue(run.out.contains("\"type\":\"deploy.finished\",\"data\":{\"outcome\":\"promoted\""), String(run.out.suffix(400)))
    }

    func readEvents(_ path: String) throws -> (count: Int, problem: String?) {
        let r = try runProcess(bin, ["replay", path, "--summary"])
        return (r.out.count, r.status == 0 ? nil : r.err)
    }

    func testARunStoppedMidwayResumesAndReplaysToTheSameEnd() throws {
        let log = dir + "/deploy.jsonl"
        let first = try runProcess(bin, ["run", example, "--headless", "--log", log, "--duration", "110"])
        XCTAssertEqual(first.status, 0, first.err)
        XCTAssertTrue(first.out.contains("\"type\":\"step.started\",\"data\":{\"index\":1"), "reached the 5% step")
        XCTAssertFalse(first.out.contains("deploy.finished"))
        let second = try runProcess(bin, ["run", example, "--headless", "--log", log, "--duration", "1000"])
        XCTAssertEqual(second.status, 0, second.err)
        let lines = second.out.split(separator: "\n")
        XCTAssertTrue(lines.first!.contains("\"type\":\"engine.restarted\""), String(lines.first!))
        XCTAssertFalse(second.out.contains("\"type\":\"deploy.started\""), "the deploy is not started again")
        XCTAssertTrue(lines.contains { $0.contains("\"type\":\"deploy.finished\",\"data\":{\"outcome\":\"promoted\"") }, second.out.suffix(500).description)
        // Sequence numbers go on from where the first run stopped.
        let firstLast = first.out.split(separator: "\n").last!
        let seq = { (l: Substring) in Int(l.split(separator: ",")[1].dropFirst(6))! }
        XCTAssertEqual(seq(lines.first!), seq(firstLast) + 1)
        // The simulator draws new traffic after a restart, not the first run's figures again.
        func samples(_ text: String) -> [String] {
            text.split(separator: "\n").filter { $0.contains("\"type\":\"metrics.sample\"") }.prefix(10)
                .map { String($0[$0.range(of: "\"data\":")!.lowerBound...].prefix(while: { $0 != "}" })) }
        }
        XCTAssertEqual(samples(second.out).count, 10)
        XCTAssertNotEqual(samples(first.out), samples(second.out), "the resumed run repeats the first run's traffic")

        let summary = try runProcess(bin, ["replay", log, "--summary"])
        XCTAssertEqual(summary.status, 0, summary.err)
        XCTAssertTrue(summary.out.hasPrefix("# Deploy checkout-v2.4.0: checkout v2.3.0 → v2.4.0"), summary.out)
        XCTAssertTrue(summary.out.contains("- Outcome: **promoted**"))
        XCTAssertTrue(summary.out.contains("friday restarted after"))
        XCTAssertTrue(summary.out.contains("| maya | promote | accepted | healthy for a minute |"), summary.out)
        XCTAssertTrue(summary.out.contains("## Verdicts"))

        // The replay dashboard: starts at the first event, End jumps to the outcome.
        let t = try TmuxSession(command: "\(bin) replay \(log); echo \"exit=$?\"; sleep 300")
        XCTAssertTrue(t.wait(for: "REPLAY"), t.text)
        XCTAssertTrue(t.text.contains("event 1/"), t.text)
        t.press("G")
        XCTAssertTrue(t.wait(for: "PROMOTED"), t.text)
        t.press("g")
        XCTAssertTrue(t.wait(for: "event 1/"), t.text)
        t.press("Right")
        XCTAssertTrue(t.wait(for: "event 2/"), t.text)
        t.press("]")
        XCTAssertTrue(t.wait { !$0.joined().contains("event 2/") }, t.text)
        t.press("q")
        XCTAssertTrue(t.wait(for: "exit=0"), t.text)
        XCTAssertEqual(t.format("#{alternate_on}"), "0")
    }

    func testTheExamplePipelineRunsItsCommandsAndAFailingStageStopsTheDeploy() throws {
        let example = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../../examples/pipeline/friday.toml").standardized.path
        let failing = try runProcess(bin, ["run", example, "--headless", "--log", dir + "/fail.jsonl", "--duration", "30"], env: ["FAIL": "1", "TMPDIR": dir])
        XCTAssertEqual(failing.status, 0, failing.err)
        let lines = failing.out.split(separator: "\n").map(String.init)
        let events = try lines.map { try DeployEvent(jsonLine: $0) }
        func output(_ stage: String) -> [String] { events.compactMap { if case let .stageOutput(s, l) = $0.payload, s == stage { return l }; return nil } }
        XCTAssertTrue(output("wait for build").contains { $0.hasPrefix("[friday] not yet (exit status 1); again in 1s") }, "\(output("wait for build"))")
        XCTAssertTrue(output("wait for build").contains("build of c0ffee1 found"))
        XCTAssertEqual(output("test").first, "testing checkout v2.4.0..v2.5.0 (9f2c1ab..c0ffee1)")
        XCTAssertTrue(output("test").contains("contract: checkout.v2 expects field 'currency'"), "stderr is part of the output")
        XCTAssertEqual(output("test").last, "[friday] exit status 1")
        XCTAssertTrue(events.contains { if case .stageFinished("test", .failed, _) = $0.payload { return true }; return false })
        XCTAssertFalse(events.contains { if case .stageStarted("build container") = $0.payload { return true }; return false })
        XCTAssertTrue(events.contains { if case .deployFinished(.failed, _, _) = $0.payload { return true }; return false })
        XCTAssertFalse(events.contains { if case .stepStarted = $0.payload { return true }; return false }, "traffic moved after a failed stage")

        let passing = try runProcess(bin, ["run", example, "--headless", "--log", dir + "/pass.jsonl", "--duration", "12"], env: ["TMPDIR": dir])
        XCTAssertEqual(passing.status, 0, passing.err)
        let ok = try passing.out.split(separator: "\n").map { try DeployEvent(jsonLine: String($0)) }
        XCTAssertTrue(ok.contains { if case .stageOutput("build container", "tagged checkout:v2.5.0") = $0.payload { return true }; return false })
        XCTAssertTrue(ok.contains { if case .stepStarted(0, 5, _) = $0.payload { return true }; return false }, "the canary did not start after the pipeline")
    }

    func testAKilledScreenLeavesTheDeployRunningAndAKilledEngineResumesOnTheSameStep() throws {
        let log = dir + "/live.jsonl"
        let first = try TmuxSession(command: "\(bin) run \(example) --log \(log) --speed 20 --user ana; echo \"exit=$?\"; sleep 300")
        XCTAssertTrue(first.wait(for: "ROLLING step 2/5 5%", seconds: 30), first.text)
        // The engine runs on its own (its pid is in the log's lock file).
        let lock = try String(contentsOfFile: log + ".lock", encoding: .utf8)
        let engine = pid_t(lock.split(separator: " ").dropFirst().first ?? "") ?? 0
        XCTAssertGreaterThan(engine, 0, lock)
        // The screen killed with SIGKILL: the deploy goes on.
        let shell = first.format("#{pane_pid}")
        let screen = pid_t((try String(contentsOfFile: "/proc/\(shell)/task/\(shell)/children", encoding: .utf8)).split(separator: " ").first ?? "") ?? 0
        XCTAssertGreaterThan(screen, 0)
        XCTAssertNotEqual(screen, engine)
        kill(screen, SIGKILL)
        usleep(300_000)
        XCTAssertEqual(kill(engine, 0), 0, "the engine died with the screen")
        // The engine killed with SIGKILL mid-deploy: the next run starts one that resumes it.
        kill(engine, SIGKILL)
        usleep(300_000)
        let second = try TmuxSession(command: "\(bin) run \(example) --log \(log) --speed 20 --user ana; sleep 300")
        XCTAssertTrue(second.wait(for: "friday restarted after"), second.text)
        XCTAssertTrue(second.text.contains("step 2/5") || second.text.contains("step 3/5"), second.text)
        XCTAssertFalse(second.text.contains("PIPELINE"), second.text)
        // The killed engine never recorded ana's leaving; the new one does, then she joins again.
        let status = try runProcess(bin, ["status", "--log", log, "--json"])
        XCTAssertEqual(status.status, 0, status.err)
        let watching = try JSONValue.parse(status.out.trimmingCharacters(in: .whitespacesAndNewlines))["watching"]?.arrayValue?.compactMap { $0["who"]?.stringValue } ?? []
        XCTAssertEqual(watching.filter { $0 == "ana" }.count, 1, "\(watching)")
        let events = try String(contentsOfFile: log, encoding: .utf8)
        XCTAssertTrue(events.contains("\"type\":\"presence.left\",\"data\":{\"who\":\"ana\"}"), "no presence.left for the dashboard of the killed engine")
        second.press("q")
        let stopped = try runProcess(bin, ["stop", "--log", log, "--traffic", "leave"])
        XCTAssertEqual(stopped.status, 0, stopped.err)
    }
}
