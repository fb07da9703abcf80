import FridayCore
import FridayIntegrations
import XCTest

/// Deploy files with a baseline and several candidates, and benchmark mode.
final class MultiwayConfigTests: XCTestCase {
    let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../..").standardized.path

    func file(to: String = #"[{ version = "v2-a", commit = "a" }, { version = "v2-b", commit = "b" }]"#, steps: String, analysis: String = "") -> String {
        """
        [deploy]
        service = "checkout"
        from = { version = "v1", commit = "o" }
        to = \(to)

        \(steps)
        \(analysis)
        """
    }

    func error(_ text: String) -> String {
        do { _ = try DeployConfigParser.parse(text, file: "f.toml"); return "parsed" } catch { return error.single }
    }

    let twoSteps = """
    [[rollout.step]]
    weights = { "v1" = 34, "v2-a" = 33, "v2-b" = 33 }
    pause = "5m"

    [[rollout.step]]
    weights = { "v2-a" = 50, "v2-b" = 50 }
    """

    func testAPlanWhereTheJudgeCannotSeeACandidateIsRefused() {
        // The baseline at 0 before the last step: no errors to compare a candidate with.
        XCTAssertEqual(error(file(steps: """
        [[rollout.step]]
        weights = { "v1" = 80, "v2-a" = 10, "v2-b" = 10 }
        pause = "1m"

        [[rollout.step]]
        weights = { "v2-a" = 40, "v2-b" = 60 }
        pause = "5m"

        [[rollout.step]]
        weights = { "v2-a" = 50, "v2-b" = 50 }
        """)), "f.toml:11: rollout.step[2].weights: v1 gets 0% before the last step: the judge compares every candidate with the baseline, so it keeps a share until the last step")
        // A candidate at 0 in a step: never judged there, and it would take a share it was never judged at.
        XCTAssertEqual(error(file(steps: """
        [[rollout.step]]
        weights = { "v1" = 90, "v2-a" = 10 }
        pause = "1m"

        [[rollout.step]]
        weights = { "v1" = 50, "v2-a" = 25, "v2-b" = 25 }
        pause = "5m"

        [[rollout.step]]
        weights = { "v2-a" = 100 }
        """)), "f.toml:7: rollout.step[1].weights: v2-b gets 0%: every candidate takes traffic in every step, so the judge sees each one before it takes more (to end with fewer, take one out with friday revert --candidate)")
    }

    func testThreeVersionsParseIntoOnePlan() throws {
        let c = try DeployConfigParser.parse(file(steps: twoSteps), file: "f.toml")
        XCTAssertEqual(c.to.name, "v2-a")
        XCTAssertEqual(c.plan.moreCandidates?.map(\.name), ["v2-b"])
        XCTAssertEqual(c.plan.steps.map(\.weight), [66, 100])
        XCTAssertEqual(c.plan.steps[1].weights?.map(\.percent), [0, 50, 50], "a version left out of a step has 0")
        XCTAssertEqual(c.plan.comparisons, 2)
        XCTAssertTrue(c.planDescription.contains { $0.contains("v1 (o) → v2-a (a), v2-b (b)") }, c.planDescription.joined(separator: "\n"))
        XCTAssertTrue(c.planDescription.contains { $0.contains("(0.50% a step and candidate)") }, "the budget is shared: one judged step, two candidates")
        XCTAssertTrue(c.planDescription.contains("rollout: 34/33/33 5m00s → 0/50/50 (v1/v2-a/v2-b)"), c.planDescription.joined(separator: "\n"))
    }

    func testMistakesNameTheLineAndWhatToDo() {
        XCTAssertEqual(error(file(steps: """
        [[rollout.step]]
        weights = { "v1" = 34, "v2-a" = 33, "v2-c" = 33 }
        pause = "5m"
        """)), #"f.toml:7: rollout.step[1].weights: "v2-c" is not a version of this deploy (did you mean "v2-a"?); versions are v1, v2-a, v2-b"#)
        XCTAssertEqual(error(file(steps: """
        [[rollout.step]]
        weights = { "v1" = 50, "v2-a" = 33, "v2-b" = 33 }
        pause = "5m"
        """)), "f.toml:7: rollout.step[1].weights: the weights add up to 116: they must add up to 100")
        XCTAssertEqual(error(file(steps: """
        [[rollout.step]]
        weight = 10
        pause = "5m"
        """)), "f.toml:7: rollout.step[1].weight: give weights = { version = percent, … } for every version, not one weight, when a deploy has several candidates")
        XCTAssertEqual(error(file(steps: """
        [[rollout.step]]
        weights = { "v1" = 34, "v2-a" = 33, "v2-b" = 33 }
        """)), "f.toml:7: rollout.step[1].weights: the last step must give v1 0 (the candidates take all traffic)")
        XCTAssertEqual(error(file(steps: """
        [[rollout.step]]
        weights = { "v1" = 34, "v2-a" = 33, "v2-b" = 33 }
        pause = "5m"

        [[rollout.step]]
        weights = { "v1" = 80, "v2-a" = 10, "v2-b" = 10 }
        pause = "5m"

        [[rollout.step]]
        weights = { "v2-a" = 100 }
        """)), "f.toml:11: rollout.step[2].weights: v1 goes from 34% back up to 80%: the baseline's share must not rise")
        XCTAssertEqual(error(file(to: #"[{ version = "v2-a" }, { version = "v1" }]"#, steps: twoSteps)),
                       #"f.toml:4: deploy.to: "v1" is named twice among from and to: every version must differ"#)
        let five = "[" + (1...5).map { #"{ version = "c\#($0)" }"# }.joined(separator: ", ") + "]"
        XCTAssertEqual(error(file(to: five, steps: twoSteps)), #"f.toml:4: deploy.to: 5 candidates: a deploy has 1 to 4, to = [{ version = "…", commit = "…" }, …]"#)
        XCTAssertEqual(error(file(steps: twoSteps, analysis: "[analysis]\nmode = \"benchmark\"")),
                       #"f.toml:8: rollout.step[1].pause: in benchmark mode every step waits for a promote: leave pause out or say "until-promoted""#)
        XCTAssertEqual(error(file(steps: twoSteps, analysis: "[analysis]\nmode = \"bench\"")),
                       #"f.toml:13: analysis.mode: expected "canary" (the default: the judge moves the rollout) or "benchmark" (it reports which candidate is faster; a person promotes)"#)
        XCTAssertEqual(error(file(steps: twoSteps + """

        [router]
        kind = "haproxy"
        socket = "/run/haproxy.sock"
        backend = "app"
        servers = { "v1" = "old", "v2-a" = "new" }
        """)), #"f.toml:16: router.servers: no server for version v2-b; expected "v2-b" = "SERVER""#)
    }

    func testTheShippedThreeVersionAndBenchmarkExamplesParse() throws {
        for name in ["friday-three.toml", "friday-benchmark.toml"] {
            let path = root + "/examples/haproxy/" + name
            let c = try DeployConfigParser.parse(String(contentsOfFile: path, encoding: .utf8), file: path)
            XCTAssertEqual(c.plan.moreCandidates?.map(\.name), ["v2.4.0-b"], name)
            XCTAssertEqual(c.plan.isBenchmark, name.contains("benchmark"), name)
            guard case let .haproxy(_, _, servers) = c.router else { return XCTFail(name) }
            XCTAssertEqual(servers, ["v2.3.0": "old", "v2.4.0": "new", "v2.4.0-b": "new-b"])
        }
        let bench = try DeployConfigParser.parse(String(contentsOfFile: root + "/examples/haproxy/friday-benchmark.toml", encoding: .utf8), file: "b.toml")
        XCTAssertEqual(bench.plan.steps.map(\.pause), [.untilPromoted, .untilPromoted])
    }
}
