import FridayCore
import FridayEngine
import FridayFuzz
import FridayIntegrations
import FridayTesting
import FridayUI
import Foundation
import XCTest

/// The fuzz targets' short, seeded run (the long runs are `scripts/fuzz`, libFuzzer), and
/// every input a fuzzer found, replayed: each was a crash or a broken property once.
final class FuzzTests: XCTestCase {
    static let regressions = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fuzz/regressions").path

    func testEverySavedInputPassesItsTarget() throws {
        var replayed = 0
        for t in FuzzTarget.allCases {
            let dir = FuzzTests.regressions + "/" + t.rawValue
            let files = try FileManager.default.contentsOfDirectory(atPath: dir).sorted()
            XCTAssertFalse(files.isEmpty, "\(t.rawValue) has saved inputs")
            for f in files {
                t.run(Array(try XCTUnwrap(FileManager.default.contents(atPath: dir + "/" + f))))
                replayed += 1
            }
        }
        XCTAssertGreaterThanOrEqual(replayed, 12)
    }

    func testAShortSeededRunOfEveryTargetKeepsEveryProperty() {
        // About three seconds each in a debug build; a broken property traps (and fails the run).
        let runs: [FuzzTarget: Int] = [.eventLine: 40_000, .deployFile: 2_500, .theme: 6_000, .wire: 40_000, .haproxyStat: 6_000, .prometheus: 60_000]
        for t in FuzzTarget.allCases {
            var runner = FuzzRunner(target: t, seed: 20261202)
            let report = runner.run(runs: runs[t]!)
            XCTAssertEqual(report.executions, runs[t]!)
            print("fuzz (in-process, seed 20261202) \(report)")
        }
    }

    /// The mutator is seeded: the same seed gives the same inputs, so a run can be repeated.
    func testTheInProcessFuzzerIsDeterministic() {
        var a = FuzzRunner(target: .wire, seed: 7), b = FuzzRunner(target: .wire, seed: 7), c = FuzzRunner(target: .wire, seed: 8)
        let x = (0..<50).map { _ in a.mutant() }, y = (0..<50).map { _ in b.mutant() }, z = (0..<50).map { _ in c.mutant() }
        XCTAssertTrue(x == y, "the same seed gave other inputs")
        XCTAssertFalse(x == z, "another seed gave the same inputs")
    }

    // What the fuzzers found, each as the plain behaviour it should have been.

    /// toml++ (inside TOMLKit) stopped the program on an assertion for `[#x]`: `friday check`
    /// printed a crash report. Now a clear error with file:line, before the parser sees it.
    func testATableHeaderThatCannotBeANameIsAnErrorNotACrash() throws {
        for (text, line) in [("[#x]\nname = \"a\"\n", 1), ("[deploy]\nid = \"a\"\n\n[[`ipeline.stage]]\n", 4), ("[deploy]\nid = \"a\"\n[\n", 3), ("[ [x]]\n", 1),
                            ("name = \"in\"\n[keys]\nprom.ote = [ }\n", 3), ("a = [\n  1,\n  }\n", 3), ("a = { b = [1, 2} }\n", 1)] {
            XCTAssertThrowsError(try DeployConfigParser.parse(text, file: "d.toml")) { e in
                let err = e as! ConfigError
                XCTAssertEqual(err.line, line, "\(text): \(err)")
                XCTAssertTrue(err.description.hasPrefix("d.toml:\(line): not valid TOML"), err.description)
            }
            XCTAssertThrowsError(try Theme.parse(text, file: "t.toml"))
            let (_, warnings) = UserConfig.parse(text, file: "c.toml")
            XCTAssertEqual(warnings.count, 1)
        }
        // What a header may begin with is left alone: names, quotes, arrays of tables, and
        // a `[` that opens an array value, even on a line of its own.
        for ok in ["[deploy]\n", "[\"odd name\"]\n", "[[rollout.steps]]\n", "[ deploy ]\n", "a = [\n  [1, 2],\n  [{ x = 1 }],\n]\n",
                   "s = \"\"\"\n[#not a header]\n\"\"\"\n", "# [#comment]\n"] {
            XCTAssertNil(TOMLGuard.problem(in: ok), ok)
        }
    }

    /// A time with more than milliseconds was read exactly and written rounded: the line
    /// read back was another event. Times are now kept to the millisecond they are written at.
    func testTimesAndFiguresReadBackAsTheyAreWritten() throws {
        let t = try XCTUnwrap(Timestamp(rfc3339: "2026-12-04T15:00:16.00191Z"))
        XCTAssertEqual(t.rfc3339, "2026-12-04T15:00:16.001Z")
        XCTAssertEqual(Timestamp(rfc3339: t.rfc3339), t)
        XCTAssertEqual(Timestamp(rfc3339: "2026-12-04T15:00:16.5Z")?.rfc3339, "2026-12-04T15:00:16.500Z")
        XCTAssertNil(Timestamp(rfc3339: "2026-12-04T15:00:16.Z"))
        // Year 0000 was read, then written as 0001 (libFuzzer found it): years 0001 to 9999 only.
        XCTAssertNil(Timestamp(rfc3339: "0000-12-04T15:00:05.000Z"))
        XCTAssertNil(Timestamp(rfc3339: "0001-01-01T00:00:00+01:00"))
        XCTAssertEqual(Timestamp(rfc3339: "9999-12-31T23:59:59.999Z")?.rfc3339, "9999-12-31T23:59:59.999Z")
        XCTAssertEqual(Timestamp(rfc3339: "0001-01-01T00:00:00.000Z")?.rfc3339, "0001-01-01T00:00:00.000Z")
        let line = #"{"v":1,"seq":0,"ts":"2026-12-04T15:00:19.000Z","deploy":"d","type":"analysis.verdict","data":{"step":1,"verdict":"fail","summary":"s","figures":[{"name":"x","value":0.0000001,"limit":0.0200004}]}}"#
        let e = try EventLog.event(fromLine: FuzzTarget.withChecksum(Array(line.utf8)))
        XCTAssertEqual(try EventLog.event(fromLine: Array(EventLog.line(for: e).utf8)), e)
    }

    /// 1e309 was read as infinity, which JSON cannot carry back (it was written as null).
    func testANumberBeyondDoubleIsRefused() {
        XCTAssertThrowsError(try JSONValue.parse("[1e309]")) { XCTAssertTrue("\($0)".contains("out of range"), "\($0)") }
        XCTAssertThrowsError(try Wire.ClientMessage.decode(Array(#"{"type":"command","id":1e400,"action":"promote"}"#.utf8)))
    }

    /// The snapshot for an attaching client was written by Foundation's encoder, which leaves
    /// DEL, C1 and bidi controls raw: a client printing a field got them.
    func testASnapshotForAClientEscapesDELC1AndBidi() throws {
        var s = EventFixture.rolling(step: 1).state
        s.log.append(LogEntry(at: Timestamp(seconds: 0), kind: .chat, who: "x\u{7f}\u{85}", text: "v2 at\u{7f}1% \u{9b}31m \u{202e}evil\u{2066}"))
        let line = Wire.ServerMessage.snapshot(s).line
        for bad in ["\u{7f}", "\u{85}", "\u{9b}", "\u{202e}", "\u{2066}"] { XCTAssertFalse(line.contains(bad), "raw \(bad.unicodeScalars.first!.value)") }
        XCTAssertTrue(line.contains(#"v2 at\u007f1% \u009b31m \u202eevil\u2066"#), line)
        guard case let .snapshot(back) = try Wire.ServerMessage.decode(line) else { return XCTFail("not a snapshot") }
        XCTAssertEqual(back.log.last?.text, "v2 at\u{7f}1% \u{9b}31m \u{202e}evil\u{2066}", "escaped, not changed")
    }
}
