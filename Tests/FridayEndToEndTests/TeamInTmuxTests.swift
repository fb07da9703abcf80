import FridayCore
import FridayTesting
import Foundation
import XCTest

/// Two people on one deploy, each in a terminal of their own (tmux on a private socket),
/// with the real binary: `friday run` starts the engine in the background and attaches,
/// `friday attach` adds a second dashboard, the CLI verbs talk to the same engine.
final class TeamInTmuxTests: XCTestCase {
    let bin = fridayBinary()
    var state: String!
    var file: String!

    override func setUpWithError() throws {
        XCTAssertTrue(FileManager.default.isExecutableFile(atPath: bin), "build friday first (swift build): \(bin)")
        state = "/tmp/ft-\(getpid())-\(UInt16.random(in: 0...UInt16.max))"
        try FileManager.default.createDirectory(atPath: state, withIntermediateDirectories: true)
        file = state + "/friday.toml"
        let example = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../../examples/simulated/friday.toml").standardized.path
        try FileManager.default.copyItem(atPath: example, toPath: file)
    }

    override func tearDownWithError() throws {
        // No engine may outlive its test.
        _ = try? runProcess(bin, ["stop", file, "--traffic", "leave", "--reason", "test over"], env: env)
        try? FileManager.default.removeItem(atPath: state)
    }

    var env: [String: String] { ["XDG_STATE_HOME": state, "USER": "tester"] }

    func cli(_ args: String...) throws -> (status: Int32, out: String, err: String) {
        try runProcess(bin, args, env: env)
    }

    func enginePIDs() -> [String] {
        let (_, out) = bash(["-c", "pgrep -f '[f]riday serve .*\(state!)' || true"], env: [:], scratch: state + "/pgrep")
        return out.split(separator: "\n").map(String.init)
    }

    func testTwoPeopleEachWithTheirOwnScreenNamesAndRolesAndTheDeployOutlivesAScreen() throws {
        let a = try TmuxSession(width: 120, height: 40, command: "\(bin) run \(file!) --user alice --speed 4; echo \"exit=$?\"; sleep 300", env: env)
        XCTAssertTrue(a.wait(for: "alice (you)", seconds: 20), a.text)
        let b = try TmuxSession(width: 90, height: 30, command: "\(bin) attach \(file!) --name bob --role viewer; echo \"exit=$?\"; sleep 300", env: env)
        // (At 90 columns the header has no room for the watching list: the team log says it.)
        XCTAssertTrue(b.wait(for: "bob joined (viewer)", seconds: 15), b.text)
        // Each sees the whole state at its own size, and who is watching.
        XCTAssertTrue(a.wait(for: "bob joined (viewer)"), a.text + "\n----\n" + b.text)
        XCTAssertTrue(b.text.contains("alice"), b.text)
        XCTAssertTrue(a.wait(for: "ROLLING step 1/5 1%", seconds: 30), a.text)
        XCTAssertTrue(b.wait(for: "ROLLING step 1/5 1%"), b.text)

        // The viewer's acting keys are refused with the reason; chat works.
        b.press("p")
        XCTAssertTrue(b.wait(for: "you watch as a viewer"), b.text)
        // A's dialog is A's: B typing "yes" and Enter in its own chat confirms nothing.
        a.press("P")
        XCTAssertTrue(a.wait(for: "Promote v2.4.0 to 100%?"), a.text)
        b.press("m")
        b.type("my take: yes, wait")
        b.press("Enter")
        // (A's dialog covers the middle of A's screen, where bob's line lands in the team log:
        // bob's own screen shows it said, A's once the dialog is closed.)
        XCTAssertTrue(b.wait(for: "bob: my take: yes, wait"), b.text)
        XCTAssertTrue(a.text.contains("Promote v2.4.0 to 100%?"), a.text)
        XCTAssertFalse(a.text.contains("promoted to 100%"), a.text)
        a.press("Escape")
        // (An Esc followed at once by a letter is read as one escape sequence, and ignored.)
        XCTAssertTrue(a.wait { !$0.joined().contains("Promote v2.4.0 to 100%?") }, a.text)
        XCTAssertTrue(a.wait(for: "bob: my take: yes, wait"), a.text)
        a.press("p")
        XCTAssertTrue(a.wait(for: "Promote before the judge has passed step 1?"), a.text)
        a.type("promote")
        a.press("Enter")
        XCTAssertTrue(a.wait(for: "alice promoted (1% → 5%) before the", seconds: 10), a.text)
        XCTAssertTrue(b.wait(for: "ROLLING step 2/5 5%"), b.text)

        // q in A detaches: the engine goes on and B stays live.
        a.press("q")
        XCTAssertTrue(a.wait(for: "detached from checkout-v2.4.0"), a.text)
        XCTAssertTrue(a.wait(for: "exit=0"), a.text)
        XCTAssertEqual(enginePIDs().count, 1, "the engine should still run once")
        XCTAssertTrue(b.wait(for: "alice left", seconds: 10), b.text)
        XCTAssertTrue(b.wait(for: "ROLLING step 2/5"), b.text)

        // Commands from another shell: status --json, promote by name, a refusal's exit code.
        let status = try cli("status", file, "--json")
        XCTAssertEqual(status.status, 0, status.err)
        let json = try JSONValue.parse(status.out.trimmingCharacters(in: .whitespacesAndNewlines))
        XCTAssertEqual(json["state"]?.stringValue, "rolling")
        XCTAssertEqual(json["step"]?.intValue, 2)
        let watching = json["watching"]?.arrayValue?.compactMap { $0["who"]?.stringValue } ?? []
        XCTAssertTrue(watching.contains("bob") && !watching.contains("alice"), "\(watching)")
        let promoted = try cli("promote", file, "--name", "carol")
        XCTAssertEqual(promoted.status, 0, promoted.err)
        XCTAssertTrue(b.wait(for: "carol (cli) promoted", seconds: 10), b.text)
        let refused = try cli("retry", file)
        XCTAssertEqual(refused.status, 1)
        XCTAssertTrue(refused.err.contains("retry refused"), refused.err)

        // `friday run` again attaches to the same engine (no second one, no lock error).
        let c = try TmuxSession(width: 100, height: 30, command: "\(bin) run \(file!) --user dave; echo \"exit=$?\"; sleep 300", env: env)
        XCTAssertTrue(c.wait(for: "dave joined (operator)", seconds: 15), c.text)
        // carol's promote took it to the 25% step, which waits for a person: HELD, as board and status say.
        XCTAssertTrue(c.text.contains("HELD until promoted") && c.text.contains("step 3/5") || c.text.contains("ROLLING step"), c.text)
        XCTAssertTrue(c.text.contains("carol (cli) promoted"), c.text)
        XCTAssertEqual(enginePIDs().count, 1)
        c.press("q")

        // friday stop: the engine ends, every dashboard says why.
        let stopped = try cli("stop", file, "--traffic", "pause", "--reason", "end of the day")
        XCTAssertEqual(stopped.status, 0, stopped.err)
        XCTAssertTrue(b.wait(for: "stopped by tester (cli): end of the day", seconds: 10), b.text)
        let deadline = Date().addingTimeInterval(10)
        while !enginePIDs().isEmpty, Date() < deadline { usleep(100_000) }
        XCTAssertEqual(enginePIDs(), [])
        let gone = try cli("status", file)
        XCTAssertEqual(gone.status, 3, gone.out)
        XCTAssertTrue(gone.err.contains("no friday engine answers"), gone.err)
    }

    func testAnOutsideCIReportsItsStagesLineByLineAndBadLinesAreRefusedOneByOne() throws {
        let ci = state + "/ci.toml"
        try """
        [deploy]
        id = "ci-1"
        service = "checkout"
        from = { version = "v1", commit = "a1" }
        to = { version = "v2", commit = "b2" }

        [pipeline]
        external = true

        [[pipeline.stage]]
        name = "build"

        [[pipeline.stage]]
        name = "test"

        [[rollout.step]]
        weight = 10
        pause = "until-promoted"

        [[rollout.step]]
        weight = 100
        """.write(toFile: ci, atomically: true, encoding: .utf8)
        let pid = try XCTUnwrap(spawnProcess([bin, "serve", ci], env: env, output: state + "/ci-serve.log"))
        defer { kill(pid, SIGTERM); var s: Int32 = 0; waitpid(pid, &s, 0) }
        let deadline = Date().addingTimeInterval(15)
        while !((try? String(contentsOfFile: state + "/ci-serve.log", encoding: .utf8)) ?? "").contains("served on"), Date() < deadline { usleep(50_000) }
        var input = Data()
        func line(_ s: String) { input.append(Data((s + "\n").utf8)) }
        line(#"{"type":"stage.started","data":{"stage":"build"}}"#)                       // 1 ok
        line(#"{"type":"stage.output","data":{"stage":"build","line":"compiling \u001b]0;x\u0007"}}"#) // 2 ok
        line(#"{"type":"stage.output","data":{"stage":"build","line":"#)                  // 3 not JSON
        line(#"{"type":"traffic.set","data":{"weights":[]}}"#)                             // 4 not from outside
        line(#"{"type":"stage.finished","data":{"stage":"build"}}"#)                       // 5 missing fields
        line(#"{"type":"stage.started","data":{"stage":"deploy"}}"#)                       // 6 no such stage
        input.append(Data(repeating: UInt8(ascii: "x"), count: 10_000_000)); line("")      // 7 10 MB
        input.append(Data([0x7B, 0xFF, 0xFE, 0x7D])); line("")                             // 8 not UTF-8
        line(#"{"type":"stage.finished","data":{"stage":"build","status":"succeeded","seconds":12}}"#) // 9 ok
        line("")                                                                              // 10 blank: skipped
        line(#"{"type":"stage.started","data":{"stage":"test"}}"#)                        // 11 ok
        line(#"{"type":"stage.finished","data":{"stage":"test","status":"succeeded","seconds":3}}"#) // 12 ok
        try input.write(to: URL(fileURLWithPath: state + "/ci.jsonl"))
        let (status, out) = bash(["-c", "\"$0\" ingest \"$1\" < \"$2\"", bin, ci, state + "/ci.jsonl"], env: env, scratch: state + "/ingest")
        XCTAssertEqual(status, 1, out)
        for expected in ["line 3: not JSON", "line 4: \"traffic.set\" cannot come from outside", "line 5: stage.finished: missing",
                         "line 6: no stage \"deploy\" in this deploy (its stages: build, test)", "line 7: longer than", "line 8: not UTF-8",
                         "5 lines accepted, 6 refused"] {
            XCTAssertTrue(out.contains(expected), "missing \(expected):\n\(out)")
        }
        XCTAssertFalse(out.contains("\u{1b}"), "a raw ESC reached the terminal")
        // The pipeline passed: the engine starts the first step on its next tick.
        var json = JSONValue.null
        let until = Date().addingTimeInterval(10)
        repeat {
            let st = try cli("status", ci, "--json")
            json = try JSONValue.parse(st.out.trimmingCharacters(in: .whitespacesAndNewlines))
            if json["state"]?.stringValue == "rolling" { break }
            usleep(100_000)
        } while Date() < until
        XCTAssertEqual(json["state"]?.stringValue, "rolling", json.serialized)
        XCTAssertEqual(json["step"]?.intValue, 1)
        // The refused lines are counted in the engine, on screen and in the team log.
        // (Refusals are recorded at most every 5 s: the count may lag a few seconds.)
        let counted = Date().addingTimeInterval(10)
        while json["ci_lines_refused"]?.intValue != 6, Date() < counted {
            usleep(200_000)
            json = try JSONValue.parse(try cli("status", ci, "--json").out.trimmingCharacters(in: .whitespacesAndNewlines))
        }
        XCTAssertEqual(json["ci_lines_refused"]?.intValue, 6, json.serialized)
        let screen = try TmuxSession(width: 120, height: 40, command: "\(bin) attach \(ci) --name watcher; sleep 300", env: env)
        XCTAssertTrue(screen.wait(for: "6 CI lines refused", seconds: 15), screen.text)
        XCTAssertTrue(screen.text.contains("not JSON: unexpected end of text"), screen.text)

        // A second report in one go: many lines in few batches, the bad one among them named.
        var more = Data()
        for i in 0..<3000 { more.append(Data((#"{"type":"stage.output","data":{"stage":"test","line":"late \#(i)"}}"# + "\n").utf8)) }
        try more.write(to: URL(fileURLWithPath: state + "/late.jsonl"))
        let (s2, out2) = bash(["-c", "\"$0\" ingest \"$1\" < \"$2\"", bin, ci, state + "/late.jsonl"], env: env, scratch: state + "/ingest2")
        XCTAssertEqual(s2, 1, out2)
        XCTAssertTrue(out2.contains("line 1: the pipeline is over (the deploy is rolling out)") && out2.contains("line 3000: the pipeline is over"), out2)
        XCTAssertTrue(out2.contains("0 lines accepted, 3000 refused"), out2)
        // (Counted in one event at most every 5 s, so a CI streaming into a finished pipeline cannot flood the team log.)
        XCTAssertTrue(screen.wait(for: "3006 CI lines refused", seconds: 15), screen.text)
        let refusedEvents = try String(contentsOfFile: state + "/friday/deploys/ci-1.jsonl", encoding: .utf8).components(separatedBy: "\"type\":\"ingest.refused\"").count - 1
        XCTAssertLessThanOrEqual(refusedEvents, 3, "one ingest.refused per 5 s at most")

        // The engine dies while a CI streams into it: ingest exits 3 (no engine answers), as
        // every verb does, not 1 (refused) (issue 25, item 6).
        let streaming = Process()
        streaming.executableURL = URL(fileURLWithPath: bin)
        streaming.arguments = ["ingest", ci]
        streaming.environment = ProcessInfo.processInfo.environment.merging(env) { $1 }
        let stdin = Pipe(), stderr = Pipe()
        streaming.standardInput = stdin
        streaming.standardError = stderr
        streaming.standardOutput = FileHandle.nullDevice
        try streaming.run()
        stdin.fileHandleForWriting.write(Data((#"{"type":"stage.output","data":{"stage":"test","line":"before"}}"# + "\n").utf8))
        // Its first batch answered (refused: the pipeline is over) before the engine goes.
        XCTAssertTrue(screen.wait(for: "3007 CI lines refused", seconds: 15), screen.text)
        kill(pid, SIGKILL)
        stdin.fileHandleForWriting.write(Data((#"{"type":"stage.output","data":{"stage":"test","line":"after"}}"# + "\n").utf8))
        try stdin.fileHandleForWriting.close()
        streaming.waitUntilExit()
        let said = String(decoding: stderr.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        XCTAssertEqual(streaming.terminationStatus, 3, said)
        XCTAssertTrue(said.contains("not confirmed"), said)
    }

    func testAWrongTokenOverTCPIsRefusedAndLogged() throws {
        let port = freePorts()
        var e = env
        e["FRIDAY_TOKEN"] = "right-token"
        let serveLog = state + "/serve.log"
        let pid = try XCTUnwrap(spawnProcess([bin, "serve", file, "--tcp", "127.0.0.1:\(port)", "--speed", "4"], env: e, output: serveLog))
        defer { kill(pid, SIGTERM); var s: Int32 = 0; waitpid(pid, &s, 0) }
        let deadline = Date().addingTimeInterval(15)
        while !((try? String(contentsOfFile: serveLog, encoding: .utf8)) ?? "").contains("served on"), Date() < deadline { usleep(50_000) }
        var wrong = env
        wrong["FRIDAY_TOKEN"] = "wrong-token"
        let refused = try runProcess(bin, ["status", "--tcp", "127.0.0.1:\(port)"], env: wrong)
        XCTAssertEqual(refused.status, 4, "a refused connection is not 'no engine answers' (3)")
        XCTAssertTrue(refused.err.contains("wrong token"), refused.err)
        XCTAssertTrue(((try? String(contentsOfFile: serveLog, encoding: .utf8)) ?? "").contains("refused a client from 127.0.0.1: wrong token"))
        let ok = try runProcess(bin, ["status", "--tcp", "127.0.0.1:\(port)"], env: e)
        XCTAssertEqual(ok.status, 0, ok.err)
        XCTAssertTrue(ok.out.contains("deploy checkout-v2.4.0"), ok.out)
        // A dashboard over TCP: its detach line gives the way back over TCP.
        let a = try TmuxSession(width: 120, height: 40, command: "\(bin) attach --tcp 127.0.0.1:\(port) --name tess; echo \"exit=$?\"; sleep 300", env: e)
        XCTAssertTrue(a.wait(for: "tess@127.0.0.1 (you)", seconds: 20), a.text)
        a.press("q")
        XCTAssertTrue(a.wait(for: "exit=0"), a.text)
        XCTAssertTrue(a.text.contains("back: friday attach --tcp 127.0.0.1:\(port)"), a.text)
        // SIGTERM: a clean shutdown that leaves the traffic as it is.
        kill(pid, SIGTERM)
        var s: Int32 = 0
        waitpid(pid, &s, 0)
        XCTAssertEqual((s >> 8) & 0xff, 0)
        XCTAssertTrue(((try? String(contentsOfFile: serveLog, encoding: .utf8)) ?? "").contains("stopped by signal 15"))
    }
}

