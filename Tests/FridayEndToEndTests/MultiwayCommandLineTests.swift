import FridayCore
import FridayTesting
import Foundation
import XCTest

/// Three versions from the command line, as a person runs them: `friday serve` on the
/// shipped example, `friday revert --candidate` takes one out alone (and its refusals),
/// `friday status` says so in text and JSON, a restart keeps it out, `friday replay
/// --summary` tells it, and the judge takes out the failing one by itself.
final class MultiwayCommandLineTests: XCTestCase {
    let bin = fridayBinary()
    var state: String!
    var pids: [pid_t] = []
    var example: String {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../../examples/simulated/friday-three.toml").standardized.path
    }

    override func setUpWithError() throws {
        state = "/tmp/fm-\(getpid())-\(UInt16.random(in: 0...UInt16.max))"
        try FileManager.default.createDirectory(atPath: state, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws {
        _ = try? runProcess(bin, ["stop", "checkout-three", "--traffic", "leave", "--reason", "test over"], env: env)
        for p in pids { kill(p, SIGKILL); var st: Int32 = 0; waitpid(p, &st, 0) }
        try? FileManager.default.removeItem(atPath: state)
    }

    var env: [String: String] { ["XDG_STATE_HOME": state, "USER": "tester"] }
    func cli(_ args: String...) throws -> (status: Int32, out: String, err: String) { try runProcess(bin, args, env: env) }
    func status() throws -> JSONValue {
        let s = try cli("status", "checkout-three", "--json")
        XCTAssertEqual(s.status, 0, s.err)
        return try JSONValue.parse(s.out.trimmingCharacters(in: .whitespacesAndNewlines))
    }

    func serve(_ file: String) throws {
        pids.append(try XCTUnwrap(spawnProcess([bin, "serve", file, "--speed", "5", "--linger", "600"], env: env, output: "\(state!)/serve.out")))
    }

    func waitFor(_ what: String, seconds: Double = 60, _ cond: (JSONValue) -> Bool) throws {
        let deadline = Date().addingTimeInterval(seconds)
        var last: JSONValue?
        while Date() < deadline {
            if let s = try? cli("status", "checkout-three", "--json"), s.status == 0, let v = try? JSONValue.parse(s.out.trimmingCharacters(in: .whitespacesAndNewlines)) {
                last = v
                if cond(v) { return }
            }
            usleep(200_000)
        }
        XCTFail("\(what): \(last?.serialized ?? "no status")")
    }

    func out(_ v: JSONValue) -> [String] {
        (v["candidates"]?.arrayValue ?? []).filter { $0["out"]?.boolValue == true }.compactMap { $0["version"]?.stringValue }
    }

    func testACandidateTakenOutByHandStaysOutThroughARestartAndTheRecordSaysWhoAndWhy() throws {
        let file = "\(state!)/three.toml"
        try (try String(contentsOfFile: example, encoding: .utf8)).replacingOccurrences(of: "scenario = \"three-way\"", with: "scenario = \"good\"")
            .write(toFile: file, atomically: true, encoding: .utf8)
        try serve(file)
        try waitFor("the first step") { $0["step"]?.intValue == 1 }
        // Refusals first: a name that is not a candidate (hostile), the baseline.
        let unknown = try cli("revert", "checkout-three", "--candidate", "v9", "--reason", "slow")
        XCTAssertEqual(unknown.status, 1)
        XCTAssertTrue(unknown.err.contains("v9 is not a candidate of this deploy (candidates: v2.4.0, v2.4.0-b)"), unknown.err)
        let baseline = try cli("revert", "checkout-three", "--candidate", "v2.3.0", "--reason", "slow")
        XCTAssertEqual(baseline.status, 1, baseline.out)
        // Taken out by hand: the split read back has it at 0, its 5% went to the others.
        let taken = try cli("revert", "checkout-three", "--candidate", "v2.4.0-b", "--reason", "p99 doubled on eu-west")
        XCTAssertEqual(taken.status, 0, taken.err)
        try waitFor("b out") { self.out($0) == ["v2.4.0-b"] }
        var s = try status()
        XCTAssertEqual(s["state"]?.stringValue, "rolling")
        XCTAssertEqual(s["observed"]?.arrayValue?.first { $0["version"]?.stringValue == "v2.4.0-b" }?["percent"]?.intValue, 0)
        let again = try cli("revert", "checkout-three", "--candidate", "v2.4.0-b", "--reason", "again")
        XCTAssertEqual(again.status, 1)
        XCTAssertTrue(again.err.contains("v2.4.0-b is already out of rotation"), again.err)
        let text = try cli("status", "checkout-three")
        XCTAssertTrue(text.out.contains("checkout v2.3.0 → v2.4.0, v2.4.0-b"), text.out)
        XCTAssertTrue(text.out.contains("v2.4.0-b: out of rotation (only a retry brings it back)"), text.out)

        // The engine killed and started again: b stays out, at the next step too.
        for p in pids { kill(p, SIGKILL); var st: Int32 = 0; waitpid(p, &st, 0) }
        pids = []
        try serve(file)
        try waitFor("the second step after the restart") { $0["step"]?.intValue == 2 }
        s = try status()
        XCTAssertEqual(out(s), ["v2.4.0-b"])
        XCTAssertEqual(s["observed"]?.arrayValue?.first { $0["version"]?.stringValue == "v2.4.0-b" }?["percent"]?.intValue, 0, s.serialized)
        // Step 2's 70/15/15 without b: 82/18.
        XCTAssertEqual(s["observed"]?.arrayValue?.first { $0["version"]?.stringValue == "v2.4.0" }?["percent"]?.intValue, 18, s.serialized)

        let stopped = try cli("stop", "checkout-three", "--traffic", "leave", "--reason", "end of test")
        XCTAssertEqual(stopped.status, 0, stopped.err)
        let summary = try cli("replay", "\(state!)/friday/deploys/checkout-three.jsonl", "--summary")
        XCTAssertEqual(summary.status, 0, summary.err)
        XCTAssertTrue(summary.out.contains("tester (cli) took v2.4.0-b out of rotation: p99 doubled on eu-west → v2.3.0 95%, v2.4.0 5%, v2.4.0-b 0%"), summary.out)
        XCTAssertTrue(summary.out.contains("| tester (cli) | revert --candidate v2.4.0-b | accepted | p99 doubled on eu-west |"), summary.out)
        XCTAssertTrue(summary.out.contains("- Taken out of rotation alone: v2.4.0-b"), summary.out)
    }

    func testTheJudgeTakesOutTheFailingCandidateAloneAndTheOtherIsPromoted() throws {
        try serve(example)
        try waitFor("b out by the judge", seconds: 90) { self.out($0) == ["v2.4.0-b"] }
        let s = try status()
        let b = s["candidates"]?.arrayValue?.first { $0["version"]?.stringValue == "v2.4.0-b" }
        XCTAssertEqual(b?["out"]?.boolValue, true)
        XCTAssertNil(s["outcome"]?.stringValue, "the other candidate goes on")
        // The held step is promoted by hand: the last step's 50/50 goes to v2.4.0 alone.
        try waitFor("the held step", seconds: 90) { $0["step"]?.intValue == 3 }
        XCTAssertEqual(try cli("promote", "checkout-three").status, 0)
        try waitFor("promoted") { $0["outcome"]?.stringValue == "promoted" }
        let end = try status()
        XCTAssertEqual(end["observed"]?.arrayValue?.filter { ($0["percent"]?.intValue ?? 0) > 0 }.compactMap { $0["version"]?.stringValue }, ["v2.4.0"], end.serialized)
    }
}
