import FridayCore
import FridayIntegrations
import XCTest

final class DeployConfigTests: XCTestCase {
    let good = """
    [deploy]
    service = "checkout"
    from = { version = "v1", commit = "a1" }
    to = { version = "v2", commit = "b2" }

    [[rollout.step]]
    weight = 10
    pause = "1m30s"

    [[rollout.step]]
    weight = 50
    pause = "until-promoted"

    [[rollout.step]]
    weight = 100

    [analysis]
    on_fail = "pause"
    min_requests = 500
    """

    func error(_ text: String) -> String {
        do { _ = try DeployConfigParser.parse(text, file: "f.toml"); return "parsed" } catch { return error.description }
    }

    func replacing(_ a: String, _ b: String) -> String { good.replacingOccurrences(of: a, with: b) }

    func testAGoodFileGivesThePlan() throws {
        let c = try DeployConfigParser.parse(good, file: "f.toml")
        XCTAssertEqual(c.id, "checkout-v2")
        XCTAssertEqual(c.plan.steps, [RolloutStep(weight: 10, pause: .seconds(90)), RolloutStep(weight: 50, pause: .untilPromoted), RolloutStep(weight: 100, pause: .seconds(0))])
        XCTAssertEqual(c.judge.onFail, .pause)
        XCTAssertEqual(c.judge.minRequests, 500)
        XCTAssertEqual(c.judge.alpha, 0.01, "1% false reverts per deploy by default")
        XCTAssertEqual(c.planDescription[2], "rollout: 10% 1m30s → 50% until promoted → 100%")
    }

    func testTheShippedExampleParses() throws {
        let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../../examples/simulated/friday.toml")
        let c = try DeployConfigParser.parse(try String(contentsOf: url, encoding: .utf8), file: "friday.toml")
        XCTAssertEqual(c.plan, RolloutPlan.standard)
        XCTAssertEqual(c.stages.count, 4)
    }

    func testEveryErrorClassNamesFileLineAndKey() throws {
        XCTAssertTrue(error(replacing("weight = 50", "weight = 50 x")).hasPrefix("f.toml:11: not valid TOML"), error(replacing("weight = 50", "weight = 50 x")))
        XCTAssertEqual(error(replacing("min_requests", "min_request")), "f.toml:19: analysis.min_request: unknown key (did you mean \"min_requests\"?); [analysis] takes mode, false_revert_rate, alpha, beta, error_ratio, latency_limit, min_requests, on_fail, min_error_rate_increase, cusum_threshold, max_extension, latency_from_mean, expected_requests_per_second, expected_error_rate")
        XCTAssertEqual(error(replacing("weight = 50", "weight = \"fifty\"")), "f.toml:11: rollout.step[2].weight: expected a whole percent 0–100, got string \"fifty\"")
        XCTAssertEqual(error(replacing("1m30s", "90 seconds")), "f.toml:8: rollout.step[1].pause: \"90 seconds\" is not a duration from 0s to 30 days (720h); use 30s, 5m, 1h30m or \"until-promoted\"")
        XCTAssertEqual(error(replacing("weight = 50", "weight = 5")), "f.toml:11: rollout.step[2].weight: 5 is not above the step before (10): weights must rise")
        XCTAssertEqual(error(replacing("weight = 100", "weight = 90")), "f.toml:15: rollout.step[3].weight: the last step must be 100 (the new version takes all traffic)")
        XCTAssertEqual(error(replacing("on_fail = \"pause\"", "on_fail = \"panic\"")), "f.toml:18: analysis.on_fail: \"panic\": expected \"revert\" or \"pause\"")
        XCTAssertEqual(error(good + "\n[router]\nkind = \"haproxy\"\n"), "f.toml:20: router: haproxy needs socket = \"/run/haproxy/admin.sock\" (or sockets = [...] for a fleet)")
        XCTAssertEqual(error(good + "\n[router]\nkind = \"haproxy\"\nsocket = \"/s\"\nbackend = \"app\"\nservers = { v1 = \"old\" }\n"), "f.toml:24: router.servers: no server for version v2; expected \"v2\" = \"SERVER\"")
        // Two versions on one server would be set, read back and judged as one.
        XCTAssertEqual(error(good + "\n[router]\nkind = \"haproxy\"\nsocket = \"/s\"\nbackend = \"app\"\nservers = { v1 = \"web\", v2 = \"web\" }\n"),
                       "f.toml:24: router.servers: v1 and v2 share the server \"web\": each version needs a server of its own")
        XCTAssertEqual(error(good + "\n[metrics]\nkind = \"prometheus\"\nurl = \"http://127.0.0.1:9090\"\n"), "f.toml:20: metrics.queries: expected queries = { requests = \"PromQL\", errors = \"PromQL\", latency = \"PromQL\" } with {version} or {server}")
        XCTAssertEqual(error(good + "\n[metrics]\nkind = \"haproxy-stats\"\n"), "f.toml:21: metrics.kind: \"haproxy-stats\" reads the router's HAProxy: set [router] kind = \"haproxy\", or use kind = \"prometheus\"")
        XCTAssertEqual(error(good + "\n[rollouts]\n"), "f.toml:20: rollouts: unknown section (did you mean \"rollout\"?); sections are analysis, deploy, git, hooks, metrics, notify, pipeline, rollout, router, serve, simulator, store")
        XCTAssertEqual(error(replacing("service = \"checkout\"\n", "")), "f.toml:1: deploy.service: missing (a string)")
        XCTAssertEqual(error(replacing("to = { version = \"v2\", commit = \"b2\" }", "to = { versoin = \"v2\" }")), "f.toml:4: deploy.to.versoin: unknown key (did you mean \"version\"?); expected version and commit")
        XCTAssertEqual(error(good + "\n[serve]\ntcp = \"localhost\"\n"), "f.toml:21: serve.tcp: \"localhost\" is not HOST:PORT (a port 0 to 65535), e.g. \"127.0.0.1:7070\"")
        XCTAssertEqual(error(good + "\n[notify]\nwebhook = \"ftp://x\"\n"), "f.toml:21: notify.webhook: expected an http:// or https:// URL (a Slack incoming webhook, or your own receiver)")
        XCTAssertEqual(error(good + "\n[notify]\nevents = [\"failed\", \"everything\"]\n"), "f.toml:21: notify.events: \"everything\": expected some of failed, reverted, held, finished, step")
        XCTAssertEqual(error(good + "\n[notify]\nretries = 50\n"), "f.toml:21: notify.retries: 50 is out of range: expected a whole number 0 to 10")
        // Stages as commands.
        let good = self.good
        let stage = { (body: String) in self.error(good.replacingOccurrences(of: "[[rollout.step]]", with: "[[pipeline.stage]]\nname = \"build\"\n\(body)\n\n[[rollout.step]]", options: [], range: good.range(of: "[[rollout.step]]"))) }
        XCTAssertTrue(stage("run = \"make\"").contains("pipeline.stage[1].run: expected a list of arguments such as [\"make\", \"image\"]"), stage("run = \"make\""))
        XCTAssertTrue(stage("run = [\"make\"]\nscript = \"make\"").contains("pipeline.stage[1].script: give run or script, not both"))
        XCTAssertTrue(stage("run = [\"make\"]\ntimeout = \"soon\"").contains("pipeline.stage[1].timeout: expected a duration above 0"))
        XCTAssertTrue(stage("run = [\"make\"]\npoll = \"0s\"").contains("pipeline.stage[1].poll: expected a duration of at least 1s"))
        XCTAssertTrue(stage("run = [\"make\"]\nenv = { FRIDAY_DEPLOY = \"x\" }").contains("FRIDAY_* variables are set by friday"))
        XCTAssertTrue(stage("timeout = \"1m\"").contains("timeout applies to a stage that runs something"))
        XCTAssertTrue(stage("run = [\"make\"]\n[[pipeline.stage]]\nname = \"sim\"").contains("every stage runs a command (run or script), or none does (the simulator): 1 of 2 have neither"))
        let staged = try DeployConfigParser.parse(good.replacingOccurrences(of: "[[rollout.step]]", with: "[[pipeline.stage]]\nname = \"build\"\nrun = [\"make\", \"image\"]\ndir = \"app\"\ntimeout = \"10m\"\npoll = \"5s\"\nenv = { A = \"b\" }\n\n[[rollout.step]]", options: [], range: good.range(of: "[[rollout.step]]")), file: "/srv/deploys/f.toml")
        XCTAssertEqual(staged.stageSpecs, [StageSpec(name: "build", run: .argv(["make", "image"]), dir: "/srv/deploys/app", timeout: 600, env: ["A": "b"], poll: 5)])
        XCTAssertTrue(staged.planDescription.contains("pipeline: build (commands)"))
        XCTAssertTrue(error(good + "\n[hooks]\nreverted = \"./page.sh\"\n").contains("hooks.reverted: expected a list of arguments"))
        XCTAssertTrue(error(good + "\n[hooks]\nrevert = [\"x\"]\n").contains("hooks.revert: unknown key (did you mean \"reverted\"?)"), error(good + "\n[hooks]\nrevert = [\"x\"]\n"))
        XCTAssertTrue(error(good + "\n[hooks]\ntimeout = \"2h\"\n").contains("hooks.timeout: expected a duration above 0 and at most 1h"))
        let hooked = try DeployConfigParser.parse(good + "\n[hooks]\ntimeout = \"10s\"\nreverted = [\"./page.sh\", \"--loud\"]\n", file: "/srv/f.toml")
        XCTAssertEqual(hooked.hooks.commands, [.reverted: ["./page.sh", "--loud"]])
        XCTAssertEqual(hooked.hooks.timeout, 10)
        XCTAssertEqual(hooked.hooks.dir, "/srv")
        let withRepo = try DeployConfigParser.parse(good.replacingOccurrences(of: "service = \"checkout\"", with: "service = \"checkout\"\nrepo = \"src\"\nbig_change = 5"), file: "/srv/f.toml")
        XCTAssertEqual(withRepo.repo, "/srv/src")
        XCTAssertEqual(withRepo.bigChange, 5)
        XCTAssertTrue(error(good.replacingOccurrences(of: "service = \"checkout\"", with: "service = \"checkout\"\nbig_change = 0")).contains("deploy.big_change: 0 is out of range"))
        // [git]: a revert in git needs the checkout; push needs revert; web links are plain http(s).
        let reverting = try DeployConfigParser.parse(good.replacingOccurrences(of: "service = \"checkout\"", with: "service = \"checkout\"\nrepo = \"src\"\nweb = \"https://github.com/acme/checkout\"")
                                                     + "\n[git]\nrevert = true\npush = true\nremote = \"upstream\"\nbase = \"origin/main\"\ntimeout = \"1m\"\n", file: "/srv/f.toml")
        XCTAssertEqual(reverting.web, "https://github.com/acme/checkout")
        XCTAssertTrue(reverting.git.revert && reverting.git.push)
        XCTAssertEqual(reverting.git.remote, "upstream")
        XCTAssertEqual(reverting.git.base, "origin/main")
        XCTAssertEqual(reverting.git.timeout, 60)
        XCTAssertTrue(error(good + "\n[git]\nrevert = true\n").contains("git.revert: a revert in git needs the checkout: set repo = \"PATH\" in [deploy]"))
        XCTAssertTrue(error(good + "\n[git]\npush = true\n").contains("git.push: push = true pushes the revert branch: it needs revert = true"))
        XCTAssertTrue(error(good + "\n[git]\nrevert = \"yes\"\n").contains("git.revert: expected true or false"))
        XCTAssertTrue(error(good + "\n[git]\nremote = \"--upload-pack=evil\"\n").contains("git.remote: \"--upload-pack=evil\" is not a remote name"))
        XCTAssertTrue(error(good + "\n[git]\nrevrt = true\n").contains("git.revrt: unknown key (did you mean \"revert\"?)"), error(good + "\n[git]\nrevrt = true\n"))
        XCTAssertTrue(error(good.replacingOccurrences(of: "service = \"checkout\"", with: "service = \"checkout\"\nweb = \"javascript:alert(1)\"")).contains("deploy.web: expected an http(s) address"))
        let served = try DeployConfigParser.parse(good + "\n[serve]\ntcp = \"127.0.0.1:7070\"\ngroup = \"deploy\"\n[notify]\nwebhook = \"http://127.0.0.1:9/h\"\nevents = [\"step\"]\nbell = false\n", file: "f.toml")
        XCTAssertEqual(served.serve.tcpPort, 7070)
        XCTAssertEqual(served.serve.group, "deploy")
        XCTAssertEqual(served.notify.events, [.step])
        XCTAssertFalse(served.notify.bell)
        XCTAssertEqual(error(replacing("[analysis]", "[analysis]\nalpha = 2")), "f.toml:18: analysis.alpha: 2.0 is out of range: expected a probability between 0.0001 and 0.5 (the chance of reverting a healthy deploy)")
    }

    func testTheHAProxyExampleParses() throws {
        let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../../examples/haproxy/friday.toml")
        let c = try DeployConfigParser.parse(try String(contentsOf: url, encoding: .utf8), file: "friday.toml")
        XCTAssertEqual(c.router, .haproxy(sockets: ["examples/haproxy/run/admin.sock"], backend: "app", servers: ["v2.3.0": "old", "v2.4.0": "new"]))
        XCTAssertEqual(c.metrics, .haproxyStats)
        let prom = try String(contentsOf: url, encoding: .utf8).replacingOccurrences(of: "kind = \"haproxy-stats\"", with: """
            kind = "prometheus"
            url = "http://127.0.0.1:9090"
            queries = { requests = "sum(rate(x{server=\\"{server}\\"}[30s]))", errors = "sum(rate(y[30s]))" }
            """)
        let p = try DeployConfigParser.parse(prom, file: "friday.toml")
        XCTAssertEqual(p.metrics, .prometheus(url: "http://127.0.0.1:9090", requests: "sum(rate(x{server=\"{server}\"}[30s]))", errors: "sum(rate(y[30s]))", latency: nil))
        XCTAssertFalse(c.simulation.simulateTeam)
    }

    func testDurations() {
        XCTAssertEqual(DeployConfigParser.parseDuration("90s"), 90)
        XCTAssertEqual(DeployConfigParser.parseDuration("1h30m"), 5400)
        XCTAssertEqual(DeployConfigParser.parseDuration("45"), 45)
        // Each unit once, largest first: "1h1h" was taken as 2 h (issue 25, item 6).
        XCTAssertNil(DeployConfigParser.parseDuration("1h1h"))
        XCTAssertNil(DeployConfigParser.parseDuration("30m1h"))
        XCTAssertNil(DeployConfigParser.parseDuration("5s5s"))
        XCTAssertEqual(DeployConfigParser.parseDuration("1m30s"), 90)
        XCTAssertEqual(DeployConfigParser.parseDuration("2h5s"), 7205)
        XCTAssertNil(DeployConfigParser.parseDuration("5 minutes"))
        XCTAssertNil(DeployConfigParser.parseDuration("m"))
    }
}

final class DeployConfigDoorTests: XCTestCase {
    let head = """
    [deploy]
    service = "checkout"
    from = { version = "v1", commit = "a1" }
    to = { version = "v2", commit = "b2" }

    """
    let steps = """
    [[rollout.step]]
    weight = 10
    pause = "PAUSE"

    [[rollout.step]]
    weight = 100

    """

    func errors(_ text: String) -> [String] {
        do { _ = try DeployConfigParser.parse(text, file: "f.toml"); return [] } catch { return error.all.map(\.single) }
    }

    func testDurationsOutOfRangeAreErrorsNotTraps() {
        for bad in ["inf", "nan", "1e300", "99999999999999999999s", "31d", "721h", "-5s", "1e3s"] {
            let e = errors(head + steps.replacingOccurrences(of: "PAUSE", with: bad))
            XCTAssertEqual(e.count, 1, "\(bad): \(e)")
            XCTAssertTrue(e.first?.hasPrefix("f.toml:7: rollout.step[1].pause: \"\(bad)\" is not a duration from 0s to 30 days") ?? false, "\(bad): \(e)")
        }
        XCTAssertEqual(errors(head + steps.replacingOccurrences(of: "PAUSE", with: "720h")), [])
        XCTAssertEqual(DeployConfigParser.parseDuration("1h30m"), 5400)
    }

    func testCheckListsEveryErrorInFileOrderTheSameEveryTime() {
        let text = """
        [deploy]
        service = ""
        from = { version = "v1", commit = "a1" }
        to = { version = "v1", commit = "b2" }
        by = "ana\\u001b]0;owned\\u0007"

        [[pipeline.stage]]
        name = "build"

        [[pipeline.stage]]
        name = "build"

        [[rollout.step]]
        weight = 10
        pause = "inf"

        [[rollout.step]]
        weight = 100

        [analysis]
        alpha = 2
        """
        let first = errors(text)
        XCTAssertEqual(first.count, 6, first.joined(separator: "\n"))
        XCTAssertEqual(first.map { $0.split(separator: ":").prefix(3).joined(separator: ":") }, [
            "f.toml:2: deploy.service", "f.toml:4: deploy.to", "f.toml:5: deploy.by", "f.toml:11: pipeline.stage[2].name",
            "f.toml:15: rollout.step[1].pause", "f.toml:21: analysis.alpha",
        ])
        XCTAssertFalse(first.joined().unicodeScalars.contains { $0.value == 0x1B || $0.value == 0x07 }, "the message shows control characters visibly")
        XCTAssertTrue(first.count > 2 && first[2].contains("^[]0;owned^G"), first.joined(separator: "\n"))
        for _ in 0..<12 { XCTAssertEqual(errors(text), first) }
    }

    func testARealRouterNeedsRealMetricsOrSaysSimulated() throws {
        let router = "\n[router]\nkind = \"flag-file\"\npath = \"/tmp/flags.json\"\nflag = \"checkout\"\n"
        let base = head + steps.replacingOccurrences(of: "PAUSE", with: "30s")
        XCTAssertTrue(errors(base + router).first?.contains("a real router with no [metrics]: the judge would see simulated traffic") ?? false)
        XCTAssertTrue(errors(base + router + "\n[metrics]\nkind = \"haproxy-stats\"\n").first?.contains("\"haproxy-stats\" reads the router's HAProxy") ?? false)
        XCTAssertTrue(errors(base + router + "\n[metrics]\nkind = \"simulator\"\n").first?.contains("a real router judged on simulated metrics") ?? false)
        let said = base.replacingOccurrences(of: "to = { version = \"v2\", commit = \"b2\" }", with: "to = { version = \"v2\", commit = \"b2\" }\nsimulate = [\"metrics\"]") + router
        let c = try DeployConfigParser.parse(said, file: "f.toml")
        XCTAssertEqual(c.simulatedParts, ["metrics"])
        XCTAssertTrue(c.planDescription.contains("SIMULATED with a real router: metrics"))
    }
}
