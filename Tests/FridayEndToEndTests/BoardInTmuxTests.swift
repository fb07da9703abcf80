import FridayCore
import FridayTesting
import Foundation
import XCTest

/// `friday board` with three real engines (`friday serve`) on one machine, in tmux like a
/// person: the order by need, Enter attaches and Esc comes back, an acting key opens that
/// deploy's own confirm, and `--list` for scripts.
final class BoardInTmuxTests: XCTestCase {
    let bin = fridayBinary()
    var state: String!
    var pids: [pid_t] = []
    let services = ["checkout", "search", "billing"]

    override func setUpWithError() throws {
        XCTAssertTrue(FileManager.default.isExecutableFile(atPath: bin), "build friday first (swift build): \(bin)")
        state = "/tmp/fb-\(getpid())-\(UInt16.random(in: 0...UInt16.max))"
        try FileManager.default.createDirectory(atPath: state, withIntermediateDirectories: true)
        let example = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../../examples/simulated/friday.toml").standardized.path
        let text = try String(contentsOfFile: example, encoding: .utf8)
        for s in services {
            try text.replacingOccurrences(of: "checkout-v2.4.0", with: "\(s)-v2.4.0").replacingOccurrences(of: "service = \"checkout\"", with: "service = \"\(s)\"")
                .write(toFile: "\(state!)/\(s).toml", atomically: true, encoding: .utf8)
        }
    }

    override func tearDownWithError() throws {
        // No engine may outlive its test.
        for s in services { _ = try? runProcess(bin, ["stop", "\(state!)/\(s).toml", "--traffic", "leave", "--reason", "test over"], env: env) }
        for p in pids { kill(p, SIGKILL); var st: Int32 = 0; waitpid(p, &st, 0) }
        try? FileManager.default.removeItem(atPath: state)
    }

    var env: [String: String] { ["XDG_STATE_HOME": state, "USER": "tester"] }

    func cli(_ args: String...) throws -> (status: Int32, out: String, err: String) { try runProcess(bin, args, env: env) }

    func testThreeEnginesOneBoardSortedByNeedAttachAndBackAndAKeyOpensThatDeploysConfirm() throws {
        let empty = try cli("board", "--list")
        XCTAssertEqual(empty.status, 0, empty.err)
        XCTAssertTrue(empty.out.contains("no deploy is served on this machine"), empty.out)
        for s in services {
            let pid = try XCTUnwrap(spawnProcess([bin, "serve", "\(state!)/\(s).toml", "--speed", "3", "--linger", "600"], env: env, output: "\(state!)/\(s).out"))
            pids.append(pid)
        }
        let board = try TmuxSession(width: 130, height: 20, command: "\(bin) board; echo \"exit=$?\"; sleep 300", env: env)
        XCTAssertTrue(board.wait(for: "friday board · 3 deploys", seconds: 30), board.text)
        // Rolling: the simulated pipeline takes about 40 s of its clock.
        XCTAssertTrue(board.wait(seconds: 60) { lines in lines.filter { $0.contains("JUDGING") }.count == 3 }, board.text)

        // One held by a person, one reverted: they go to the top, the failed one first.
        let hostile = "logs \u{1b}]0;owned\u{07}\u{1b}[31mred\u{202e}"
        XCTAssertEqual(try cli("pause", "\(state!)/search.toml", "--reason", hostile).status, 0)
        XCTAssertEqual(try cli("revert", "\(state!)/billing.toml", "--reason", "bad p99").status, 0)
        XCTAssertTrue(board.wait(for: "2 need you", seconds: 15), board.text)
        let rows = board.screen().filter { $0.contains(" v2.3.0 → v2.4.0") }
        XCTAssertEqual(rows.count, 3, board.text)
        XCTAssertTrue(rows[0].contains("FAILED") && rows[0].contains("billing") && rows[0].contains("reverted"), board.text)
        XCTAssertTrue(rows[1].contains("HELD") && rows[1].contains("search") && rows[1].contains("paused by tester (cli)"), board.text)
        XCTAssertTrue(rows[2].contains("JUDGING") && rows[2].contains("checkout"), board.text)
        XCTAssertTrue(rows[1].contains("99/1"), "the split read back from the router: \(rows[1])")

        // For scripts: the same rows as text, the hostile reason neutralised, and NIO
        // has nothing to say at exit (each connection closed once).
        let listed = try cli("board", "--list")
        XCTAssertEqual(listed.status, 0, listed.err)
        XCTAssertEqual(listed.out.split(separator: "\n").filter { $0.contains("v2.4.0") }.map { String($0.prefix(8)).trimmingCharacters(in: .whitespaces) }, ["FAILED", "HELD", "JUDGING"], listed.out)
        XCTAssertFalse(listed.out.unicodeScalars.contains { $0.value == 0x1b || $0.value == 0x07 || $0.value == 0x202e }, listed.out.debugDescription)
        XCTAssertEqual(listed.err, "", "nothing on stderr (NIO: \"Cannot schedule tasks on an EventLoop that has already shut down\" came from a second close)")

        // Enter on the judging one attaches its dashboard as this person; Esc comes back.
        board.press("End")
        board.press("Enter")
        XCTAssertTrue(board.wait(for: "friday SIM checkout v2.3.0 → v2.4.0", seconds: 15), board.text)
        XCTAssertTrue(board.wait(for: "tester joined (operator)"), board.text)
        board.press("Escape")
        XCTAssertTrue(board.wait(for: "friday board · 3 deploys", seconds: 10), board.text)
        XCTAssertTrue(board.screen().first { $0.contains("▶") }?.contains("checkout") ?? false, "the selection is where it was: \(board.text)")

        // r on the board opens checkout's own revert dialog; Esc closes it, Esc again is the board.
        board.press("r")
        XCTAssertTrue(board.wait(for: "Revert v2.4.0?", seconds: 15), board.text)
        XCTAssertTrue(board.text.contains("Reason for the team log"), board.text)
        board.press("Escape")
        XCTAssertTrue(board.wait { !$0.joined().contains("Revert v2.4.0?") }, board.text)
        board.press("Escape")
        XCTAssertTrue(board.wait(for: "friday board · 3 deploys", seconds: 10), board.text)
        let status = try cli("status", "\(state!)/checkout.toml", "--json")
        XCTAssertEqual(try JSONValue.parse(status.out.trimmingCharacters(in: .whitespacesAndNewlines))["state"]?.stringValue, "rolling", "nothing was reverted")

        // A stopped engine's row stays, dimmed, as ENDED at the bottom; Enter on it says why.
        XCTAssertEqual(try cli("stop", "\(state!)/search.toml", "--traffic", "leave", "--reason", "end of day").status, 0)
        XCTAssertTrue(board.wait(seconds: 15) { $0.last { $0.contains("v2.4.0") }?.contains("ENDED") ?? false }, board.text)
        board.press("q")
        XCTAssertTrue(board.wait(for: "exit=0"), board.text)
    }
}
