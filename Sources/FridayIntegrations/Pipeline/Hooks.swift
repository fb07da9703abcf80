import Foundation
import FridayCore
import Synchronization

/// Runs `[hooks]` commands on deploy events: one at a time in order, each in a process
/// group of its own with a timeout (then SIGTERM, SIGKILL after 2 s), with `FRIDAY_*`
/// variables saying what happened. `consider` only queues (it is an engine sink), so a
/// failing or hanging hook never holds up the deploy, and never a revert; each result is
/// reported (to the team log, as `hook.finished`).
public final class HookRunner: Sendable {
    public let settings: HookSettings
    private let queue: AsyncStream<(HookSettings.Event, [String: String])>.Continuation
    private let worker: Task<Void, Never>?

    public init(settings: HookSettings, deploy: String, service: String, from: VersionRef, to: VersionRef, outputDir: String,
                report: @escaping @Sendable (EventPayload) async -> Void) {
        self.settings = settings
        let (stream, cont) = AsyncStream<(HookSettings.Event, [String: String])>.makeStream(bufferingPolicy: .bufferingOldest(100))
        queue = cont
        guard !settings.commands.isEmpty else { worker = nil; return }
        let s = settings
        let env = fridayEnvironment(ProcessInfo.processInfo.environment, deploy: deploy, service: service, from: from, to: to)
        worker = Task {
            for await (event, vars) in stream {
                guard let argv = s.commands[event] else { continue }
                let started = ContinuousClock.now
                let outcome = await HookRunner.run(argv, dir: s.dir, env: env.merging(vars) { $1 }, timeout: s.timeout,
                                                   output: outputDir + "/\(deploy).hook-\(event.rawValue).log")
                let took = ContinuousClock.now - started
                let secs = Double(took.components.seconds) + Double(took.components.attoseconds) * 1e-18
                await report(.hookFinished(hook: event.rawValue, status: outcome.status, seconds: (secs * 1000).rounded() / 1000, output: outcome.last))
            }
        }
    }

    /// Queues the hook for `e`, if one is configured for what it says.
    public func consider(_ e: DeployEvent) {
        guard worker != nil, let (event, vars) = HookRunner.hook(for: e), settings.commands[event] != nil else { return }
        queue.yield((event, vars))
    }

    /// Waits (at most `seconds`) for queued hooks, then stops.
    public func drain(seconds: Double) async {
        queue.finish()
        await FridayIntegrations.drain(worker, within: seconds)
    }

    /// Which hook an event calls for, with its variables.
    public static func hook(for e: DeployEvent) -> (HookSettings.Event, [String: String])? {
        switch e.payload {
        case let .deployStarted(_, _, _, _, _, by): return (.started, ["FRIDAY_EVENT": "started", "FRIDAY_BY": by])
        case let .stepStarted(index, weight, pause):
            if case .untilPromoted = pause { return (.held, ["FRIDAY_EVENT": "held", "FRIDAY_STEP": String(index + 1), "FRIDAY_WEIGHT": String(weight)]) }
            return (.step, ["FRIDAY_EVENT": "step", "FRIDAY_STEP": String(index + 1), "FRIDAY_WEIGHT": String(weight)])
        case let .deployPaused(by, reason): return (.held, ["FRIDAY_EVENT": "held", "FRIDAY_BY": by, "FRIDAY_REASON": reason])
        case let .analysisVerdict(step, verdict, summary, _) where verdict == .fail:
            return (.failed, ["FRIDAY_EVENT": "failed", "FRIDAY_STEP": String(step + 1), "FRIDAY_REASON": summary])
        case let .candidateVerdict(version, step, verdict, summary, _) where verdict == .fail:
            return (.failed, ["FRIDAY_EVENT": "failed", "FRIDAY_STEP": String(step + 1), "FRIDAY_REASON": summary, "FRIDAY_CANDIDATE": version])
        case let .candidateReverted(version, by, reason):
            var v = ["FRIDAY_EVENT": "candidate_reverted", "FRIDAY_BY": by, "FRIDAY_CANDIDATE": version]
            if let reason { v["FRIDAY_REASON"] = reason }
            return (.candidateReverted, v)
        case let .deployFinished(outcome, by, reason):
            var v = ["FRIDAY_EVENT": outcome == .promoted ? "promoted" : outcome == .reverted ? "reverted" : "finished", "FRIDAY_BY": by, "FRIDAY_OUTCOME": outcome.rawValue]
            if let reason { v["FRIDAY_REASON"] = reason }
            switch outcome {
            case .promoted: return (.promoted, v)
            case .reverted: return (.reverted, v)
            case .failed: return (.finished, v)
            }
        default: return nil
        }
    }

    struct Outcome { var status: String; var last: String }

    /// Runs one hook to its end or its timeout, off the cooperative pool.
    static func run(_ argv: [String], dir: String, env: [String: String], timeout: Double, output: String) async -> Outcome {
        let p: StageProcess
        do { p = try StageProcess.start(argv, dir: dir, env: env, output: output, append: false) } catch {
            return Outcome(status: "could not start \(argv[0]): \(error)", last: "")
        }
        let deadline = ContinuousClock.now + .milliseconds(Int(timeout * 1000))
        var lines: [String] = []
        func collect() { let (l, _) = p.take(max: 1000); lines = Array((lines + l).suffix(3)) }
        while ContinuousClock.now < deadline {
            collect()
            if let st = p.exitStatus() {
                let drainBy = ContinuousClock.now + .seconds(1)
                while !p.outputDone, ContinuousClock.now < drainBy { try? await Task.sleep(for: .milliseconds(10)) }
                collect()
                return Outcome(status: st == 0 ? "ok" : StageProcess.describe(st), last: lines.last ?? "")
            }
            try? await Task.sleep(for: .milliseconds(50))
        }
        p.terminate()
        let killAt = ContinuousClock.now + .seconds(2)
        while ContinuousClock.now < killAt, !p.leaderExited() { try? await Task.sleep(for: .milliseconds(50)) }
        // What is left of the group gets SIGKILL, then the leader is reaped (no zombie left behind).
        p.kill()
        for _ in 0..<100 where p.exitStatus(rest: SIGKILL) == nil { try? await Task.sleep(for: .milliseconds(20)) }
        collect()
        return Outcome(status: "timed out, stopped", last: lines.last ?? "")
    }
}
