/// The one way the state changes: `reduce(state, event)`. Pure and deterministic.
/// `v2.3.0 90%, v2.4.0 10%`, for messages.
public func weightsText(_ w: [VersionWeight]) -> String { w.map { "\($0.version) \($0.percent)%" }.joined(separator: ", ") }

public enum Reducer {
    public static func reduce(_ state: inout DeployState, _ event: DeployEvent) {
        state.lastSeq = event.seq
        state.lastEventAt = event.ts
        let ts = event.ts
        func log(_ kind: LogEntry.Kind, _ who: String, _ text: String) {
            let before = state.log.count
            state.log.appendBounded(LogEntry(at: ts, kind: kind, who: who, text: text), limit: DeployState.logEntriesKept)
            if state.log.count <= before { state.logDropped = (state.logDropped ?? 0) + before + 1 - state.log.count }
        }
        switch event.payload {
        case let .deployStarted(service, from, to, plan, stages, by):
            let (watchers, keptLog) = (state.watchers, state.log)
            state = DeployState()
            state.watchers = watchers
            state.log = keptLog
            state.lastSeq = event.seq
            state.lastEventAt = ts
            state.deployID = event.deploy
            state.service = service
            state.from = from
            state.to = to
            state.plan = plan
            state.startedAt = ts
            state.startedBy = by
            state.stages = stages.map { DeployState.Stage(name: $0) }
            state.phase = .pipeline
            state.wanted = [VersionWeight(version: from.name, percent: 100)] + state.candidates.map { VersionWeight(version: $0.name, percent: 0) }
            state.observed = state.wanted
            let names = state.candidates.map(\.name).joined(separator: ", ")
            log(.system, by, "\(by) started \(plan.isBenchmark ? "benchmarking" : "deploying") \(service) \(from.name) → \(names)")

        case let .stageStarted(stage):
            let i = stageIndex(&state, stage)
            state.stages[i].status = .running
            state.stages[i].startedAt = ts
            state.stages[i].output = []

        case let .stageOutput(stage, line):
            let i = stageIndex(&state, stage)
            state.stages[i].output.appendBounded(line, limit: DeployState.outputLinesKept)

        case let .stageFinished(stage, status, seconds):
            let i = stageIndex(&state, stage)
            state.stages[i].status = status
            state.stages[i].seconds = seconds
            state.cancelRequestedBy = nil
            if status != .succeeded {
                // The team log says how it ended, with the stage's last lines.
                let last = state.stages[i].output.suffix(3).map { String($0.prefix(200)) }
                log(.alert, "pipeline", "stage \(stage) \(status.rawValue) after \(formatDuration(seconds))" + (last.isEmpty ? "" : ": " + last.joined(separator: " / ")))
            }

        case let .stepStarted(index, weight, pause):
            if state.isFinished { state.finishedAt = nil }
            if case .step = state.pending { state.pending = nil }
            state.drift = nil
            state.phase = .rolling
            state.stepIndex = index
            state.stepStartedAt = ts
            state.paused = nil
            state.judgement = nil
            state.stepTotals = [:]
            state.stepBlocks = []
            if state.isMultiway || state.plan.isBenchmark { state.candidateBlocks = [:]; state.candidateJudgements = [:]; state.latencyStats = [:] }
            switch pause {
            case let .seconds(s): state.pauseDeadline = ts + s
            case .untilPromoted: state.pauseDeadline = nil
            }
            let total = state.plan.steps.count
            // No pause is not "pause 0s" (the last step's usual case).
            let paused = pause == .seconds(0) ? "" : ", pause \(pause.label)"
            if state.isMultiway {
                log(.system, "rollout", "step \(index + 1)/\(total): \(weightsText(state.wanted))\(paused)")
            } else {
                log(.system, "rollout", "step \(index + 1)/\(total): \(state.to.name) at \(weight)%\(paused)")
            }

        case let .trafficSet(weights, cause):
            state.wanted = weights
            // A candidate taken out while a step was pending (a promote accepted, a pause run
            // out): the step is carried out once the candidate is out, not dropped.
            if case .revertCandidate? = cause, case let .step(i)? = state.pending { state.stepAfterCandidate = i }
            if case .revert? = cause { state.stepAfterCandidate = nil }
            // A revert already decided is never replaced by anything but a retry's command.
            if let cause, cause != .restore, !state.isReverting { state.pending = cause }
            if case .revert = cause { state.pending = cause }
            if case let .revertCandidate(v, by, reason)? = cause, !(state.candidatesOut ?? []).contains(v) {
                state.candidatesOut = (state.candidatesOut ?? []) + [v]
                log(by == "judge" ? .alert : .command, by, "\(by) is taking \(v) out of rotation" + (reason.map { ": \($0)" } ?? "") + " → \(weightsText(weights))")
            }

        case let .trafficObserved(weights):
            state.observed = weights
            state.observedAt = ts
            state.routerProblem = nil
            if Set(weights) == Set(state.wanted) { state.drift = nil }

        case let .trafficDrifted(wanted, observed):
            state.observed = observed
            state.observedAt = ts
            state.drift = DeployState.Drift(wanted: wanted, observed: observed, at: ts)
            log(.alert, "engine", "weights changed outside friday: the router reports \(weightsText(observed)); friday set \(weightsText(wanted))")

        case .trafficConfirmed:
            state.observedAt = ts

        case let .metricsSample(sample):
            state.latencyIsMean = sample.latencyIsMean
            state.metrics[sample.version, default: MetricWindow()].add(sample, at: ts)
            if state.stepIndex != nil {
                state.stepTotals[sample.version, default: StepTotals()].add(sample)
                if state.isMultiway || state.plan.isBenchmark { foldMultiway(&state, sample, at: ts) }
                let isCanary = sample.version == state.to.name
                guard isCanary || sample.version == state.from.name else { break }
                addTick(&state.stepBlocks, sample, canary: isCanary, at: ts)
            }

        case let .analysisVerdict(step, verdict, summary, figures):
            state.judgement = DeployState.Judgement(step: step, verdict: verdict, summary: summary, figures: figures, at: ts)
            // A failed verdict is followed by the hold (or revert) that says the same: log that
            // one, unless the deploy is already paused (then nothing else will say it).
            if state.plan.isBenchmark, verdict != .fail {
                // The benchmark's report: news when its conclusion changes, not a step passing.
                log(.system, "judge", summary)
                break
            }
            if verdict == .inconclusive { log(.alert, "judge", "inconclusive: \(summary)") }
            if verdict == .fail, state.paused != nil { log(.alert, "judge", "FAIL while paused: \(summary)") }
            if verdict == .pass { log(.system, "judge", "step \(step + 1) passed: \(summary)") }

        case let .candidateVerdict(version, step, verdict, summary, figures):
            let j = DeployState.Judgement(step: step, verdict: verdict, summary: summary, figures: figures, at: ts)
            state.candidateJudgements = (state.candidateJudgements ?? [:]).merging([version: j]) { _, b in b }
            state.judgement = j
            if verdict == .inconclusive { log(.alert, "judge", "\(version) inconclusive: \(summary)") }
            if verdict == .fail, state.paused != nil { log(.alert, "judge", "\(version) FAIL while paused: \(summary)") }
            if verdict == .pass { log(.system, "judge", "\(version) passed step \(step + 1): \(summary)") }

        case let .candidateReverted(version, by, _):
            var resumed: Int?
            if case .revertCandidate(version, _, _)? = state.pending {
                resumed = state.stepAfterCandidate
                state.pending = resumed.map { .step(index: $0) }
                state.stepAfterCandidate = nil
            }
            if !(state.candidatesOut ?? []).contains(version) { state.candidatesOut = (state.candidatesOut ?? []) + [version] }
            let others = state.liveCandidates.map(\.name).joined(separator: ", ")
            log(.alert, by, "\(version) is out of rotation (the router confirms)" + (others.isEmpty ? "" : "; \(others) go\(state.liveCandidates.count == 1 ? "es" : "") on")
                + (resumed.map { state.paused == nil || state.paused?.by == "engine" ? "; step \($0 + 1) follows" : "; step \($0 + 1) follows when resumed" } ?? ""))

        case let .commandAccepted(action, by, reason):
            // An accepted command is a promise: the move it asks for is pending until done.
            switch action {
            case .promote:
                if !state.isReverting, let i = state.stepIndex, i + 1 < state.plan.steps.count { state.pending = .step(index: i + 1) }
            case .promoteFull:
                if !state.isReverting, !state.plan.steps.isEmpty { state.pending = .step(index: state.plan.steps.count - 1) }
            case .retry:
                if !state.plan.steps.isEmpty { state.pending = .step(index: 0) }
                // An explicit retry is the one thing that brings reverted candidates back.
                if state.candidatesOut != nil { state.candidatesOut = nil }
                state.stepAfterCandidate = nil
            case .revert:
                state.pending = .revert(by: by, reason: reason)
            case .cancel:
                state.cancelRequestedBy = by
            default: break
            }
            var text = "\(by) \(action.pastTense)"
            // Said before the step is reduced further: whether the judge had passed it.
            let judgeSaid: String? = {
                guard [.promote, .promoteFull].contains(action), case .rolling = state.phase, !state.judgePassedStep else { return nil }
                return state.judgement.map { $0.step == state.stepIndex && $0.verdict == .fail } == true ? "over the judge's fail verdict" : "before the judge's verdict"
            }()
            if action == .promote, let i = state.stepIndex, i + 1 < state.plan.steps.count {
                if state.isMultiway {
                    // Several candidates: the split read back now, and the next step's as it will be set.
                    text += " (\(weightsText(state.observed.filter { $0.percent > 0 })) → \(weightsText(RolloutLogic.weights(in: state, step: i + 1).filter { $0.percent > 0 })))"
                } else {
                    text += " (\(state.plan.steps[i].weight)% → \(state.plan.steps[i + 1].weight)%)"
                }
            }
            if let judgeSaid { text += " \(judgeSaid)" }
            if let r = reason, !r.isEmpty { text += ": \(r)" }
            log(.command, by, text)

        case let .commandRejected(action, by, why):
            log(.refusal, by, "\(action.rawValue) by \(by) refused: \(why)")

        case let .deployPaused(by, reason):
            let remaining = state.pauseDeadline.map { max(0, $0 - ts) }
            state.paused = DeployState.Pause(by: by, reason: reason, at: ts, remaining: remaining)
            state.pauseDeadline = nil
            if by == "judge" || by == "engine" { log(.alert, by, "rollout held by the \(by): \(reason)") }

        case let .deployResumed(by):
            if let p = state.paused {
                state.pauseDeadline = p.remaining.map { ts + $0 }
                state.paused = nil
                // A person's resume is in the log as their command; the engine's says why here.
                if by == "engine", p.by == "engine" { log(.system, "engine", "the router confirmed the move it was holding for: the hold ends") }
            }

        case let .deployFinished(outcome, by, reason):
            state.phase = .finished(outcome)
            state.gitRevert = nil
            state.pending = nil
            state.stepAfterCandidate = nil
            state.drift = nil
            state.finishedAt = ts
            state.paused = nil
            state.pauseDeadline = nil
            var text = "deploy \(outcome.rawValue)"
            if outcome == .promoted { text = "\(state.to.name) is at 100%: deploy promoted" }
            if outcome == .reverted {
                let names = state.isMultiway ? state.liveCandidates.map(\.name).joined(separator: ", ") : state.to.name
                text = "\(names.isEmpty ? state.to.name : names) taken out of rotation: deploy reverted by \(by)"
            }
            if outcome == .promoted, state.isMultiway { text = "\(weightsText(state.wanted.filter { $0.percent > 0 })): deploy promoted" }
            if let r = reason, !r.isEmpty { text += " (\(r))" }
            log(outcome == .promoted ? .system : .alert, by, text)

        case let .chatMessage(from, text):
            log(.chat, from, text)

        case let .presenceJoined(who, role):
            if let i = state.watchers.firstIndex(where: { $0.who == who }) { state.watchers[i].role = role } else {
                state.watchers.append(Watcher(who: who, role: role))
            }
            log(.system, who, "\(who) joined (\(role))")

        case let .presenceLeft(who):
            state.watchers.removeAll { $0.who == who }
            log(.system, who, "\(who) left")

        case let .routerUnreachable(provider, error):
            state.routerProblem = "\(provider): \(error)"
            log(.alert, provider, "router unreachable: \(error)")

        case let .engineRestarted(down):
            var text = "friday restarted after " + (down < 1 ? "under a second" : formatDuration(down)) + " down"
            if let d = state.pauseDeadline {
                state.pauseDeadline = d + down
                text += "; the pause goes on with \(formatDuration(max(0, d - (ts + -down)))) left"
            }
            log(.system, "engine", text)

        case let .metricsUnavailable(provider, error):
            state.metricsProblem = error
            log(.alert, provider, "metrics unavailable: \(error)")

        case let .metricsRecovered(provider):
            state.metricsProblem = nil
            log(.system, provider, "metrics from \(provider) are back")

        case let .logRecovered(n, file):
            log(.alert, "engine", "the event log had \(n) damaged line\(n == 1 ? "" : "s") at its end: set aside in \(file)")

        case let .notifyFailed(error):
            log(.alert, "notify", error)

        case let .hookFinished(hook, status, seconds, output):
            log(status == "ok" ? .system : .alert, "hook", "hook \(hook): \(status) after \(formatDuration(seconds))" + (output.isEmpty ? "" : ": \(output.prefix(200))"))

        case let .changeListed(range, total, commits, big, error):
            state.change = DeployState.Change(range: range, total: total, big: big)
            if let error {
                log(.alert, "git", "cannot list the change \(range): \(error)")
                break
            }
            log(.system, "git", "ships \(range): \(total) commit\(total == 1 ? "" : "s")")
            for c in commits { log(.system, "git", "\(c.hash) \(c.subject) (\(c.author))" + (c.url.map { " \($0)" } ?? "")) }
            if total > commits.count { log(.system, "git", "and \(total - commits.count) more") }
            if big { log(.alert, "git", "a big change: \(total) commits in one deploy; small deploys are easier to judge and to revert") }

        case let .ingestRefused(count, examples):
            state.ingestRefused = (state.ingestRefused ?? 0) + count
            log(.alert, "ci", "\(count) line\(count == 1 ? "" : "s") of the CI's report refused" + (examples.isEmpty ? "" : ": " + examples.prefix(3).joined(separator: "; ")))

        case let .gitReverted(range, branch, commits, conflicts, pushed, error):
            state.gitRevert = DeployState.GitRevert(branch: branch, commits: commits.count, ok: error == nil && conflicts.isEmpty)
            if !conflicts.isEmpty {
                let files = conflicts.prefix(10).joined(separator: ", ") + (conflicts.count > 10 ? " and \(conflicts.count - 10) more" : "")
                log(.alert, "git", "git revert of \(range) stopped on a conflict in \(files): nothing was committed and the checkout is untouched; revert by hand" + (error.map { " (\($0))" } ?? ""))
            } else if let error, branch == nil || commits.isEmpty {
                log(.alert, "git", "git revert of \(range) failed: \(error)")
            } else if let branch {
                let n = commits.count
                let where_ = pushed.map { "pushed to \($0)" } ?? "not pushed"
                log(.system, "git", "reverted \(range) in git: \(n) commit\(n == 1 ? "" : "s") on branch \(branch) (\(where_))")
                for c in commits.prefix(20) { log(.system, "git", "\(c.hash) \(c.subject)" + (c.url.map { " \($0)" } ?? "")) }
                if let error { log(.alert, "git", error) }
            }

        case let .routerRecovered(provider):
            state.routerProblem = nil
            log(.system, provider, "router \(provider) is back")
        }
    }

    /// Why an event cannot follow `state` (a step past the plan, a weight the step does not
    /// have): checked when a log is read back, so a crafted line is refused with its line
    /// number instead of crashing a later fold. Nil when it may follow.
    public static func problem(with event: DeployEvent, after state: DeployState) -> String? {
        switch event.payload {
        case let .stepStarted(index, weight, _):
            guard index < state.plan.steps.count else { return "step.started index \(index) is past the plan's \(state.plan.steps.count) steps" }
            if state.plan.steps[index].weight != weight { return "step.started weight \(weight)% is not step \(index + 1)'s \(state.plan.steps[index].weight)%" }
        case let .analysisVerdict(step, _, _, _):
            if step >= max(1, state.plan.steps.count) { return "analysis.verdict step \(step) is past the plan's \(state.plan.steps.count) steps" }
        case let .candidateVerdict(version, step, _, _, _):
            if step >= max(1, state.plan.steps.count) { return "analysis.verdict step \(step) is past the plan's \(state.plan.steps.count) steps" }
            if !state.isCandidate(version) { return "analysis.verdict candidate \(version) is not a candidate of this deploy" }
        case let .candidateReverted(version, _, _):
            if !state.isCandidate(version) || version == state.to.name && !state.isMultiway { return "candidate.reverted \(version) is not one of several candidates of this deploy" }
            if state.liveCandidates.count < 2, !(state.candidatesOut ?? []).contains(version) { return "candidate.reverted \(version) would leave no candidate in rotation (that is a revert of the deploy)" }
        case let .trafficSet(weights, cause):
            if let problem = weightsProblem(weights, state) { return "traffic.set \(problem)" }
            switch cause {
            case let .revertCandidate(version, _, _)?:
                if !state.isMultiway || !state.isCandidate(version) { return "traffic.set cause revert-candidate \(version) is not one of several candidates of this deploy" }
                if state.liveCandidates.count < 2, !(state.candidatesOut ?? []).contains(version) { return "traffic.set cause revert-candidate \(version) would leave no candidate in rotation" }
                if let w = weights.first(where: { $0.version == version }), w.percent != 0 { return "traffic.set takes \(version) out but gives it \(w.percent)%" }
            case let .step(index)?:
                if index >= state.plan.steps.count { return "traffic.set cause step \(index) is past the plan's \(state.plan.steps.count) steps" }
            default: break
            }
            // A candidate taken out stays at 0 until a retry (which clears the list first).
            if let back = weights.first(where: { (state.candidatesOut ?? []).contains($0.version) && $0.percent != 0 }) {
                return "traffic.set gives \(back.version) \(back.percent)% though it was taken out of rotation (only a retry brings it back)"
            }
        case let .commandAccepted(action, _, _):
            if action == .retry, !state.isFinished { return "command.accepted retry while the deploy is still running (retry applies to a finished one)" }
        default: break
        }
        return nil
    }

    /// Why `weights` cannot be a split this deploy asks for: every version of the deploy
    /// once, nothing else, summing to 100.
    static func weightsProblem(_ weights: [VersionWeight], _ state: DeployState) -> String? {
        guard state.phase != .idle else { return "before deploy.started" }
        let names = [state.from.name] + state.candidates.map(\.name)
        let given = weights.map(\.version)
        if Set(given) != Set(names) || given.count != names.count {
            return "weights name \(given.joined(separator: ", ")); this deploy's versions are \(names.joined(separator: ", "))"
        }
        let sum = weights.reduce(0) { $0 + $1.percent }
        if sum != 100 { return "weights add up to \(sum), not 100" }
        return nil
    }

    /// Several candidates: each one's ticks against the baseline's (a baseline sample counts
    /// for every candidate still in rotation), and every version's latency. In place: a copy
    /// of a candidate's blocks per sample made a long deploy's replay quadratic.
    private static func foldMultiway(_ state: inout DeployState, _ sample: MetricsSample, at ts: Timestamp) {
        if state.latencyStats == nil { state.latencyStats = [:] }
        state.latencyStats![sample.version, default: LatencyStats()].add(sample)
        let isBase = sample.version == state.from.name
        guard state.isMultiway, isBase || state.isCandidate(sample.version) else { return }
        if state.candidateBlocks == nil { state.candidateBlocks = [:] }
        let out = state.candidatesOut ?? []
        for c in state.candidates where (isBase || c.name == sample.version) && !out.contains(c.name) {
            addTick(&state.candidateBlocks![c.name, default: []], sample, canary: !isBase, at: ts)
        }
    }

    /// Adds a sample to the tick at `ts` (a new tick when the last is older), keeping at most
    /// 21,600 ticks: past that the oldest half is merged pairwise (the evidence kept, coarser).
    private static func addTick(_ blocks: inout [JudgeBlock], _ sample: MetricsSample, canary: Bool, at ts: Timestamp) {
        if blocks.last?.at != ts {
            blocks.append(JudgeBlock(at: ts))
            if blocks.count > 21_600 {
                let half = blocks.count / 2
                var merged: [JudgeBlock] = []
                merged.reserveCapacity(half / 2 + 1)
                var k = 0
                while k + 1 < half {
                    let x = blocks[k], y = blocks[k + 1]
                    var m = JudgeBlock(at: y.at, canaryRequests: x.canaryRequests + y.canaryRequests, canaryErrors: x.canaryErrors + y.canaryErrors,
                                       baseRequests: x.baseRequests + y.baseRequests, baseErrors: x.baseErrors + y.baseErrors)
                    if x.hasSlow, y.hasSlow { m.canarySlow = x.canarySlow! + y.canarySlow!; m.baseSlow = x.baseSlow! + y.baseSlow! }
                    merged.append(m)
                    k += 2
                }
                blocks = merged + blocks[k...]
            }
        }
        let last = blocks.count - 1
        if canary {
            blocks[last].canaryRequests += sample.requests
            blocks[last].canaryErrors += sample.errors
            blocks[last].canarySlow = sample.slow.map { (blocks[last].canarySlow ?? 0) + $0 }
        } else {
            blocks[last].baseRequests += sample.requests
            blocks[last].baseErrors += sample.errors
            blocks[last].baseSlow = sample.slow.map { (blocks[last].baseSlow ?? 0) + $0 }
        }
    }

    private static func stageIndex(_ state: inout DeployState, _ name: String) -> Int {
        if let i = state.stages.firstIndex(where: { $0.name == name }) { return i }
        state.stages.append(DeployState.Stage(name: name))
        return state.stages.count - 1
    }
}
