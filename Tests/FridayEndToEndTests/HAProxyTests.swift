import FridayCore
import FridayEngine
import FridayIntegrations
import FridayTesting
import Foundation
import XCTest

/// Against a real HAProxy 2.6 and two real HTTP backends on 127.0.0.1, started by
/// examples/haproxy/stack.sh (scripts/test installs haproxy where it is missing).
final class HAProxyTests: XCTestCase {
    var run: String!
    var ports: (front: Int, old: Int, new: Int) = (0, 0, 0)
    let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../..").standardized.path
    var stack: String { root + "/examples/haproxy/stack.sh" }

    override func setUp() async throws {
        run = NSTemporaryDirectory() + "friday-haproxy-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        let base = freePorts(7)
        ports = (base, base + 1, base + 2)
        let (status, out) = sh([stack, "start", run])
        XCTAssertEqual(status, 0, out)
        // Both servers pass their first health checks.
        let deadline = Date().addingTimeInterval(10)
        while Date() < deadline {
            if let rows = try? await runtime.stats(), rows.filter({ $0["pxname"] == "app" && ["old", "new", "new-b"].contains($0["svname"] ?? "") && ($0["status"] ?? "").hasPrefix("UP") }).count == 3 { break }
            usleep(100_000)
        }
    }

    override func tearDownWithError() throws {
        _ = sh([stack, "stop", run])
        try? FileManager.default.removeItem(atPath: run)
    }

    var env: [String: String] {
        ["FRONT_PORT": "\(ports.front)", "OLD_PORT": "\(ports.old)", "NEW_PORT": "\(ports.new)", "EXPORTER_PORT": "\(ports.front + 3)", "API_PORT": "\(ports.front + 4)", "NEWB_PORT": "\(ports.front + 5)"]
    }

    func sh(_ argv: [String]) -> (Int32, String) { bash(argv, env: env, scratch: run) }
    var runtime: HAProxyRuntime { HAProxyRuntime(address: run + "/admin.sock") }
    func router(backend: String = "app", socket: String? = nil) -> HAProxyRouter {
        HAProxyRouter(instances: [HAProxyRuntime(address: socket ?? run + "/admin.sock")], backend: backend, servers: ["v2.3.0": "old", "v2.4.0": "new"])
    }

    /// How many of `n` requests through the frontend each version answered.
    func split(_ n: Int) throws -> [String: Int] {
        let script = """
        import http.client, collections
        c = collections.Counter()
        for _ in range(\(n)):
            h = http.client.HTTPConnection('127.0.0.1', \(ports.front), timeout=5)
            h.request('GET', '/'); r = h.getresponse(); r.read(); c[r.getheader('X-Version')] += 1; h.close()
        print(' '.join(f'{k}={v}' for k, v in sorted(c.items())))
        """
        let file = run + ".split.py"
        try script.write(toFile: file, atomically: true, encoding: .utf8)
        let (_, text) = sh(["-c", "python3 \(file)"])
        var out: [String: Int] = [:]
        for pair in text.split(whereSeparator: { $0 == " " || $0 == "\n" }) {
            let kv = pair.split(separator: "=")
            if kv.count == 2 { out[String(kv[0])] = Int(kv[1]) }
        }
        return out
    }

    func testWeightsAreSetReadBackAndSplitRealTraffic() async throws {
        let r = router()
        let wanted = [VersionWeight(version: "v2.3.0", percent: 75), VersionWeight(version: "v2.4.0", percent: 25)]
        let back = try await r.setWeights(wanted)
        XCTAssertEqual(Set(back), Set(wanted))
        let answer70 = try await runtime.send("get weight app/new")
        XCTAssertTrue(answer70.hasPrefix("25 (initial 0)"))
        let got = try await r.currentWeights()
        XCTAssertEqual(Set(got ?? []), Set(wanted))
        let counts = try split(200)
        XCTAssertEqual(counts["v2.3.0", default: 0] + counts["v2.4.0", default: 0], 200)
        XCTAssertEqual(Double(counts["v2.4.0", default: 0]) / 200, 0.25, accuracy: 0.06, "\(counts)")
    }

    func testAFleetIsSetTogetherAndAFailingInstanceIsNamed() async throws {
        // The same HAProxy through its Unix socket and its TCP socket: two instances of a fleet.
        let tcp = "127.0.0.1:\(ports.front + 4)"
        let fleet = HAProxyRouter(instances: [HAProxyRuntime(address: run + "/admin.sock"), HAProxyRuntime(address: tcp)],
                                  backend: "app", servers: ["v2.3.0": "old", "v2.4.0": "new"])
        let wanted = [VersionWeight(version: "v2.3.0", percent: 95), VersionWeight(version: "v2.4.0", percent: 5)]
        let back = try await fleet.setWeights(wanted)
        XCTAssertEqual(Set(back), Set(wanted))
        let answer86 = try await HAProxyRuntime(address: tcp).send("get weight app/new")
        XCTAssertTrue(answer86.hasPrefix("5 "))
        let broken = HAProxyRouter(instances: [HAProxyRuntime(address: run + "/admin.sock"), HAProxyRuntime(address: "127.0.0.1:\(ports.front + 6)")],
                                   backend: "app", servers: ["v2.3.0": "old", "v2.4.0": "new"])
        do {
            _ = try await broken.setWeights([VersionWeight(version: "v2.3.0", percent: 90), VersionWeight(version: "v2.4.0", percent: 10)])
            XCTFail("no error")
        } catch {
            XCTAssertEqual("\(error)", "1 of 2 instances failed: 127.0.0.1:\(ports.front + 6): cannot connect: Connection refused (nothing is listening: is HAProxy running?)")
        }
        let answer95 = try await runtime.send("get weight app/new")
        XCTAssertTrue(answer95.hasPrefix("10 "), "the reachable instance was set; the next attempt sets all again")
    }

    func testAWrongSocketOrBackendGivesAClearError() async throws {
        do {
            _ = try await router(socket: run + "/nope.sock").setWeights([VersionWeight(version: "v2.4.0", percent: 5)])
            XCTFail("no error")
        } catch {
            XCTAssertEqual("\(error)", "\(run!)/nope.sock: cannot connect: No such file or directory (no such socket: is HAProxy running with `stats socket \(run!)/nope.sock level admin`?)")
        }
        do {
            _ = try await router(backend: "checkout").setWeights([VersionWeight(version: "v2.4.0", percent: 5)])
            XCTFail("no error")
        } catch {
            XCTAssertTrue("\(error)".contains("No such backend."), "\(error)")
            XCTAssertTrue("\(error)".contains("router.backend = \"checkout\""), "\(error)")
        }
    }

    func testADownServerIsReportedNotTrusted() async throws {
        _ = try await runtime.send("set server app/new state maint")
        do {
            _ = try await router().setWeights([VersionWeight(version: "v2.3.0", percent: 90), VersionWeight(version: "v2.4.0", percent: 10)])
            XCTFail("no error")
        } catch {
            XCTAssertTrue("\(error)".contains("app/new (v2.4.0) is MAINT: weight 10% set, but it takes no traffic"), "\(error)")
        }
    }

    func engine(plan: RolloutPlan, clock: any EngineClock, judge: CanaryJudge? = CanaryJudge(minRequests: 50), servers: [String: String]? = nil) -> Engine {
        var sim = SimulationSettings(scenario: .good, seed: 1)
        sim.plan = plan
        sim.stageNames = ["release container"]
        sim.simulateTeam = false
        let r = servers.map { HAProxyRouter(instances: [runtime], backend: "app", servers: $0) } ?? router()
        return Engine(deployID: "hx", clock: clock, router: r, metrics: HAProxyStats(router: r), sources: [SimulatedDeploy(settings: sim)],
                      judge: judge)
    }

    func testHAProxyKilledMidDeployPausesTheDeployAndItResumesWhenBack() async throws {
        let base = Timestamp(seconds: 1_800_000_000)
        let clock = ManualClock(base)
        let e = engine(plan: RolloutPlan(steps: [RolloutStep(weight: 10, pause: .seconds(20)), RolloutStep(weight: 50, pause: .untilPromoted), RolloutStep(weight: 100, pause: .seconds(0))]), clock: clock,
                   judge: nil) // no traffic here: this is about the router
        var t = 0.0
        func tick(_ n: Int) async { for _ in 0..<n { clock.set(base + t); await e.advance(to: base + t); t += 1 } }
        await tick(12)
        var s = await e.state
        XCTAssertEqual(s.stepIndex, 0)
        let answer144 = try await runtime.send("get weight app/new")
        XCTAssertTrue(answer144.hasPrefix("10 "))
        // HAProxy dies; the pause runs out; the next step cannot be set.
        let pid = pid_t(try String(contentsOfFile: run + "/haproxy.pid", encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines))!
        kill(pid, SIGKILL)
        usleep(200_000)
        await tick(20)
        s = await e.state
        XCTAssertEqual(s.stepIndex, 0, "no step is claimed without the router")
        XCTAssertEqual(s.paused?.by, "engine")
        XCTAssertTrue(s.routerProblem?.contains("cannot connect") ?? false, s.routerProblem ?? "nil")
        XCTAssertEqual(s.canaryPercent, 10)
        // HAProxy comes back (with its configured weights: new = 0): the engine sets the step
        // again, resumes, and the pause that ran out moves it on.
        let (status, out) = sh(["-c", "haproxy -D -p \(run!)/haproxy.pid -f \(run!)/haproxy.cfg"])
        XCTAssertEqual(status, 0, out)
        usleep(300_000)
        await tick(3)
        s = await e.state
        XCTAssertNil(s.routerProblem)
        XCTAssertNil(s.paused)
        XCTAssertEqual(s.stepIndex, 1)
        let answer165 = try await runtime.send("get weight app/new")
        XCTAssertTrue(answer165.hasPrefix("50 "))
        XCTAssertTrue(s.log.contains { $0.text.contains("is back") })
    }

    /// The load generator in the background (300 req/s, bounded to 60 s); kill it at the end.
    func startLoad() -> pid_t {
        let (started, pidText) = sh(["-c", "python3 \(root)/examples/haproxy/load.py --url http://127.0.0.1:\(ports.front)/ --rate 300 --seconds 60 >/dev/null 2>&1 </dev/null & echo $!"])
        XCTAssertEqual(started, 0)
        return pid_t(pidText.trimmingCharacters(in: .whitespacesAndNewlines)) ?? 0
    }

    /// Waits (at most 30 s) for the engine's first step and returns the step it is at.
    func firstStep(_ e: Engine) async -> Int? {
        let deadline = Date().addingTimeInterval(30)
        while Date() < deadline, await e.state.stepIndex != 0 { usleep(100_000) }
        return await e.state.stepIndex
    }

    func testABadVersionIsRevertedByTheJudgeUnderRealLoad() async throws {
        let clock = ScaledClock(base: Timestamp(seconds: Date().timeIntervalSince1970), speed: 1)
        let e = engine(plan: RolloutPlan(steps: [RolloutStep(weight: 10, pause: .seconds(120)), RolloutStep(weight: 100, pause: .seconds(0))]), clock: clock)
        let driver = Task { await e.run() }
        defer { driver.cancel() }
        let loadPID = startLoad()
        defer { if loadPID > 0 { kill(loadPID, SIGTERM) } }
        let step = await firstStep(e)
        XCTAssertEqual(step, 0)
        usleep(3_000_000) // some healthy traffic first
        _ = sh([stack, "fail", "0.2", run])
        let failedAt = Date()
        let deadline = Date().addingTimeInterval(40)
        while Date() < deadline, await e.state.outcome != .reverted { usleep(100_000) }
        let s = await e.state
        XCTAssertEqual(s.outcome, .reverted, s.log.suffix(5).map(\.text).joined(separator: "\n"))
        let answer190 = try await runtime.send("get weight app/new")
        XCTAssertTrue(answer190.hasPrefix("0 "))
        print("haproxy: new version failing → weight 0 in \(String(format: "%.1f", Date().timeIntervalSince(failedAt))) s; verdict: \(s.judgement?.summary ?? "")")
    }

    /// Three versions through the example's three backends: the second candidate fails under
    /// real load and is taken out alone; the first keeps its traffic, read back from HAProxy.
    func testThreeVersionsOneCandidateFailsAndOnlyItIsReverted() async throws {
        func w(_ a: Int, _ b: Int, _ c: Int) -> [VersionWeight] {
            [VersionWeight(version: "v2.3.0", percent: a), VersionWeight(version: "v2.4.0", percent: b), VersionWeight(version: "v2.4.0-b", percent: c)]
        }
        let plan = RolloutPlan(steps: [RolloutStep(weight: 40, pause: .seconds(300), weights: w(60, 20, 20)),
                                       RolloutStep(weight: 100, pause: .seconds(0), weights: w(0, 50, 50))],
                               moreCandidates: [VersionRef(name: "v2.4.0-b", commit: "51d7e0c")])
        let clock = ScaledClock(base: Timestamp(seconds: Date().timeIntervalSince1970), speed: 1)
        let e = engine(plan: plan, clock: clock, servers: ["v2.3.0": "old", "v2.4.0": "new", "v2.4.0-b": "new-b"])
        let driver = Task { await e.run() }
        defer { driver.cancel() }
        let loadPID = startLoad()
        defer { if loadPID > 0 { kill(loadPID, SIGTERM) } }
        let step = await firstStep(e)
        XCTAssertEqual(step, 0)
        let early = try await runtime.send("get weight app/new-b")
        XCTAssertTrue(early.hasPrefix("20 "), early)
        usleep(3_000_000) // some healthy traffic on all three first
        let (failed, _) = sh([stack, "fail", "0.2", run, "new-b"])
        XCTAssertEqual(failed, 0)
        let failedAt = Date()
        let deadline = Date().addingTimeInterval(40)
        while Date() < deadline {
            let s = await e.state
            if s.candidatesOut == ["v2.4.0-b"], s.pending == nil { break }
            usleep(100_000)
        }
        let s = await e.state
        XCTAssertEqual(s.candidatesOut, ["v2.4.0-b"], s.log.suffix(6).map(\.text).joined(separator: "\n"))
        XCTAssertNil(s.outcome, "the other candidate goes on")
        XCTAssertTrue(s.log.contains { $0.text.hasPrefix("v2.4.0-b is out of rotation (the router confirms); v2.4.0 goes on") }, s.log.suffix(6).map(\.text).joined(separator: "\n"))
        // HAProxy holds what friday says it holds: b at 0, its 20% shared 60:20 by the others.
        let (bAfter, aAfter, oldAfter) = (try await runtime.send("get weight app/new-b"), try await runtime.send("get weight app/new"), try await runtime.send("get weight app/old"))
        XCTAssertTrue(bAfter.hasPrefix("0 "), bAfter)
        XCTAssertTrue(aAfter.hasPrefix("25 "), aAfter)
        XCTAssertTrue(oldAfter.hasPrefix("75 "), oldAfter)
        XCTAssertEqual(Set(s.observed), Set(w(75, 25, 0)))
        let answered = try split(200)
        XCTAssertNil(answered["v2.4.0-b"], "\(answered)")
        XCTAssertGreaterThan(answered["v2.4.0"] ?? 0, 20, "\(answered)")
        XCTAssertEqual(s.candidateJudgements?["v2.4.0-b"]?.verdict, .fail)
        print("haproxy three versions: v2.4.0-b failing → out in \(String(format: "%.1f", Date().timeIntervalSince(failedAt))) s; the split through the frontend after: \(answered); verdict: \(s.candidateJudgements?["v2.4.0-b"]?.summary ?? "")")
    }
}
