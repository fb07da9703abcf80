import FridayCore
import FridayEngine
import FridayTesting
import Foundation
import XCTest

/// The shared history on a real PostgreSQL (started by the test in a temporary folder):
/// migrations, the outbox through a store crash, deploy locks, replay and stats from it.
final class StoreTests: XCTestCase {
    let bin = fridayBinary()
    var pg: PostgresServer!
    var dir: String!
    var url: String { pg.url }

    override func setUpWithError() throws {
        // No skip: without PostgreSQL this fails, and scripts/test installs it.
        pg = try PostgresServer()
        dir = NSTemporaryDirectory() + "friday-store-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    }

    override func tearDown() {
        pg?.destroy()
        if let dir { try? FileManager.default.removeItem(atPath: dir) }
    }

    /// A simulated deploy file with `[store]`: short pauses, the simulated team promotes.
    func deployFile(id: String, service: String, store: String? = nil, withStore: Bool = true) throws -> String {
        let example = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../../examples/simulated/friday.toml").standardized.path
        var text = try String(contentsOfFile: example, encoding: .utf8)
        text = text.replacingOccurrences(of: "id = \"checkout-v2.4.0\"", with: "id = \"\(id)\"")
            .replacingOccurrences(of: "service = \"checkout\"", with: "service = \"\(service)\"")
            .replacingOccurrences(of: "requests_per_second = 5000", with: "requests_per_second = 500")
            .replacingOccurrences(of: "[router]", with: withStore ? "[store]\nurl = \"\(store ?? url)\"\n\n[router]" : "[router]")
        let path = "\(dir!)/\(id).toml"
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    func friday(_ args: [String]) throws -> (status: Int32, out: String, err: String) {
        try runProcess(bin, args, env: ["FRIDAY_STORE": url, "XDG_STATE_HOME": dir + "/state", "FRIDAY_NAME": "kim"])
    }

    func waitExit(_ pid: pid_t, seconds: Double) -> Int32? {
        let until = Date().addingTimeInterval(seconds)
        var status: Int32 = 0
        while Date() < until {
            if waitpid(pid, &status, WNOHANG) == pid { return (status >> 8) & 0xff }
            usleep(50_000)
        }
        return nil
    }

    func testMigrationsAreVersionedAndErrorsSayWhatIsWrong() throws {
        // Before migrating, an engine with [store] does not start, and says what to run.
        let early = try friday(["run", try deployFile(id: "early", service: "checkout"), "--headless", "--log", dir + "/early.jsonl"])
        XCTAssertEqual(early.status, 1, early.out)
        XCTAssertTrue(early.err.contains("schema version 0, this friday needs 1: run friday store migrate"), early.err)
        XCTAssertFalse(early.out.contains("step.started"), "nothing moved")
        let m1 = try friday(["store", "migrate"])
        XCTAssertEqual(m1.status, 0, m1.err)
        XCTAssertTrue(m1.out.contains("applied migration 1 (events, deploys and deploy locks)"), m1.out)
        let m2 = try friday(["store", "migrate", "--store", url])
        XCTAssertTrue(m2.out.contains("schema version 1, up to date"), m2.out)
        XCTAssertEqual(try pg.psql("SELECT string_agg(version::text, ',') FROM friday_schema"), "1")
        // A password is never repeated; a store that refuses says so at once.
        let bad = try friday(["store", "status", "--store", "postgres://u:sekrit@127.0.0.1:\(freePorts())/db"])
        XCTAssertEqual(bad.status, 1)
        XCTAssertTrue(bad.err.contains("cannot connect to postgres://u:***@127.0.0.1:") && bad.err.contains("connection refused"), bad.err)
        XCTAssertFalse(bad.err.contains("sekrit"), bad.err)
        let garbled = try friday(["store", "status", "--store", "mysql://x@y/z"])
        XCTAssertTrue(garbled.err.contains("expected a postgres:// address"), garbled.err)
        // In a deploy file, the error names the file and line; an unreachable store stops a new deploy.
        let file = try deployFile(id: "nowhere", service: "checkout", store: "postgres://friday:sekrit@127.0.0.1:\(freePorts())/postgres")
        let check = try friday(["check", file])
        XCTAssertEqual(check.status, 0, check.err)
        let down = try friday(["run", file, "--headless", "--log", dir + "/nowhere.jsonl"])
        XCTAssertEqual(down.status, 1)
        XCTAssertTrue(down.err.contains("not started: cannot connect to postgres://friday:***@") && down.err.contains("takes its service's lock there before it moves any traffic"), down.err)
        XCTAssertFalse(down.err.contains("sekrit"))
        try "[store]\nurl = \"postgres://nobody\"\n".write(toFile: dir + "/broken.toml", atomically: true, encoding: .utf8)
        let broken = try friday(["check", dir + "/broken.toml"])
        XCTAssertTrue(broken.err.contains("broken.toml:2") && broken.err.contains("store.url"), broken.err)
    }

    func testTwoEnginesKeepEveryEventExactlyOnceThroughAStoreCrash() throws {
        XCTAssertEqual(try friday(["store", "migrate"]).status, 0)
        let a = try deployFile(id: "checkout-a", service: "checkout"), b = try deployFile(id: "search-b", service: "search")
        var pids: [pid_t] = []
        for (file, id) in [(a, "checkout-a"), (b, "search-b")] {
            let pid = try XCTUnwrap(spawnProcess([bin, "serve", file, "--log", "\(dir!)/\(id).jsonl", "--speed", "10", "--linger", "0"],
                                                 env: ["XDG_STATE_HOME": dir + "/state"], output: "\(dir!)/\(id).serve.log"))
            pids.append(pid)
        }
        defer { for p in pids { kill(p, SIGKILL) } }
        // Both write to the store; then it crashes (no checkpoint, connections cut) for 13 s,
        // longer than a store operation may wait (10 s), so the engines see it fail.
        let until = Date().addingTimeInterval(20)
        while Date() < until, (try? pg.psql("SELECT count(DISTINCT deploy) FROM friday_events")) != "2" { usleep(100_000) }
        XCTAssertEqual(try pg.psql("SELECT count(DISTINCT deploy) FROM friday_events"), "2")
        try pg.stop(immediate: true)
        sleep(13)
        try pg.start()
        for p in pids { XCTAssertEqual(waitExit(p, seconds: 90), 0, "serve ends once its deploy is over") }
        pids = []
        for id in ["checkout-a", "search-b"] {
            let log = try String(contentsOfFile: "\(dir!)/\(id).jsonl", encoding: .utf8)
            let lines = log.split(separator: "\n").map(String.init)
            XCTAssertTrue(lines.contains { $0.contains(#""type":"deploy.finished""#) }, "the deploy ran to its end")
            // Every event exactly once, in order, byte for byte the log's line.
            XCTAssertEqual(try pg.psql("SELECT count(*) || ' ' || count(DISTINCT seq) || ' ' || max(seq) FROM friday_events WHERE deploy = '\(id)'"),
                           "\(lines.count) \(lines.count) \(lines.count - 1)")
            let stored = try pg.psql("SELECT string_agg(line, E'\\n' ORDER BY seq) FROM friday_events WHERE deploy = '\(id)'")
            XCTAssertEqual(stored, lines.joined(separator: "\n"))
            let served = try String(contentsOfFile: "\(dir!)/\(id).serve.log", encoding: .utf8)
            XCTAssertTrue(served.contains("the local log keeps every event") && served.contains("answers again: catching up"), served)
            // The store's copy replays as the log does.
            let fromStore = try friday(["replay", id, "--store", url, "--summary"])
            let fromLog = try friday(["replay", "\(dir!)/\(id).jsonl", "--summary"])
            XCTAssertEqual(fromStore.status, 0, fromStore.err)
            XCTAssertEqual(fromStore.out, fromLog.out)
        }
        // The deploys' rows say where each ended; the service locks were released when promoted.
        XCTAssertEqual(try pg.psql("SELECT string_agg(deploy || ' ' || service || ' ' || state, ',' ORDER BY deploy) FROM friday_deploys"),
                       "checkout-a checkout promoted,search-b search promoted")
        XCTAssertEqual(try pg.psql("SELECT count(*) FROM friday_locks"), "0")
        let viaStore = try friday(["stats", "--store", url, "--json"]), viaLogs = try friday(["stats", dir, "--json"])
        XCTAssertEqual(viaStore.status, 0, viaStore.err)
        XCTAssertEqual(viaStore.out, viaLogs.out)
        XCTAssertTrue(viaStore.out.contains(#""deploys":2"#), viaStore.out)
        // Pushing a log again writes nothing twice.
        let push = try friday(["store", "push", "\(dir!)/checkout-a.jsonl"])
        XCTAssertEqual(push.status, 0, push.err)
        XCTAssertTrue(push.out.contains(": 0 event(s) copied"), push.out)
    }

    /// Issue 25, item 3: PostgreSQL down when a finished deploy's engine stops left its
    /// service locked for good (every later deploy refused with "wait for it to finish"). The
    /// next start on the same machine finds that deploy's log over, copies what the store
    /// lacks, gives the lock back and starts; `store push` gives it back too.
    func testALockLeftByADeployThatEndedDuringAStoreOutageIsGivenBackByTheNextStart() throws {
        XCTAssertEqual(try friday(["store", "migrate"]).status, 0)
        let a = try deployFile(id: "cart-a", service: "cart")
        let pid = try XCTUnwrap(spawnProcess([bin, "serve", a, "--speed", "10", "--linger", "0"], env: ["XDG_STATE_HOME": dir + "/state", "FRIDAY_STORE": url],
                                             output: dir + "/a.serve.log"))
        defer { kill(pid, SIGKILL) }
        let until = Date().addingTimeInterval(60)
        while Date() < until, (try? friday(["status", "cart-a", "--json"]).out)?.contains(#""state":"rolling""#) != true { usleep(100_000) }
        XCTAssertEqual(try pg.psql("SELECT deploy FROM friday_locks WHERE service = 'cart'"), "cart-a")
        // The store goes down; the deploy is reverted and its engine stopped meanwhile.
        try pg.stop(immediate: true)
        let stop = try friday(["stop", "cart-a", "--traffic", "revert", "--reason", "store outage drill"])
        XCTAssertEqual(stop.status, 0, stop.err)
        XCTAssertNotNil(waitExit(pid, seconds: 30), "the engine stops although the store is down")
        try pg.start()
        XCTAssertEqual(try pg.psql("SELECT deploy FROM friday_locks WHERE service = 'cart'"), "cart-a", "the lock was left behind (the state this test is about)")
        let log = dir + "/state/friday/deploys/cart-a.jsonl"
        let lines = try String(contentsOfFile: log, encoding: .utf8).split(separator: "\n").count
        // The next deploy of cart on this machine: not refused; cart-a's events copied first.
        let b = try friday(["run", try deployFile(id: "cart-b", service: "cart"), "--headless", "--log", dir + "/b.jsonl"])
        XCTAssertEqual(b.status, 0, b.err)
        XCTAssertTrue(b.err.contains("the lock of cart was left by deploy cart-a, which ended here while the store was down"), b.err)
        XCTAssertEqual(try pg.psql("SELECT count(*) FROM friday_events WHERE deploy = 'cart-a'"), "\(lines)", "every event of cart-a's log is in the store")
        XCTAssertEqual(try pg.psql("SELECT string_agg(deploy || ' ' || state, ',' ORDER BY deploy) FROM friday_deploys WHERE service = 'cart'"),
                       "cart-a reverted,cart-b promoted")
        XCTAssertEqual(try pg.psql("SELECT count(*) FROM friday_locks WHERE service = 'cart'"), "0", "cart-b's lock went with its promotion")
        // store push gives back a finished deploy's lock as well.
        _ = try pg.psql("INSERT INTO friday_locks (service, deploy, holder, host, versions) VALUES ('cart', 'cart-a', 'lee', 'elsewhere', 'v1 → v2')")
        let push = try friday(["store", "push", log])
        XCTAssertEqual(push.status, 0, push.err)
        XCTAssertTrue(push.out.contains("its lock on cart given back"), push.out)
        XCTAssertEqual(try pg.psql("SELECT count(*) FROM friday_locks WHERE service = 'cart'"), "0")
    }

    /// `[store]` in the person's own config: the commands and a deploy file without one use it;
    /// a bad one refuses to start a deploy (its lock is never silently skipped).
    func testTheUserConfigsStoreIsUsedAndABadOneRefusesToDeploy() throws {
        let config = dir + "/config"
        try FileManager.default.createDirectory(atPath: config + "/friday", withIntermediateDirectories: true)
        try "name = \"kim\"\n[store]\nurl = \"\(url)\"\n".write(toFile: config + "/friday/config.toml", atomically: true, encoding: .utf8)
        let env = ["XDG_STATE_HOME": dir + "/state", "XDG_CONFIG_HOME": config, "FRIDAY_NAME": "kim"]
        XCTAssertEqual(try runProcess(bin, ["store", "migrate"], env: env).status, 0)
        let file = try deployFile(id: "cart-u", service: "cart", withStore: false)
        let ran = try runProcess(bin, ["run", file, "--headless", "--log", dir + "/u.jsonl"], env: env)
        XCTAssertEqual(ran.status, 0, ran.err)
        XCTAssertEqual(try pg.psql("SELECT string_agg(action, ',' ORDER BY id) FROM friday_lock_log WHERE service = 'cart'"), "lock,unlock", "the deploy took and gave back its lock")
        XCTAssertEqual(try pg.psql("SELECT count(*) FROM friday_events WHERE deploy = 'cart-u'"),
                       "\(try String(contentsOfFile: dir + "/u.jsonl", encoding: .utf8).split(separator: "\n").count)")
        let status = try runProcess(bin, ["store", "status"], env: env)
        XCTAssertEqual(status.status, 0, status.err)
        XCTAssertTrue(status.out.contains("cart-u"), status.out)
        // A store address that cannot be used: the deploy does not start, and says where.
        try "name = \"kim\"\n\n[store]\nurl = \"postgres://u@127.0.0.1:99999/db\"\n".write(toFile: config + "/friday/config.toml", atomically: true, encoding: .utf8)
        let refused = try runProcess(bin, ["run", try deployFile(id: "cart-v", service: "cart", withStore: false), "--headless", "--log", dir + "/v.jsonl"], env: env)
        XCTAssertEqual(refused.status, 1, refused.out)
        XCTAssertTrue(refused.err.contains("\(config)/friday/config.toml:4: store.url: ") && refused.err.contains("65535"), refused.err)
        XCTAssertFalse(refused.out.contains("step.started"), "nothing moved")
        let lock = try runProcess(bin, ["lock"], env: env)
        XCTAssertEqual(lock.status, 1)
        XCTAssertTrue(lock.err.contains("config.toml:4: store.url"), lock.err)
    }

    /// `friday board --store` on a machine that runs none of the deploys: the store's rows,
    /// live through LISTEN/NOTIFY, and Enter says where the deploy runs.
    func testTheBoardOfAnotherMachineFollowsTheStoreLive() throws {
        XCTAssertEqual(try friday(["store", "migrate"]).status, 0)
        let a = try deployFile(id: "checkout-live", service: "checkout")
        let engineEnv = ["XDG_STATE_HOME": dir + "/state-a", "USER": "lee"]
        let pid = try XCTUnwrap(spawnProcess([bin, "serve", a, "--log", dir + "/live.jsonl", "--speed", "3", "--linger", "600"], env: engineEnv, output: dir + "/live.serve.log"))
        defer { kill(pid, SIGKILL) }
        try FileManager.default.createDirectory(atPath: dir + "/elsewhere", withIntermediateDirectories: true)
        let board = try TmuxSession(width: 130, height: 16, command: "\(bin) board --store '\(url)' --folder \(dir!)/elsewhere; echo \"exit=$?\"; sleep 300",
                                    env: ["XDG_STATE_HOME": dir + "/state-b"])
        let row = { (lines: [String]) in lines.first { $0.contains("checkout@") } ?? "" }
        XCTAssertTrue(board.wait(seconds: 60) { row($0).contains("JUDGING") }, board.text + "\n" + ((try? String(contentsOfFile: dir + "/live.serve.log", encoding: .utf8)) ?? ""))
        XCTAssertTrue(row(board.screen()).contains("v2.3.0 → v2.4.0"), board.text)
        // A pause on the engine's machine reaches this board through the store, live.
        let paused = try runProcess(bin, ["pause", "--log", dir + "/live.jsonl", "--reason", "checking"], env: engineEnv)
        XCTAssertEqual(paused.status, 0, paused.err)
        let start = Date()
        XCTAssertTrue(board.wait(seconds: 10) { row($0).contains("HELD") && row($0).contains("paused") }, board.text)
        print("board --store: a pause was on the other machine's board \(Int(Date().timeIntervalSince(start) * 1000)) ms after the command returned")
        // Its engine is not on this machine: Enter says where, and attaches nothing.
        board.press("Enter")
        XCTAssertTrue(board.wait(for: "runs on "), board.text)
        XCTAssertTrue(board.text.contains("friday board"), "still the board: \(board.text)")
        let listed = try runProcess(bin, ["board", "--store", url, "--folder", dir + "/elsewhere", "--list"], env: [:])
        XCTAssertEqual(listed.status, 0, listed.err)
        XCTAssertTrue(listed.out.contains("HELD") && listed.out.contains("checkout@"), listed.out)
        XCTAssertEqual(listed.err, "")
        // The store going away is said in the footer, and the board stays.
        try pg.stop(immediate: true)
        XCTAssertTrue(board.wait(seconds: 15) { $0.joined().contains("store: ") }, board.text)
        try pg.start()
        board.press("q")
        XCTAssertTrue(board.wait(for: "exit=0"), board.text)
        kill(pid, SIGTERM)
        _ = waitExit(pid, seconds: 20)
    }

    func testASecondDeployOfAServiceIsRefusedWithItsHolder() throws {
        XCTAssertEqual(try friday(["store", "migrate"]).status, 0)
        // A runs in real time (its third step waits for a promote): it holds checkout.
        let a = try deployFile(id: "checkout-a", service: "checkout")
        let pid = try XCTUnwrap(spawnProcess([bin, "serve", a, "--log", dir + "/a.jsonl"], env: ["XDG_STATE_HOME": dir + "/state"], output: dir + "/a.serve.log"))
        defer { kill(pid, SIGKILL) }
        let until = Date().addingTimeInterval(20)
        while Date() < until, (try? pg.psql("SELECT count(*) FROM friday_locks")) != "1" { usleep(100_000) }
        // B, another deploy of checkout on this or another machine: refused, naming the holder.
        let b = try friday(["run", try deployFile(id: "checkout-b", service: "checkout"), "--headless", "--log", dir + "/b.jsonl"])
        XCTAssertEqual(b.status, 1, b.out)
        XCTAssertTrue(b.err.contains("not started: checkout is locked by lee on ") && b.err.contains(" UTC for v2.3.0 → v2.4.0 (deploy checkout-a)"), b.err)
        XCTAssertTrue(b.err.contains("friday unlock checkout --reason"), b.err)
        XCTAssertFalse(b.out.contains("step.started"), "B moved no traffic")
        // A's own file again from a fresh log (another machine, say): not a second checkout-a.
        let twin = try friday(["run", a, "--headless", "--log", dir + "/a-twin.jsonl"])
        XCTAssertEqual(twin.status, 1, twin.out)
        XCTAssertTrue(twin.err.contains("already holds deploy checkout-a"), twin.err)
        // A's log is A's engine's to copy (from what it has synced): a push of it is refused.
        let push = try friday(["store", "push", dir + "/a.jsonl"])
        XCTAssertEqual(push.status, 1, push.out)
        XCTAssertTrue(push.err.contains("an engine is running this deploy"), push.err)
        // A start that cannot listen moved nothing: the lock it took is given back.
        let d = try deployFile(id: "cart-d", service: "cart")
        let deaf = try friday(["serve", d, "--log", dir + "/d.jsonl", "--socket", a + "/not-a-folder/d.sock"])
        XCTAssertEqual(deaf.status, 1, deaf.out)
        XCTAssertTrue(deaf.err.contains("could not listen on"), deaf.err)
        XCTAssertEqual(try pg.psql("SELECT count(*) FROM friday_locks WHERE service = 'cart'"), "0", "the lock went back")
        XCTAssertEqual(try pg.psql("SELECT string_agg(action || ' ' || coalesce(reason, ''), ',' ORDER BY id) FROM friday_lock_log WHERE service = 'cart'"),
                       "lock ,unlock not started: could not listen on \(a)/not-a-folder/d.sock")
        // A lock reason is one line on every output, whatever was typed.
        XCTAssertEqual(try friday(["lock", "cart", "--reason", "a\nreleased: all clear\u{1b}[2J"]).status, 0)
        let shown = try friday(["lock"]).out
        XCTAssertTrue(shown.contains("by hand: a^Jreleased: all clear"), shown)
        XCTAssertFalse(shown.contains("\u{1b}"), shown)
        XCTAssertEqual(try friday(["unlock", "cart", "--reason", "test"]).status, 0)
        // A lock by hand (a freeze) refuses deploys with its reason; unlocking lets them go.
        XCTAssertEqual(try friday(["lock", "search", "--reason", "freeze: black friday"]).status, 0)
        let again = try friday(["lock", "search", "--reason", "twice"])
        XCTAssertEqual(again.status, 1)
        XCTAssertTrue(again.err.contains("search is locked by kim on ") && again.err.contains("by hand: freeze: black friday"), again.err)
        let list = try friday(["lock"])
        XCTAssertTrue(list.out.contains("checkout is locked by lee") && list.out.contains("search is locked by kim"), list.out)
        let c = try deployFile(id: "search-c", service: "search")
        let frozen = try friday(["run", c, "--headless", "--log", dir + "/c.jsonl"])
        XCTAssertEqual(frozen.status, 1)
        XCTAssertTrue(frozen.err.contains("by hand: freeze: black friday"), frozen.err)
        XCTAssertEqual(try friday(["unlock", "search", "--reason", "freeze over"]).status, 0)
        let go = try friday(["run", c, "--headless", "--log", dir + "/c.jsonl"])
        XCTAssertEqual(go.status, 0, go.err)
        XCTAssertTrue(go.out.contains(#""outcome":"promoted""#))
        XCTAssertEqual(try pg.psql("SELECT string_agg(service, ',') FROM friday_locks"), "checkout", "C's lock went with its promotion")
        XCTAssertEqual(try pg.psql("SELECT string_agg(action || ' ' || service || ' ' || who || ' ' || coalesce(reason, ''), ',' ORDER BY id) FROM friday_lock_log WHERE service = 'search'"),
                       "lock search kim freeze: black friday,unlock search kim freeze over,lock search lee ,unlock search friday deploy promoted")
        // A stopped mid-rollout keeps its lock (its traffic is still split); breaking it is by hand.
        kill(pid, SIGTERM)
        XCTAssertEqual(waitExit(pid, seconds: 20), 0)
        // Stopped, A's engine left the store with every event of its log, its last ones too.
        let aLines = try String(contentsOfFile: dir + "/a.jsonl", encoding: .utf8).split(separator: "\n").joined(separator: "\n")
        XCTAssertEqual(try pg.psql("SELECT string_agg(line, E'\\n' ORDER BY seq) FROM friday_events WHERE deploy = 'checkout-a'"), aLines)
        XCTAssertTrue(try friday(["lock"]).out.contains("checkout is locked by lee"))
        let broke = try friday(["unlock", "checkout", "--reason", "engine gone"])
        XCTAssertEqual(broke.status, 0, broke.err)
        XCTAssertTrue(broke.out.contains("friday stop checkout-a"), broke.out)
        // Restarted, A takes its lock back (the same deploy), and B is refused again.
        let back = try XCTUnwrap(spawnProcess([bin, "serve", a, "--log", dir + "/a.jsonl"], env: ["XDG_STATE_HOME": dir + "/state"], output: dir + "/a2.serve.log"))
        defer { kill(back, SIGKILL) }
        let until2 = Date().addingTimeInterval(20)
        while Date() < until2, (try? pg.psql("SELECT count(*) FROM friday_locks")) != "1" { usleep(100_000) }
        XCTAssertEqual(try friday(["run", try deployFile(id: "checkout-b", service: "checkout"), "--headless", "--log", dir + "/b.jsonl"]).status, 1)
        kill(back, SIGTERM)
        _ = waitExit(back, seconds: 20)
    }
}
