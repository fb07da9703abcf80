import FridayCore
import FridayEngine
import FridayIntegrations
import FridayTesting
import Foundation
import XCTest

/// Against a real Prometheus 2.42 scraping a real HAProxy's exporter every second, all on
/// 127.0.0.1, started by `PROMETHEUS=1 examples/haproxy/stack.sh start`.
final class PrometheusTests: XCTestCase {
    var run: String!
    var base = 0
    let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../..").standardized.path

    var env: [String: String] {
        ["FRONT_PORT": "\(base)", "OLD_PORT": "\(base + 1)", "NEW_PORT": "\(base + 2)", "EXPORTER_PORT": "\(base + 3)",
         "PROMETHEUS_PORT": "\(base + 4)", "API_PORT": "\(base + 5)", "NEWB_PORT": "\(base + 6)", "PROMETHEUS": "1"]
    }

    func sh(_ argv: [String]) -> (Int32, String) { bash(argv, env: env, scratch: run) }

    override func setUpWithError() throws {
        run = NSTemporaryDirectory() + "friday-prom-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        base = freePorts(7)
        let (status, out) = sh([root + "/examples/haproxy/stack.sh", "start", run])
        XCTAssertEqual(status, 0, out)
    }

    override func tearDownWithError() throws {
        _ = sh([root + "/examples/haproxy/stack.sh", "stop", run])
        try? FileManager.default.removeItem(atPath: run)
    }

    func prometheus(requests: String = #"sum(rate(haproxy_server_http_responses_total{proxy="app",server="{server}"}[10s]))"#,
                    errors: String = #"sum(rate(haproxy_server_http_responses_total{proxy="app",server="{server}",code="5xx"}[10s]))"#) -> PrometheusMetrics {
        PrometheusMetrics(url: "http://127.0.0.1:\(base + 4)", requestRate: requests, errorRate: errors,
                          latency: #"haproxy_server_response_time_average_seconds{proxy="app",server="{server}"}"#,
                          servers: ["v2.3.0": "old", "v2.4.0": "new"])
    }

    func load(seconds: Int) {
        _ = sh(["-c", "python3 \(root)/examples/haproxy/load.py --url http://127.0.0.1:\(base)/ --rate 100 --seconds \(seconds) >/dev/null 2>&1 </dev/null &"])
    }

    func testRealRatesComeBackAndEmptyOrNaNAreErrorsNotZero() throws {
        load(seconds: 20)
        let p = prometheus()
        var rate: Double?
        let deadline = Date().addingTimeInterval(25)
        while Date() < deadline {
            // rate() over 10 s ramps up as samples arrive: wait for it to settle.
            if let r = try? p.query(p.requestRate, version: "v2.3.0"), r >= 70 { rate = r; break }
            usleep(250_000)
        }
        XCTAssertEqual(rate ?? 0, 100, accuracy: 40, "the old version takes all of 100 req/s")
        XCTAssertThrowsError(try p.query(#"sum(rate(no_such_metric{server="{server}"}[10s]))"#, version: "v2.4.0")) { e in
            XCTAssertTrue("\(e)".contains("returned no series"), "\(e)")
        }
        XCTAssertThrowsError(try p.query("vector(0)/0", version: "v2.4.0")) { e in
            XCTAssertTrue("\(e)".hasSuffix("is NaN: not a number, not taken as zero"), "\(e)")
        }
        XCTAssertThrowsError(try p.query("sum(rate(", version: "v2.4.0")) { e in
            XCTAssertTrue("\(e)".contains("parse error"), "\(e)")
        }
        let dead = PrometheusMetrics(url: "http://127.0.0.1:\(base + 9)", requestRate: "up", errorRate: "up", latency: nil, servers: [:])
        XCTAssertThrowsError(try dead.query("up", version: "v")) { e in XCTAssertTrue("\(e)".contains("cannot connect"), "\(e)") }
    }

    /// `friday check` on a Prometheus deploy file with no traffic given asks Prometheus for
    /// the old version's last hour and forecasts from it; a Prometheus that is not there is
    /// said, not fatal.
    func testCheckForecastsFromPrometheusLastHour() throws {
        load(seconds: 30)
        let p = prometheus()
        let deadline = Date().addingTimeInterval(25)
        while Date() < deadline {
            if let r = try? p.lastHour(version: "v2.3.0"), r.requestsPerSecond >= 20 { break }
            usleep(250_000)
        }
        let text = try String(contentsOfFile: root + "/examples/haproxy/friday-prometheus.toml", encoding: .utf8)
            .replacingOccurrences(of: "http://127.0.0.1:19090", with: "http://127.0.0.1:\(base + 4)")
        let file = run + "/prom.toml"
        try text.write(toFile: file, atomically: true, encoding: .utf8)
        let r = try runProcess(fridayBinary(), ["check", file])
        XCTAssertEqual(r.status, 0, r.err)
        let line = try XCTUnwrap(r.out.split(separator: "\n").first { $0.contains("judge at ") }, r.out)
        XCTAssertTrue(line.contains("(Prometheus: v2.3.0's average over the last hour), 0.00% errors:"), String(line))
        let rate = line.split(separator: " ").firstIndex(of: "req/s").map { Double(line.split(separator: " ")[$0 - 1].replacingOccurrences(of: ",", with: "")) ?? 0 } ?? 0
        XCTAssertGreaterThan(rate, 10, String(line))
        XCTAssertLessThan(rate, 140, String(line))
        // No Prometheus there: check still checks, and says why there is no forecast.
        try text.replacingOccurrences(of: "http://127.0.0.1:\(base + 4)", with: "http://127.0.0.1:\(base + 9)").write(toFile: file, atomically: true, encoding: .utf8)
        let down = try runProcess(fridayBinary(), ["check", file])
        XCTAssertEqual(down.status, 0, down.err)
        XCTAssertTrue(down.out.contains("judge: could not ask Prometheus for the last hour's traffic: "), down.out)
        XCTAssertTrue(down.out.contains("give the service's traffic (--traffic 200/s"), down.out)
        // --offline asks nothing (a lint step in CI with no Prometheus to reach).
        let offline = try runProcess(fridayBinary(), ["check", file, "--offline"])
        XCTAssertEqual(offline.status, 0, offline.err)
        XCTAssertTrue(offline.out.contains("  judge: give the service's traffic"), offline.out)
    }

    func testACanaryWithoutMetricsIsNeverPassed() async throws {
        // The canary's query finds nothing (a wrong label): the judge gets no samples, the
        // screen says why, and the step's end holds the deploy instead of passing it.
        let p = prometheus(requests: #"sum(rate(haproxy_server_http_responses_total{proxy="app",server="{server}-typo"}[10s]))"#)
        let r = HAProxyRouter(instances: [HAProxyRuntime(address: run + "/admin.sock")], backend: "app", servers: ["v2.3.0": "old", "v2.4.0": "new"])
        var sim = SimulationSettings(scenario: .good, seed: 1)
        sim.plan = RolloutPlan(steps: [RolloutStep(weight: 10, pause: .seconds(5)), RolloutStep(weight: 100, pause: .seconds(0))])
        sim.stageNames = ["release container"]
        sim.simulateTeam = false
        let t0 = Timestamp(seconds: 1_800_000_000)
        let clock = ManualClock(t0)
        let e = Engine(deployID: "p", clock: clock, router: r, metrics: p, sources: [SimulatedDeploy(settings: sim)], judge: CanaryJudge(minRequests: 1))
        var t = 0.0
        while t < 40, await e.state.paused == nil, await !e.state.isFinished {
            clock.set(t0 + t)
            await e.advance(to: t0 + t)
            t += 1
        }
        let s = await e.state
        XCTAssertFalse(s.isFinished, "not promoted on missing data")
        XCTAssertEqual(s.stepIndex, 0)
        XCTAssertEqual(s.paused?.by, "judge")
        XCTAssertTrue(s.paused?.reason.hasPrefix("metrics unavailable at the step's end: prometheus: ") ?? false, s.paused?.reason ?? "nil")
        XCTAssertTrue(s.metricsProblem?.contains("returned no series") ?? false, s.metricsProblem ?? "nil")
        XCTAssertTrue(s.metrics.isEmpty, "no sample was invented")
    }
}
