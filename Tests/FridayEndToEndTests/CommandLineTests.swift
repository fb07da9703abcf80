import FridayTesting
import Foundation
import XCTest

/// The built binary, run as a script would: output and exit codes.
final class CommandLineTests: XCTestCase {
    let bin = fridayBinary()

    func testHeadlessPrintsTheEventStreamAndIsReproducible() throws {
        let a = try runProcess(bin, ["demo", "--headless", "--scenario", "steady", "--duration", "300"])
        XCTAssertEqual(a.status, 0, a.err)
        let lines = a.out.split(separator: "\n")
        XCTAssertGreaterThan(lines.count, 500)
        XCTAssertTrue(lines.allSatisfy { $0.hasPrefix("{\"v\":1,\"seq\":") })
        XCTAssertTrue(lines.last!.contains("\"ts\":\"2026-11-27T16:05:00.000Z\""), "stops at --duration: \(lines.last!)")
        let b = try runProcess(bin, ["demo", "--headless", "--scenario", "steady", "--duration", "300"])
        XCTAssertEqual(a.out, b.out, "same seed, same bytes")
        let bad = try runProcess(bin, ["demo", "--headless", "--scenario", "bad-canary"])
        XCTAssertTrue(bad.out.contains(#""type":"deploy.finished","data":{"outcome":"reverted","by":"judge","reason":"errors: v2.4.0 "#), bad.out.suffix(600).description)
        let good = try runProcess(bin, ["demo", "--headless"])
        let goodLines = good.out.split(separator: "\n")
        let finished = try XCTUnwrap(goodLines.first { $0.contains(#""type":"deploy.finished","data":{"outcome":"promoted""#) })
        let ts = { (l: Substring) in l.range(of: #""ts":"[^"]+""#, options: .regularExpression).map { String(l[$0]) } }
        XCTAssertEqual(ts(goodLines.last!), ts(finished), "stops at the end of the second the deploy finished in")
    }

    func testVersionAndAFileThatIsNotALog() throws {
        let v = try runProcess(bin, ["--version"])
        XCTAssertEqual(v.status, 0)
        XCTAssertTrue(v.out.hasPrefix("friday 0.10.0 (event log format 1, attach protocol 1)"), v.out)
        let readme = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../../README.md").standardized.path
        let r = try runProcess(bin, ["replay", readme, "--summary"])
        XCTAssertEqual(r.status, 1, r.out)
        XCTAssertTrue(r.err.contains("no events: not a friday event log"), r.err)
        XCTAssertEqual(r.out, "")
        // Completions offer deploy files, logs and the scenarios.
        let bash = try runProcess(bin, ["--generate-completion-script", "bash"])
        XCTAssertTrue(bash.out.contains("'bad-canary'") && bash.out.contains("'slow-canary'"), "no scenario values")
        XCTAssertTrue(bash.out.contains("toml") && bash.out.contains("jsonl"), "no file completion for run and replay")
    }

    func testThemesAreListedAndPreviewed() throws {
        let list = try runProcess(bin, ["themes"])
        XCTAssertEqual(list.status, 0)
        for name in ["default", "light", "solarized-dark", "solarized-light", "high-contrast", "monochrome"] { XCTAssertTrue(list.out.contains(name), list.out) }
        let preview = try runProcess(bin, ["themes", "--preview", "solarized-dark", "--size", "80x24"])
        XCTAssertEqual(preview.status, 0, preview.err)
        XCTAssertEqual(preview.out.split(separator: "\n").count, 24)
        XCTAssertTrue(preview.out.contains("\u{1b}[0;1;38;5;") && preview.out.contains("HELD"), String(preview.out.prefix(300)))
        let eight = try runProcess(bin, ["themes", "--preview", "default", "--colors", "8"])
        XCTAssertFalse(eight.out.contains("38;5;"), "8 colours use the basic codes")
        let bad = try runProcess(bin, ["themes", "--preview", "no-such\u{1b}]0;x"])
        XCTAssertEqual(bad.status, 1)
        XCTAssertFalse(bad.err.contains("\u{1b}"), "the name is neutralised in the error")
    }

    func testBucketSaysWhichSideAUserIsOn() throws {
        let a = try runProcess(bin, ["bucket", "checkout-v2", "user-42", "--percent", "80"])
        XCTAssertEqual(a.status, 0, a.err)
        XCTAssertEqual(a.out, "user-42 is in bucket 78 of flag checkout-v2 at 80%: new code path (canary)\n")
        let b = try runProcess(bin, ["bucket", "checkout-v2", "user-42", "--percent", "25"])
        XCTAssertEqual(b.out, "user-42 is in bucket 78 of flag checkout-v2 at 25%: old code path\n")
        let file = NSTemporaryDirectory() + "flags-\(getpid()).json"
        defer { try? FileManager.default.removeItem(atPath: file) }
        try #"{"flags":{"checkout-v2":{"percent":90}}}"#.write(toFile: file, atomically: true, encoding: .utf8)
        let c = try runProcess(bin, ["bucket", "checkout-v2", "user-42", "--file", file])
        XCTAssertEqual(c.out, "user-42 is in bucket 78 of flag checkout-v2 at 90%: new code path (canary)\n")
        let d = try runProcess(bin, ["bucket", "nope", "user-42", "--file", file])
        XCTAssertEqual(d.status, 1)
        XCTAssertTrue(d.err.contains("no flag \"nope\" with a whole \"percent\""), d.err)
        // A split of three versions, candidates first: bucket 78 is past 10 + 10, so the baseline;
        // at 40/40/20 it is in the second candidate.
        try #"{"flags":{"checkout-v2":{"split":[{"version":"v2-a","percent":10},{"version":"v2-b","percent":10},{"version":"v1","percent":80}]}}}"#
            .write(toFile: file, atomically: true, encoding: .utf8)
        let e = try runProcess(bin, ["bucket", "checkout-v2", "user-42", "--file", file])
        XCTAssertEqual(e.out, "user-42 is in bucket 78 of flag checkout-v2: v1 (split v2-a 10%, v2-b 10%, v1 80%)\n", e.err)
        try #"{"flags":{"checkout-v2":{"split":[{"version":"v2-a","percent":40},{"version":"v2-b","percent":40},{"version":"v1","percent":20}]}}}"#
            .write(toFile: file, atomically: true, encoding: .utf8)
        XCTAssertEqual(try runProcess(bin, ["bucket", "checkout-v2", "user-42", "--file", file]).out,
                       "user-42 is in bucket 78 of flag checkout-v2: v2-b (split v2-a 40%, v2-b 40%, v1 20%)\n")
        try #"{"flags":{"checkout-v2":{"split":[{"version":"v2-a","percent":40},{"version":"v1","percent":20}]}}}"#.write(toFile: file, atomically: true, encoding: .utf8)
        let f = try runProcess(bin, ["bucket", "checkout-v2", "user-42", "--file", file])
        XCTAssertEqual(f.status, 1)
        XCTAssertTrue(f.err.contains("the split adds up to 60, not 100"), f.err)
    }

    func testDumpPrintsTheScreenAtAMoment() throws {
        let r = try runProcess(bin, ["demo", "--dump", "--at", "160", "--size", "100x30"])
        XCTAssertEqual(r.status, 0, r.err)
        let lines = r.out.split(separator: "\n", omittingEmptySubsequences: false).dropLast()
        XCTAssertEqual(lines.count, 30)
        XCTAssertTrue(lines[0].contains("HELD until promoted (p promotes) step 3/5 25%"), String(lines[0]))
        XCTAssertTrue(lines.allSatisfy { $0.count <= 100 })
        XCTAssertTrue(r.out.contains("step 3/5 holds until promoted: p for 50%"), r.out)
    }

    func testAbsurdNumbersOnTheCommandLineAreRefusedNotRunForever() throws {
        for args in [["demo", "--dump", "--at", "1e300"], ["demo", "--headless", "--duration", "1e300"], ["run", "--headless", "--duration", "inf"]] {
            let r = try runProcess(bin, args)
            XCTAssertEqual(r.status, 64, "\(args): \(r.err)")
            XCTAssertTrue(r.err.contains("must be 0 to 2592000 seconds (30 days)"), "\(args): \(r.err)")
        }
    }

    func testBadInputGetsAClearErrorAndNoStackTrace() throws {
        let s = try runProcess(bin, ["demo", "--scenario", "awful"])
        XCTAssertNotEqual(s.status, 0)
        XCTAssertTrue(s.err.contains("unknown scenario 'awful'; choose one of: good, bad-canary, slow-canary, steady"), s.err)

        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("friday-theme-\(getpid())")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let theme = dir.appendingPathComponent("mine.toml")
        try "name = \"mine\"\n[roles]\ngod = \"green\"\n".write(to: theme, atomically: true, encoding: .utf8)
        let t = try runProcess(bin, ["demo", "--theme", theme.path])
        XCTAssertEqual(t.status, 1)
        XCTAssertTrue(t.err.contains("\(theme.path):3: unknown role \"god\" (did you mean \"good\"?)"), t.err)

        let noTTY = try runProcess(bin, ["demo"])
        XCTAssertEqual(noTTY.status, 1)
        XCTAssertTrue(noTTY.err.contains("friday demo needs a terminal"), noTTY.err)
        XCTAssertFalse(noTTY.err.contains("Fatal error") || noTTY.err.contains("Stack dump"))

        let size = try runProcess(bin, ["demo", "--dump", "--size", "wide"])
        XCTAssertTrue(size.err.contains("--size must look like 120x40, got 'wide'"), size.err)
    }
}
