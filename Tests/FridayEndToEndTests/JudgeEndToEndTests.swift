import FridayCore
import FridayEngine
import FridayTesting
import Foundation
import XCTest

/// The judge on settings other than the demo's, through the binary as a user runs it:
/// `friday run --headless` on deploy files (simulated time), and `friday check`.
final class JudgeEndToEndTests: XCTestCase {
    let bin = fridayBinary()
    var dir: String!

    func example(_ name: String) -> String {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../../examples/simulated/\(name)").standardized.path
    }

    override func setUpWithError() throws {
        dir = NSTemporaryDirectory() + "friday-judge-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws { try? FileManager.default.removeItem(atPath: dir) }

    /// A copy of an example with some `[simulator]` lines replaced.
    func variant(_ name: String, _ edits: [(String, String)]) throws -> String {
        var text = try String(contentsOfFile: example(name), encoding: .utf8)
        for (a, b) in edits {
            XCTAssertTrue(text.contains(a), "the example has \(a)")
            text = text.replacingOccurrences(of: a, with: b)
        }
        let path = dir + "/\(UUID().uuidString).toml"
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    func run(_ file: String, seconds: Int = 7200) throws -> (events: [DeployEvent], out: String) {
        let log = dir + "/\(UUID().uuidString).jsonl"
        let r = try runProcess(bin, ["run", file, "--headless", "--log", log, "--duration", "\(seconds)"])
        XCTAssertEqual(r.status, 0, r.err)
        return (try EventLog.readEvents(path: log).events, r.out)
    }

    func outcome(_ events: [DeployEvent]) -> Outcome? {
        for e in events.reversed() { if case let .deployFinished(o, _, _) = e.payload { return o } }
        return nil
    }

    func verdicts(_ events: [DeployEvent]) -> [(Verdict, String)] {
        events.compactMap { if case let .analysisVerdict(_, v, s, _) = $0.payload { return (v, s) }; return nil }
    }

    /// Before: 0 errors on both versions kept the statistic at 0 and every such deploy was
    /// held at the 1% step. Now each step passes on the canary's own count, without a hold.
    func testAHealthyZeroErrorServiceAt1000RequestsASecondIsPromotedWithoutAHold() throws {
        let (events, _) = try run(example("friday-zero-errors.toml"))
        XCTAssertEqual(outcome(events), .promoted)
        let holds = events.filter { if case let .deployPaused(by, _) = $0.payload { return by == "judge" }; return false }
        XCTAssertTrue(holds.isEmpty, "held: \(holds)")
        let passes = verdicts(events).filter { $0.0 == .pass }
        XCTAssertGreaterThanOrEqual(passes.count, 3)
        let first = try XCTUnwrap(passes.first).1
        XCTAssertTrue(first.hasPrefix("passed after "), first)
        XCTAssertTrue(first.contains("errors: v2.4.0 0 in ") && first.contains("requests, below 0.10% with 97.5% confidence (v2.3.0 0.00%;"), first)
    }

    /// A canary at 1% errors against an old version with none, and with 0.02%, is reverted.
    func testACanaryWithErrorsAgainstARareErrorOldVersionIsReverted() throws {
        for base in ["0", "0.0002"] {
            let file = try variant("friday-zero-errors.toml", [("base_error_rate = 0 ", "base_error_rate = \(base)\ncanary_error_rate = 0.01 ")])
            let (events, _) = try run(file)
            XCTAssertEqual(outcome(events), .reverted, "base \(base)")
            let fail = verdicts(events).first { $0.0 == .fail }
            XCTAssertNotNil(fail, "base \(base)")
            XCTAssertTrue(fail?.1.hasPrefix("errors: v2.4.0 ") ?? false, fail?.1 ?? "")
        }
    }

    /// A regression that begins 30 s into the 25% step (after it passed) is reverted with the
    /// figures of the stretch that raised the alarm and the time since it began.
    func testALateRegressionIsToldWithItsOwnStretch() throws {
        let file = try variant("friday.toml", [("requests_per_second = 5000", "requests_per_second = 5000\ncanary_error_rate = 0.05\ncanary_errors_from_step = 3\ncanary_errors_after = \"30s\"")])
        let (events, _) = try run(file)
        XCTAssertEqual(outcome(events), .reverted)
        let fail = try XCTUnwrap(verdicts(events).first { $0.0 == .fail }).1
        XCTAssertTrue(fail.contains(", the stretch that raised the alarm: "), fail)
        XCTAssertTrue(fail.contains("into the 25% step)"), fail)
        // Caught within seconds of the rise, and the stretch's rate is the regression's (5%), not diluted.
        let secs = try XCTUnwrap(fail.range(of: #"reverted (\d+)s after it began"#, options: .regularExpression)).lowerBound
        let n = Int(fail[secs...].dropFirst("reverted ".count).prefix { $0.isNumber }) ?? 999
        XCTAssertLessThanOrEqual(n, 10, fail)
        let quoted = try XCTUnwrap(fail.range(of: #"\(([0-9.]+)%\)"#, options: .regularExpression).map { Double(fail[$0].dropFirst().dropLast(2)) ?? 0 })
        XCTAssertGreaterThanOrEqual(quoted, 2.0, "the stretch's rate, not the step's (about 0.5%): \(fail)")
    }

    /// `friday check` on a low-traffic plan warns with file:line and names a plan that can be decided.
    func testCheckWarnsAboutALowTrafficPlanAndSuggestsOne() throws {
        let file = example("friday-low-traffic.toml")
        let r = try runProcess(bin, ["check", file])
        XCTAssertEqual(r.status, 0, r.err)
        XCTAssertTrue(r.out.contains("judge at 200 req/s (the simulator's requests_per_second), 0.40% errors:"), r.out)
        XCTAssertTrue(r.out.contains("step 1, 1% (30s + up to 10m00s): a healthy canary passes in ~"), r.out)
        // The first step's pause line, as `check` names it.
        let lines = try String(contentsOfFile: file, encoding: .utf8).split(separator: "\n", omittingEmptySubsequences: false)
        let line = try XCTUnwrap(lines.firstIndex { $0.hasPrefix("pause = \"30s\"") }) + 1
        XCTAssertTrue(r.err.contains("\(file):\(line): warning: rollout.step[1]: at 200 req/s a healthy canary needs ~"), r.err)
        XCTAssertTrue(r.err.contains("would still be undecided after its 30s pause and max_extension 10m00s and be held for a person"), r.err)
        XCTAssertTrue(r.err.contains("A plan that can be decided: start at "), r.err)
        XCTAssertFalse(r.err.contains("rollout.step[3]"), "the 25% step waits for a person: no warning")
        // --traffic overrides; at 5,000 req/s the same plan warns about nothing.
        let fast = try runProcess(bin, ["check", file, "--traffic", "5000/s"])
        XCTAssertEqual(fast.status, 0)
        XCTAssertTrue(fast.out.contains("judge at 5,000 req/s (--traffic)"), fast.out)
        XCTAssertEqual(fast.err, "")
        let bad = try runProcess(bin, ["check", file, "--traffic", "fast"])
        XCTAssertEqual(bad.status, 1)
        XCTAssertTrue(bad.err.contains("--traffic fast: expected requests per second"), bad.err)
        // Text from outside never reaches the terminal raw, here either.
        let hostile = try runProcess(bin, ["check", file, "--traffic", "1\u{1b}]0;owned\u{7}", "--error-rate", "\u{1b}[31m"])
        XCTAssertEqual(hostile.status, 1)
        XCTAssertFalse(hostile.err.contains("\u{1b}") || hostile.err.contains("\u{7}"), hostile.err)
        let rate = try runProcess(bin, ["check", file, "--error-rate", "\u{1b}[31m"])
        XCTAssertEqual(rate.status, 1)
        XCTAssertFalse(rate.err.contains("\u{1b}"), rate.err)
    }

    /// Run as it is, the low-traffic plan is held at the step `check` warned about, saying
    /// which test waits and how long a pass is away: a hold for a person, never a silent pass.
    func testALowTrafficStepIsHeldForAPersonSayingWhatItNeeds() throws {
        let (events, _) = try run(example("friday-low-traffic.toml"), seconds: 900)
        let hold = events.first { if case let .deployPaused(by, _) = $0.payload { return by == "judge" }; return false }
        guard case let .deployPaused(_, reason)? = hold?.payload else { return XCTFail("not held") }
        XCTAssertTrue(reason.hasPrefix("no verdict yet after 10m30s at 1%, waiting on errors ("), reason)
        XCTAssertTrue(reason.contains("a pass is about ") || reason.contains("not moving toward a pass"), reason)
        XCTAssertNotEqual(outcome(events), .promoted)
    }

    /// The demo tells both stories: a zero-error service promoted by itself, a low-traffic
    /// one held at the 1% step for a person, saying what it waits for.
    func testTheDemoScenariosForRareErrorsAndLittleTraffic() throws {
        let quiet = try runProcess(bin, ["demo", "--headless", "--scenario", "zero-errors"])
        XCTAssertEqual(quiet.status, 0, quiet.err)
        XCTAssertTrue(quiet.out.contains(#""type":"deploy.finished","data":{"outcome":"promoted""#), String(quiet.out.suffix(300)))
        XCTAssertTrue(quiet.out.contains("below 0.10% with 97.5% confidence"), "passed on the canary's own count")
        let low = try runProcess(bin, ["demo", "--headless", "--scenario", "low-traffic", "--duration", "900"])
        XCTAssertEqual(low.status, 0, low.err)
        XCTAssertTrue(low.out.contains(#""type":"deploy.paused","data":{"by":"judge","reason":"no verdict yet after 10m30s at 1%, waiting on errors ("#),
                      String(low.out.suffix(600)))
        XCTAssertFalse(low.out.contains(#""outcome":"promoted""#))
    }
}
