import FridayCore
import FridayEngine
import FridayIntegrations
import Foundation
import XCTest

/// Real stage commands (sh scripts and argument lists) run by `CommandPipeline`, their
/// events folded into a state as the engine does, on the wall clock.
final class CommandPipelineTests: XCTestCase {
    var dir: String!

    override func setUpWithError() throws {
        dir = "/tmp/fp-\(getpid())-\(UInt16.random(in: 0...UInt16.max))"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws { try? FileManager.default.removeItem(atPath: dir) }

    func pipeline(_ specs: [StageSpec], grace: Double = 1, fileLimit: Int = CommandPipeline.defaultFileLimit) -> CommandPipeline {
        CommandPipeline(specs: specs, deployID: "d1", service: "checkout", from: VersionRef(name: "v1", commit: "aaa1111"),
                        to: VersionRef(name: "v2", commit: "bbb2222"), outputDir: dir, grace: grace, fileLimit: fileLimit)
    }

    func started(_ names: [String]) -> DeployState {
        var s = DeployState()
        Reducer.reduce(&s, DeployEvent(seq: 0, ts: now(), deploy: "d1", payload: .deployStarted(
            service: "checkout", from: VersionRef(name: "v1", commit: "aaa1111"), to: VersionRef(name: "v2", commit: "bbb2222"),
            plan: RolloutPlan(steps: [RolloutStep(weight: 100, pause: .seconds(0))]), stages: names, by: "test")))
        return s
    }

    func now() -> Timestamp { Timestamp(seconds: Date().timeIntervalSince1970) }

    /// Polls every 50 ms, folding what comes out, until `until` holds or `seconds` pass.
    func drive(_ p: CommandPipeline, _ s: inout DeployState, seconds: Double = 15, until: (DeployState) -> Bool) async -> [EventPayload] {
        var all: [EventPayload] = []
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline, !until(s) {
            let t = now()
            for o in await p.poll(at: t, state: s) {
                guard case let .event(payload) = o else { continue }
                all.append(payload)
                Reducer.reduce(&s, DeployEvent(seq: s.lastSeq + 1, ts: t, deploy: "d1", payload: payload))
            }
            try? await Task.sleep(for: .milliseconds(50))
        }
        return all
    }

    func output(_ events: [EventPayload]) -> [String] {
        events.compactMap { if case let .stageOutput(_, line) = $0 { return line }; return nil }
    }

    func alive(_ pid: pid_t) -> Bool {
        // A zombie is not alive: read its state.
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8) else { return false }
        return !stat.contains(") Z ")
    }

    func testAScriptThatPrintsSleepsAndFailsStopsThePipelineWithItsLastLinesAndArgumentsAreNeverAShellLine() async throws {
        let p = pipeline([
            StageSpec(name: "versions", run: .argv(["/bin/echo", "to=$FRIDAY_TO_VERSION", "$(touch \(dir!)/pwned)"])),
            StageSpec(name: "env", run: .script("echo \"$FRIDAY_DEPLOY $FRIDAY_TO_VERSION $FRIDAY_TO_COMMIT $FRIDAY_STAGE $EXTRA\""), env: ["EXTRA": "x y"]),
            StageSpec(name: "build", run: .script("echo one; echo two >&2; sleep 0.3; echo three; exit 3")),
            StageSpec(name: "never", run: .script("touch \(dir!)/ran")),
        ])
        var s = started(["versions", "env", "build", "never"])
        let events = await drive(p, &s) { $0.failedStage != nil }
        let lines = output(events)
        XCTAssertTrue(lines.contains("to=$FRIDAY_TO_VERSION $(touch \(dir!)/pwned)"), "\(lines)")
        XCTAssertFalse(FileManager.default.fileExists(atPath: dir + "/pwned"), "an argument went through a shell")
        XCTAssertTrue(lines.contains("d1 v2 bbb2222 env x y"), "\(lines)")
        XCTAssertEqual(s.stages.map(\.status), [.succeeded, .succeeded, .failed, .pending])
        for l in ["one", "two", "three", "[friday] exit status 3"] { XCTAssertTrue(lines.contains(l), "missing \(l): \(lines)") }
        let alert = s.log.last { $0.kind == .alert }?.text ?? ""
        XCTAssertTrue(alert.hasPrefix("stage build failed after") && alert.contains("three / [friday] exit status 3"), alert)
        XCTAssertEqual(RolloutLogic.due(in: s, now: now()), [.fail(reason: "stage build failed")])
        _ = await drive(p, &s, seconds: 0.5) { _ in false }
        XCTAssertFalse(FileManager.default.fileExists(atPath: dir + "/ran"), "a stage after a failed one ran")
        XCTAssertEqual(try String(contentsOfFile: p.outputPath("build"), encoding: .utf8), "one\ntwo\nthree\n")
    }

    func testAStageOverItsTimeoutIsStoppedWithItsWholeProcessGroup() async throws {
        let p = pipeline([StageSpec(name: "slow", run: .script("sleep 30 & echo child $!; wait"), timeout: 1)])
        var s = started(["slow"])
        let events = await drive(p, &s) { $0.failedStage != nil }
        let lines = output(events)
        XCTAssertEqual(s.stages.first?.status, .failed)
        XCTAssertTrue(lines.contains { $0.hasPrefix("[friday] timed out after 1s") }, "\(lines)")
        let child = try XCTUnwrap(lines.first { $0.hasPrefix("child ") }.flatMap { pid_t($0.dropFirst(6)) })
        let deadline = Date().addingTimeInterval(3)
        while alive(child), Date() < deadline { usleep(50_000) }
        XCTAssertFalse(alive(child), "the stage's child outlived the timeout")
    }

    func testAPollingStageSucceedsOnItsThirdPoll() async throws {
        let counter = dir + "/count"
        let p = pipeline([StageSpec(name: "wait for build", run: .script("n=$(cat \(counter) 2>/dev/null || echo 0); n=$((n+1)); echo $n > \(counter); echo poll $n; [ $n -ge 3 ]"), timeout: 30, poll: 1)])
        var s = started(["wait for build"])
        let events = await drive(p, &s) { $0.pipelineSucceeded || $0.failedStage != nil }
        let lines = output(events)
        XCTAssertEqual(s.stages.first?.status, .succeeded, "\(lines)")
        XCTAssertEqual(lines.filter { $0.hasPrefix("poll ") }, ["poll 1", "poll 2", "poll 3"])
        XCTAssertTrue(lines.contains { $0.hasPrefix("[friday] not yet (exit status 1); again in 1s (attempt 2)") }, "\(lines)")
        XCTAssertGreaterThanOrEqual(s.stages.first?.seconds ?? 0, 2)
    }

    func testCancellingAStageKillsItAndItsChildrenEvenIfTheyIgnoreSIGTERM() async throws {
        let p = pipeline([StageSpec(name: "deploy", run: .script("trap '' TERM; sleep 60 & echo child $!; echo leader $$; wait"))], grace: 0.5)
        var s = started(["deploy"])
        var events = await drive(p, &s) { s in s.stages.first?.output.contains { $0.hasPrefix("leader ") } ?? false }
        let lines = s.stages.first?.output ?? []
        let child = try XCTUnwrap(lines.first { $0.hasPrefix("child ") }.flatMap { pid_t($0.dropFirst(6)) })
        let leader = try XCTUnwrap(lines.first { $0.hasPrefix("leader ") }.flatMap { pid_t($0.dropFirst(7)) })
        XCTAssertTrue(alive(child) && alive(leader))
        XCTAssertNil(RolloutLogic.refusal(.cancel, in: s))
        Reducer.reduce(&s, DeployEvent(seq: s.lastSeq + 1, ts: now(), deploy: "d1", payload: .commandAccepted(action: .cancel, by: "alice", reason: nil)))
        XCTAssertNotNil(RolloutLogic.refusal(.cancel, in: s), "a second cancel is refused while the first is under way")
        events += await drive(p, &s) { $0.failedStage != nil }
        XCTAssertEqual(s.stages.first?.status, .cancelled)
        let out = output(events)
        XCTAssertTrue(out.contains("[friday] cancelled by alice: stopping its process group"), "\(out)")
        XCTAssertTrue(out.contains { $0.hasPrefix("[friday] still running after") }, "\(out)")
        XCTAssertFalse(alive(child), "the child survived the cancel")
        XCTAssertFalse(alive(leader), "the stage survived the cancel")
        XCTAssertEqual(RolloutLogic.refusal(.cancel, in: s), "no pipeline stage is running")
    }

    func testHostileAndHugeOutputIsBoundedOnScreenAndKeptWholeInTheFile() async throws {
        // A flood first, then the hostile lines and a 10 MB one: the last lines are the ones
        // that reach the screen.
        let script = """
        seq 1 100000
        printf 'title \\033]0;pwned\\007 and \\033[31mred\\n'
        printf 'bad \\377\\376 utf8\\n'
        head -c 10000000 /dev/zero | tr '\\0' 'x'; echo
        """
        let p = pipeline([StageSpec(name: "noisy", run: .script(script))])
        var s = started(["noisy"])
        let started = Date()
        let events = await drive(p, &s, seconds: 60) { $0.pipelineSucceeded || $0.failedStage != nil }
        XCTAssertEqual(s.stages.first?.status, .succeeded)
        let lines = output(events)
        XCTAssertTrue(lines.contains("title \u{1b}]0;pwned\u{07} and \u{1b}[31mred"), "escape sequences are kept as text for the screen to neutralise")
        XCTAssertTrue(lines.contains("bad \u{FFFD}\u{FFFD} utf8"), "\(lines.prefix(3))")
        let long = try XCTUnwrap(lines.first { $0.hasPrefix("xxxx") })
        XCTAssertLessThan(long.utf8.count, CommandPipeline.maxLineBytes + 100)
        XCTAssertTrue(long.hasSuffix("…(line cut at 16 kB)"))
        // At most linesPerTick lines (and one count) per poll became events; the rest were counted.
        XCTAssertLessThan(lines.count, 5000, "100,000 lines became \(lines.count) events")
        XCTAssertTrue(lines.contains { $0.hasPrefix("[friday] ") && $0.contains("more lines in \(p.outputPath("noisy"))") }, "\(lines.suffix(3))")
        XCTAssertLessThanOrEqual(s.stages.first?.output.count ?? 0, DeployState.outputLinesKept * 3 / 2)
        let size = (try FileManager.default.attributesOfItem(atPath: p.outputPath("noisy"))[.size] as? Int) ?? 0
        XCTAssertGreaterThan(size, 10_000_000 + 588_895 - 1, "the whole output is kept in the file")
        XCTAssertLessThan(Date().timeIntervalSince(started), 30)
    }

    func testAStageThatFloodsItsOutputCannotFillTheDisk() async throws {
        // 8 MB of output against a 1 MB limit (256 MB in a real deploy): the file stops at
        // the limit and says so; the stage itself goes on to its end and succeeds.
        let p = pipeline([StageSpec(name: "flood", run: .script("yes 'compiling module ok' | head -c 8000000; echo done"))], fileLimit: 1 << 20)
        var s = started(["flood"])
        let events = await drive(p, &s, seconds: 60) { $0.pipelineSucceeded || $0.failedStage != nil }
        XCTAssertEqual(s.stages.first?.status, .succeeded)
        let size = (try FileManager.default.attributesOfItem(atPath: p.outputPath("flood"))[.size] as? Int) ?? 0
        XCTAssertGreaterThanOrEqual(size, 1 << 20)
        XCTAssertLessThan(size, (1 << 20) + 200)
        let text = try String(contentsOfFile: p.outputPath("flood"), encoding: .utf8)
        XCTAssertTrue(text.hasSuffix("[friday] the output goes on past 1 MB: the rest is not kept\n"), String(text.suffix(120)))
        XCTAssertTrue(output(events).contains("done"), "the screen still gets the last lines")
    }

    func testAStageThatWasRunningWhenTheEngineStoppedIsFailedNotRunAgain() async throws {
        var s = started(["migrate"])
        Reducer.reduce(&s, DeployEvent(seq: s.lastSeq + 1, ts: now(), deploy: "d1", payload: .stageStarted(stage: "migrate")))
        let p = pipeline([StageSpec(name: "migrate", run: .script("touch \(dir!)/migrated-twice"))])
        let events = await drive(p, &s) { $0.failedStage != nil }
        XCTAssertEqual(s.stages.first?.status, .failed)
        XCTAssertTrue(output(events).first?.contains("the engine restarted while this stage ran") ?? false, "\(output(events))")
        XCTAssertFalse(FileManager.default.fileExists(atPath: dir + "/migrated-twice"))
    }
}
