import Foundation
import FridayCore
import FridayEngine
import FridayIntegrations
import FridayTesting
import XCTest

/// Against real misbehaving peers (Tests/Fixtures/peer.py) on 127.0.0.1 and Unix sockets:
/// a peer that trickles a byte a second, one that never answers, one that sends 200 MB,
/// a scripted Prometheus and a scripted HAProxy runtime API.
final class SlowPeerTests: XCTestCase {
    var peers: [Process] = []
    var dir: String!
    let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../Fixtures/peer.py").standardized.path

    override func setUpWithError() throws {
        dir = NSTemporaryDirectory() + "friday-peer-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws {
        for p in peers where p.isRunning { kill(p.processIdentifier, SIGKILL); p.waitUntilExit() }
        try? FileManager.default.removeItem(atPath: dir)
    }

    /// Starts a peer and waits for its "ready".
    func peer(_ mode: String, _ address: String, _ arg: String? = nil) throws {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = ["python3", script, mode, address] + (arg.map { [$0] } ?? [])
        let out = Pipe()
        p.standardOutput = out
        try p.run()
        peers.append(p)
        let line = out.fileHandleForReading.availableData
        XCTAssertEqual(String(decoding: line, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines), "ready")
    }

    func freePort() -> Int { freePorts() }

    func testEveryExchangeEndsByItsDeadlineAndAHugeAnswerIsRefused() throws {
        for mode in ["trickle", "silent", "huge"] {
            let port = freePort()
            try peer(mode, "127.0.0.1:\(port)")
            let started = ContinuousClock.now
            XCTAssertThrowsError(try PlainSocket.exchangeForTests("127.0.0.1:\(port)", timeout: 1.5)) { e in
                XCTAssertTrue("\(e)".contains(mode == "huge" ? "the answer is over" : "no complete answer within 1.5 s"), "\(mode): \(e)")
            }
            let took = ContinuousClock.now - started
            XCTAssertLessThan(took, .milliseconds(1800), "\(mode) took \(took)")
        }
    }

    /// A Prometheus that trickles, never answers or sends 200 MB: the revert pressed meanwhile
    /// reaches the router within a second, and the engine's memory stays bounded.
    func testARevertReachesTheRouterWithin1sWhilePrometheusMisbehaves() async throws {
        for mode in ["trickle", "silent", "huge"] {
            let port = freePort()
            try peer(mode, "127.0.0.1:\(port)")
            let router = SimulatedRouter()
            let metrics = PrometheusMetrics(url: "http://127.0.0.1:\(port)", requestRate: "r", errorRate: "e", latency: nil, servers: [:], timeoutSeconds: 10)
            var sim = SimulationSettings(scenario: .good, seed: 1)
            sim.plan = RolloutPlan(steps: [RolloutStep(weight: 10, pause: .seconds(600)), RolloutStep(weight: 100, pause: .seconds(0))])
            sim.stageNames = ["release"]
            sim.simulateTeam = false
            let clock = ScaledClock(base: Timestamp(seconds: 1_800_000_000), speed: 1)
            let engine = Engine(deployID: "p", clock: clock, router: router, metrics: metrics, sources: [SimulatedDeploy(settings: sim)], judge: CanaryJudge(), metricsDeadline: 20)
            let driver = Task { await engine.run() }
            let deadline = ContinuousClock.now + .seconds(30)
            while await engine.state.stepIndex != 0, ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(20)) }
            try await Task.sleep(for: .milliseconds(2500)) // the fetch is stuck in the peer now
            let pressed = ContinuousClock.now
            await engine.submit(Command(.revert, by: "ana", text: "\(mode)"))
            while router.current.first(where: { $0.version == "v2.4.0" })?.percent != 0, ContinuousClock.now - pressed < .seconds(5) {
                try await Task.sleep(for: .milliseconds(5))
            }
            let took = ContinuousClock.now - pressed
            XCTAssertLessThan(took, .seconds(1), "\(mode): r to weight 0 took \(took)")
            print("revert while prometheus is \(mode): weight 0 after \(took)")
            driver.cancel()
            let s = await engine.state
            XCTAssertEqual(s.outcome, .reverted, mode)
        }
    }

    func testPrometheusAtLowTrafficIsCountedNotRoundedAway() async throws {
        let port = freePort()
        let table = dir + "/values.json"
        // 10 requests/s and 0.3 errors/s on each version.
        try #"{"req": 10, "err": 0.3}"#.write(toFile: table, atomically: true, encoding: .utf8)
        try peer("prometheus", "127.0.0.1:\(port)", table)
        let p = PrometheusMetrics(url: "http://127.0.0.1:\(port)", requestRate: "req{server=\"{server}\"}", errorRate: "err{server=\"{server}\"}", latency: nil, servers: [:])
        var s = DeployState()
        s.observed = [VersionWeight(version: "v1", percent: 90), VersionWeight(version: "v2", percent: 10)]
        var errors = 0, requests = 0
        for _ in 0..<100 {
            for m in try await p.sample(at: Timestamp(seconds: 0), state: s) where m.version == "v2" { errors += m.errors; requests += m.requests }
        }
        XCTAssertEqual(requests, 1000)
        XCTAssertEqual(errors, 30, "0.3 errors/s over 100 s")
        // Slow requests from a histogram query are carried the same way.
        let withSlow = PrometheusMetrics(url: "http://127.0.0.1:\(port)", requestRate: "req{server=\"{server}\"}", errorRate: "err{server=\"{server}\"}", latency: nil,
                                         servers: [:], slowRate: "slo{server=\"{server}\"}")
        try #"{"req": 10, "err": 0.3, "slo": 0.7}"#.write(toFile: table, atomically: true, encoding: .utf8)
        var slow = 0
        for _ in 0..<10 {
            for m in try await withSlow.sample(at: Timestamp(seconds: 0), state: s) where m.version == "v2" { slow += m.slow ?? -1000 }
        }
        XCTAssertEqual(slow, 7, "0.7 slow requests/s over 10 s")
        // Out of range is an error that names the value.
        for bad in ["1e300", "-2"] {
            try #"{"req": 10, "err": \#(bad)}"#.write(toFile: table, atomically: true, encoding: .utf8)
            do { _ = try await p.sample(at: Timestamp(seconds: 0), state: s); XCTFail("\(bad) accepted") } catch {
                XCTAssertTrue("\(error)".contains("errors/s for v1 is"), "\(error)")
            }
        }
    }

    func testAThreeFoldRegressionAtLowTrafficIsCaughtFromPrometheus() async throws {
        let port = freePort()
        let table = dir + "/values.json"
        // The canary takes 10% of 30 requests/s; old fails 0.5%, the canary 1.5% (3×).
        try #"{"req{server=\"v2.3.0\"}": 27, "err{server=\"v2.3.0\"}": 0.135, "req{server=\"v2.4.0\"}": 3, "err{server=\"v2.4.0\"}": 0.045}"#
            .write(toFile: table, atomically: true, encoding: .utf8)
        try peer("prometheus", "127.0.0.1:\(port)", table)
        let p = PrometheusMetrics(url: "http://127.0.0.1:\(port)", requestRate: "req{server=\"{server}\"}", errorRate: "err{server=\"{server}\"}", latency: nil,
                                  servers: ["v2.3.0": "v2.3.0", "v2.4.0": "v2.4.0"])
        var sim = SimulationSettings(scenario: .good, seed: 1)
        sim.plan = RolloutPlan(steps: [RolloutStep(weight: 10, pause: .untilPromoted), RolloutStep(weight: 100, pause: .seconds(0))])
        sim.stageNames = ["release"]
        sim.simulateTeam = false
        let base = Timestamp(seconds: 1_800_000_000)
        let clock = ManualClock(base)
        let engine = Engine(deployID: "low", clock: clock, router: SimulatedRouter(), metrics: p, sources: [SimulatedDeploy(settings: sim)],
                            judge: CanaryJudge(errorRatio: 2, minRequests: 20))
        var t = 0.0
        while await !engine.state.isFinished, t < 6 * 3600 {
            clock.set(base + t); await engine.advance(to: base + t); t += 1
        }
        let s = await engine.state
        XCTAssertEqual(s.outcome, .reverted, "a 3× regression at 3 canary requests/s is caught: \(s.judgement?.summary ?? "")")
        print("3x regression at 3 canary req/s from Prometheus: reverted after \(Int(t)) s")
    }

    func testHAProxyCountersHaveABaselinePerInstance() async throws {
        let header = "# pxname,svname,req_tot,hrsp_5xx,rtime,status,weight\n"
        func stat(_ old: (Int, Int), _ new: (Int, Int)) -> String {
            header + "app,old,\(old.0),\(old.1),10,UP,90\napp,new,\(new.0),\(new.1),12,UP,10\n"
        }
        let a = dir + "/a.sock", b = dir + "/b.sock"
        try stat((10_000, 10), (1_000, 1)).write(toFile: dir + "/a.csv", atomically: true, encoding: .utf8)
        try stat((20_000, 20), (2_000, 2)).write(toFile: dir + "/b.csv", atomically: true, encoding: .utf8)
        for f in ["a", "b"] { try #"{"app/old": 90, "app/new": 10}"#.write(toFile: dir + "/\(f).csv.weights", atomically: true, encoding: .utf8) }
        try peer("haproxy", a, dir + "/a.csv")
        try peer("haproxy", b, dir + "/b.csv")
        let router = HAProxyRouter(instances: [HAProxyRuntime(address: a), HAProxyRuntime(address: b)], backend: "app", servers: ["v1": "old", "v2": "new"])
        let stats = HAProxyStats(router: router)
        let s = DeployState()
        let first = try await stats.sample(at: Timestamp(seconds: 0), state: s)
        XCTAssertEqual(first, [], "the first read only sets the baselines")
        // One second later: a served 100/10, b restarted (counters from 0) and served 50/5.
        try stat((10_100, 11), (1_010, 2)).write(toFile: dir + "/a.csv", atomically: true, encoding: .utf8)
        try stat((45, 1), (5, 1)).write(toFile: dir + "/b.csv", atomically: true, encoding: .utf8)
        let next = try await stats.sample(at: Timestamp(seconds: 1), state: s)
        XCTAssertEqual(next.first { $0.version == "v1" }?.requests, 145, "100 on a + 45 since b restarted, not b's lifetime")
        XCTAssertEqual(next.first { $0.version == "v2" }?.requests, 15)
        XCTAssertEqual(next.first { $0.version == "v2" }?.errors, 2)
        // A fleet read back: b edited by hand to 50/50 is the one reported.
        try #"{"app/old": 50, "app/new": 50}"#.write(toFile: dir + "/b.csv.weights", atomically: true, encoding: .utf8)
        let back = try await router.readBack(expected: [VersionWeight(version: "v1", percent: 90), VersionWeight(version: "v2", percent: 10)])
        XCTAssertEqual(back.map(Set.init), Set([VersionWeight(version: "v1", percent: 50), VersionWeight(version: "v2", percent: 50)]))
    }
}
