import FridayCore
import FridayTesting
import XCTest

final class RolloutRulesTests: XCTestCase {
    func testReducerFollowsADeployThroughPipelineStepsPauseAndResume() {
        var f = EventFixture.rolling(step: nil)
        XCTAssertEqual(f.state.phase, .pipeline)
        XCTAssertEqual(f.state.stages.map(\.status), [.succeeded, .pending])
        f.add(.stageStarted(stage: "release"))
        f.add(.stageOutput(stage: "release", line: "pushing"))
        XCTAssertEqual(f.state.runningStage?.output, ["pushing"])
        f.add(.stageFinished(stage: "release", status: .succeeded, seconds: 2))
        XCTAssertTrue(f.state.pipelineSucceeded)
        f.add(.trafficObserved(weights: [VersionWeight(version: "v1", percent: 99), VersionWeight(version: "v2", percent: 1)]))
        f.add(.stepStarted(index: 0, weight: 1, pause: .seconds(30)), after: 0)
        let started = f.t
        var s = f.state
        XCTAssertEqual(s.phase, .rolling)
        XCTAssertEqual(s.canaryPercent, 1)
        XCTAssertEqual(s.pauseRemaining(at: started + 10), 20)
        f.add(.deployPaused(by: "maya", reason: "lunch"), after: 10)
        s = f.state
        XCTAssertEqual(s.paused?.remaining, 20)
        XCTAssertEqual(s.pauseRemaining(at: started + 500), 20, "timers stop while paused")
        f.add(.deployResumed(by: "maya"), after: 100)
        s = f.state
        XCTAssertNil(s.paused)
        XCTAssertEqual(s.pauseDeadline, started + 130, "the pause goes on with what was left")
        f.add(.deployFinished(outcome: .reverted, by: "maya", reason: "5xx"))
        XCTAssertEqual(f.state.outcome, .reverted)
        XCTAssertEqual(f.state.log.last?.text, "v2 taken out of rotation: deploy reverted by maya (5xx)")
    }

    func testCommandsAreRefusedWithAReasonThatDependsOnTheState() {
        let pipeline = EventFixture.rolling(step: nil).state
        XCTAssertEqual(RolloutLogic.refusal(.promote, in: DeployState()), "no deploy is running")
        XCTAssertEqual(RolloutLogic.refusal(.promote, in: pipeline), "the pipeline is still running: nothing to promote yet")
        XCTAssertEqual(RolloutLogic.refusal(.revert, in: pipeline), "nothing to revert: v2 takes no traffic yet")
        XCTAssertEqual(RolloutLogic.refusal(.pause, in: pipeline), "pause holds a rollout; the pipeline is still running")

        var f = EventFixture.rolling(step: 1)
        XCTAssertNil(RolloutLogic.refusal(.promote, in: f.state))
        XCTAssertNil(RolloutLogic.refusal(.pause, in: f.state))
        XCTAssertNil(RolloutLogic.refusal(.revert, in: f.state))
        XCTAssertEqual(RolloutLogic.refusal(.resume, in: f.state), "not paused")
        XCTAssertEqual(RolloutLogic.refusal(.retry, in: f.state), "retry applies to a reverted or failed rollout; this one is still running")
        XCTAssertEqual(RolloutLogic.refusal(.say, in: f.state, text: "  "), "the message is empty")

        f.add(.deployPaused(by: "lee", reason: "x"))
        XCTAssertEqual(RolloutLogic.refusal(.pause, in: f.state), "already paused by lee")
        XCTAssertNil(RolloutLogic.refusal(.resume, in: f.state))

        f.add(.deployFinished(outcome: .reverted, by: "lee", reason: nil))
        XCTAssertEqual(RolloutLogic.refusal(.promote, in: f.state), "the deploy was reverted: press R to retry it first")
        XCTAssertEqual(RolloutLogic.refusal(.revert, in: f.state), "already reverted")
        XCTAssertEqual(RolloutLogic.refusal(.resume, in: f.state), "the deploy is over (reverted)")
        XCTAssertNil(RolloutLogic.refusal(.retry, in: f.state))

        let last = EventFixture.rolling(step: 4).state
        XCTAssertEqual(RolloutLogic.refusal(.promote, in: last), "already at the last step (100%)")
        var done = EventFixture.rolling(step: 4)
        done.add(.deployFinished(outcome: .promoted, by: "rollout", reason: nil))
        XCTAssertEqual(RolloutLogic.refusal(.revert, in: done.state), "already promoted: revert with git revert and a new deploy")
        XCTAssertEqual(RolloutLogic.refusal(.retry, in: done.state), "nothing to retry: the deploy was promoted")
    }

    func testAcceptedCommandsSayWhatToDo() {
        var f = EventFixture.rolling(step: 1)
        XCTAssertEqual(RolloutLogic.decide(Command(.promote, by: "maya"), in: f.state),
                       .accepted([.emit(.commandAccepted(action: .promote, by: "maya", reason: nil)), .startStep(2)]))
        XCTAssertEqual(RolloutLogic.decide(Command(.promoteFull, by: "maya"), in: f.state),
                       .accepted([.emit(.commandAccepted(action: .promoteFull, by: "maya", reason: nil)), .startStep(4)]))
        XCTAssertEqual(RolloutLogic.decide(Command(.revert, by: "lee", text: "5xx"), in: f.state),
                       .accepted([.emit(.commandAccepted(action: .revert, by: "lee", reason: "5xx")), .revert(by: "lee", reason: "5xx")]))
        f.add(.deployPaused(by: "judge", reason: "errors"))
        XCTAssertEqual(RolloutLogic.decide(Command(.promote, by: "maya"), in: f.state),
                       .accepted([.emit(.commandAccepted(action: .promote, by: "maya", reason: nil)), .emit(.deployResumed(by: "maya")), .startStep(2)]),
                       "promote overrides a hold")
        XCTAssertEqual(RolloutLogic.decide(Command(.say, by: "lee", text: "hi"), in: f.state), .accepted([.emit(.chatMessage(from: "lee", text: "hi"))]))
        XCTAssertEqual(RolloutLogic.consequence(.promoteFull, in: EventFixture.rolling(step: 2).state),
                       "v2 25% → 100% now, skipping steps 50%, 2 pauses and the analysis")
    }

    func testDueTransitionsFollowTheClock() {
        let pipeline = EventFixture.rolling(step: nil)
        XCTAssertEqual(RolloutLogic.due(in: pipeline.state, now: pipeline.t + 100), [], "a stage is still pending")
        var done = pipeline
        done.add(.stageStarted(stage: "release"))
        done.add(.stageFinished(stage: "release", status: .succeeded, seconds: 1))
        XCTAssertEqual(RolloutLogic.due(in: done.state, now: done.t), [.startStep(0)])
        var failed = pipeline
        failed.add(.stageStarted(stage: "release"))
        failed.add(.stageFinished(stage: "release", status: .failed, seconds: 1))
        XCTAssertEqual(RolloutLogic.due(in: failed.state, now: failed.t), [.fail(reason: "stage release failed")])

        let step0 = EventFixture.rolling(step: 0)
        XCTAssertEqual(RolloutLogic.due(in: step0.state, now: step0.t + 29), [])
        XCTAssertEqual(RolloutLogic.due(in: step0.state, now: step0.t + 30), [.startStep(1)])
        let held = EventFixture.rolling(step: 2)
        XCTAssertEqual(RolloutLogic.due(in: held.state, now: held.t + 100_000), [], "until promoted never times out")
    }

    func testStepTotalsRestartWithEveryStep() {
        var f = EventFixture.rolling(step: 1)
        f.add(.metricsSample(MetricsSample(version: "v2", requests: 50, errors: 3, p50: 38, p99: 140, window: 1)))
        XCTAssertEqual(f.state.stepTotals["v2"], StepTotals(requests: 50, errors: 3, p99Weighted: 7000))
        f.add(.stepStarted(index: 2, weight: 25, pause: .untilPromoted))
        XCTAssertEqual(f.state.stepTotals, [:], "the judge's counts restart when the weights change")
        XCTAssertEqual(f.state.metrics["v2"]?.totalRequests, 50, "the graphs keep their history")
    }
}
