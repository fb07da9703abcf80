/// Something the engine must do to carry out a decision. Router-bound work is explicit so
/// the engine can wait for the router's read-back before claiming a step started.
public enum RolloutIntent: Sendable, Equatable {
    /// Record this event as it is.
    case emit(EventPayload)
    /// Set the router to step `index`'s weight, confirm, then record `step.started`
    /// (and `deploy.finished(promoted)` when the step is the last at 100%).
    case startStep(Int)
    /// Set the new version's weight to 0, confirm, then record `deploy.finished`.
    case revert(by: String, reason: String?)
    /// Record `deploy.finished(failed)`.
    case fail(reason: String)
    /// Put the weights the log holds (`state.wanted`) back on the router and confirm them.
    case restore
    /// With several candidates: set one candidate's weight to 0 (its share to the others in
    /// proportion), confirm, then record `candidate.reverted`.
    case revertCandidate(version: String, by: String, reason: String?)
}

/// The decision on a command: refused with a reason, or accepted with what to do.
public enum CommandDecision: Sendable, Equatable {
    case rejected(String)
    case accepted([RolloutIntent])

    public var refusal: String? { if case let .rejected(w) = self { return w }; return nil }
}

/// Pure rollout rules: which commands apply in a state, what they do, and what is due
/// by itself at a given time. The engine carries out the intents.
public enum RolloutLogic {
    /// Why `action` does not apply now, or nil if it does. Drives refusals and disabled keys.
    public static func refusal(_ action: Action, in s: DeployState, text: String? = nil) -> String? {
        let notRunning = "no deploy is running"
        if case let .revert(by, _) = s.pending, !s.isFinished, action != .say {
            return action == .revert ? "already reverting (by \(by)): it completes when the router confirms"
                : "a revert by \(by) is under way: \(s.to.name) stays out of rotation; it ends as reverted"
        }
        if case let .revertCandidate(v, by, _) = s.pending, !s.isFinished, [.promote, .promoteFull, .retry].contains(action) {
            return "\(by) is taking \(v) out of rotation: wait until the router confirms it"
        }
        switch action {
        case .say:
            return (text ?? "").trimmingSpaces.isEmpty ? "the message is empty" : nil
        case .cancel:
            guard case .pipeline = s.phase, let st = s.runningStage else { return "no pipeline stage is running" }
            if let by = s.cancelRequestedBy { return "\(st.name) is already being cancelled (by \(by))" }
            return nil
        case .promote, .promoteFull:
            switch s.phase {
            case .idle: return notRunning
            case .pipeline: return "the pipeline is still running: nothing to promote yet"
            case .finished(.promoted): return "already promoted: \(s.to.name) takes all traffic"
            case .finished(.reverted): return "the deploy was reverted: press R to retry it first"
            case .finished(.failed): return "the deploy failed: nothing to promote"
            case .rolling:
                guard let i = s.stepIndex else { return "no step has started yet" }
                if i + 1 >= s.plan.steps.count { return "already at the last step (\(s.plan.steps.last?.weight ?? 100)%)" }
                return nil
            }
        case .pause:
            switch s.phase {
            case .idle: return notRunning
            case .pipeline: return "pause holds a rollout; the pipeline is still running"
            case let .finished(o): return "the deploy is over (\(o.rawValue))"
            case .rolling: return s.paused.map { "already paused by \($0.by)" }
            }
        case .resume:
            if case let .finished(o) = s.phase { return "the deploy is over (\(o.rawValue))" }
            return s.paused == nil ? "not paused" : nil
        case .revert:
            switch s.phase {
            case .idle: return notRunning
            case .pipeline: return "nothing to revert: \(s.to.name) takes no traffic yet"
            case .finished(.promoted): return "already promoted: revert with git revert and a new deploy"
            case .finished(.reverted): return "already reverted"
            case .finished(.failed): return "the deploy already failed; \(s.to.name) takes no traffic"
            case .rolling: return nil
            }
        case .retry:
            switch s.phase {
            case .finished(.reverted): return nil
            case .finished(.failed):
                if let st = s.failedStage { return "the pipeline failed at \(st.name): fix it and start a new deploy" }
                return nil
            case .finished(.promoted): return "nothing to retry: the deploy was promoted"
            default: return "retry applies to a reverted or failed rollout; this one is still running"
            }
        }
    }

    /// Validates a command against the state and says what it does.
    public static func decide(_ c: Command, in s: DeployState) -> CommandDecision {
        if let why = refusal(c.action, in: s, text: c.text) { return .rejected(why) }
        let reason = c.text.flatMap { $0.trimmingSpaces.isEmpty ? nil : $0 }
        switch c.action {
        case .say:
            return .accepted([.emit(.chatMessage(from: c.by, text: c.text ?? ""))])
        case .promote:
            let i = s.stepIndex ?? -1
            var out: [RolloutIntent] = [.emit(.commandAccepted(action: .promote, by: c.by, reason: reason))]
            if s.paused != nil { out.append(.emit(.deployResumed(by: c.by))) }
            out.append(.startStep(i + 1))
            return .accepted(out)
        case .promoteFull:
            var out: [RolloutIntent] = [.emit(.commandAccepted(action: .promoteFull, by: c.by, reason: reason))]
            if s.paused != nil { out.append(.emit(.deployResumed(by: c.by))) }
            out.append(.startStep(s.plan.steps.count - 1))
            return .accepted(out)
        case .pause:
            return .accepted([
                .emit(.commandAccepted(action: .pause, by: c.by, reason: reason)),
                .emit(.deployPaused(by: c.by, reason: reason ?? "no reason given")),
            ])
        case .resume:
            var out: [RolloutIntent] = [.emit(.commandAccepted(action: .resume, by: c.by, reason: reason)), .emit(.deployResumed(by: c.by))]
            // Weights changed behind friday's back (or were never confirmed): resuming puts the log's back.
            if s.drift != nil || Set(s.observed) != Set(s.wanted) { out.append(.restore) }
            return .accepted(out)
        case .revert:
            if let v = c.candidate {
                guard s.isMultiway else { return .rejected("this deploy has one candidate (\(s.to.name)): revert without naming one") }
                guard s.isCandidate(v) else {
                    return .rejected("\(TerminalText.neutralise(String(v.prefix(80)))) is not a candidate of this deploy (candidates: \(s.candidates.map(\.name).joined(separator: ", ")))")
                }
                guard s.liveCandidates.contains(where: { $0.name == v }) else { return .rejected("\(v) is already out of rotation") }
                // The last candidate in rotation: taking it out is reverting the deploy.
                if s.liveCandidates.count > 1 {
                    // The traffic.set that takes it out (who, why) is the command's acceptance.
                    return .accepted([.revertCandidate(version: v, by: c.by, reason: reason)])
                }
            }
            return .accepted([.emit(.commandAccepted(action: .revert, by: c.by, reason: reason)), .revert(by: c.by, reason: reason)])
        case .retry:
            return .accepted([.emit(.commandAccepted(action: .retry, by: c.by, reason: reason)), .startStep(0)])
        case .cancel:
            // The pipeline runner sees the request in the state and stops the stage's process group.
            return .accepted([.emit(.commandAccepted(action: .cancel, by: c.by, reason: reason))])
        }
    }

    /// What happens by itself at `now`: the pipeline finishing, a pause running out.
    public static func due(in s: DeployState, now: Timestamp) -> [RolloutIntent] {
        // A move already committed to comes first: a revert always, a step unless a person paused.
        switch s.pending {
        case let .revert(by, reason)?: if !s.isFinished { return [.revert(by: by, reason: reason)] }
        case let .revertCandidate(v, by, reason)?: if !s.isFinished { return [.revertCandidate(version: v, by: by, reason: reason)] }
        case let .step(i)?:
            if i < s.plan.steps.count, s.paused == nil || s.paused?.by == "engine" { return [.startStep(i)] }
        default: break
        }
        switch s.phase {
        case .pipeline:
            if let st = s.failedStage { return [.fail(reason: "stage \(st.name) \(st.status.rawValue)")] }
            if s.pipelineSucceeded, !s.plan.steps.isEmpty { return [.startStep(0)] }
            return []
        case .rolling:
            guard s.paused == nil, let i = s.stepIndex, let d = s.pauseDeadline, d <= now, i + 1 < s.plan.steps.count else { return [] }
            return [.startStep(i + 1)]
        default:
            return []
        }
    }

    /// The weights for the new version at `percent`: old gets the rest. With several
    /// candidates only 0 is asked for (a revert): the baseline takes everything.
    public static func weights(in s: DeployState, newPercent: Int) -> [VersionWeight] {
        if s.isMultiway {
            return [VersionWeight(version: s.from.name, percent: 100)] + s.candidates.map { VersionWeight(version: $0.name, percent: 0) }
        }
        return [VersionWeight(version: s.from.name, percent: 100 - newPercent), VersionWeight(version: s.to.name, percent: newPercent)]
    }

    /// The weights of step `index`: for several candidates, the step's own with every
    /// candidate taken out at 0 and its share given to the versions still taking traffic in
    /// proportion to their weights (the baseline alone when none is left).
    public static func weights(in s: DeployState, step index: Int) -> [VersionWeight] {
        guard index >= 0, index < s.plan.steps.count else { return s.wanted }
        let step = s.plan.steps[index]
        guard s.isMultiway, let planned = step.weights else { return weights(in: s, newPercent: step.weight) }
        return redistribute(planned, out: Set(s.candidatesOut ?? []))
    }

    /// `planned` with the versions in `out` at 0 and their share spread over the others in
    /// proportion (largest remainder, ties to the earlier version), summing to 100 again;
    /// to the baseline (first) when no other has a share.
    public static func redistribute(_ planned: [VersionWeight], out: Set<String>) -> [VersionWeight] {
        var w = planned.map { out.contains($0.version) ? VersionWeight(version: $0.version, percent: 0) : $0 }
        let freed = 100 - w.reduce(0) { $0 + $1.percent }
        guard freed > 0 else { return w }
        let takers = w.indices.filter { w[$0].percent > 0 }
        guard !w.isEmpty else { return w }
        if takers.isEmpty {
            // Nobody the plan gives a share is left: the baseline (first), never a version the
            // plan gave nothing (a valid plan gives every candidate a share in every step, so
            // this is every candidate out: a revert).
            w[0].percent += freed
            return w
        }
        let base = takers.reduce(0) { $0 + w[$1].percent }
        var shares = takers.map { i in (i, freed * w[i].percent / base, (freed * w[i].percent) % base) }
        var left = freed - shares.reduce(0) { $0 + $1.1 }
        for k in shares.indices.sorted(by: { shares[$0].2 != shares[$1].2 ? shares[$0].2 > shares[$1].2 : $0 < $1 }) where left > 0 {
            shares[k].1 += 1; left -= 1
        }
        for (i, add, _) in shares { w[i].percent += add }
        return w
    }

    /// The split once `candidate` is taken out alone: the current step's weights with it and
    /// those already out at 0, their share to the others in proportion. What the engine sets,
    /// and what the take-out's confirm shows.
    public static func weights(in s: DeployState, without candidate: String) -> [VersionWeight] {
        let planned = s.stepIndex.flatMap { $0 < s.plan.steps.count ? s.plan.steps[$0].weights : nil } ?? s.wanted
        return redistribute(planned, out: Set(s.candidatesOut ?? []).union([candidate]))
    }

    /// What taking `candidate` out alone will do, for its confirm dialog: the split after it
    /// (the same weights the engine will set), or the deploy's revert when it is the last.
    public static func takeOutConsequence(_ candidate: String, in s: DeployState) -> String {
        guard s.liveCandidates.count > 1 else { return consequence(.revert, in: s) }
        let now = s.observed.first { $0.version == candidate }?.percent ?? 0
        let after = weights(in: s, without: candidate)
        return "\(candidate) \(now)% → 0% at once; then \(weightsText(after.filter { $0.percent > 0 })); only a retry brings it back"
    }

    /// A one-line description of what a dangerous action will do, for the confirm dialog.
    public static func consequence(_ action: Action, in s: DeployState) -> String {
        let now = s.canaryPercent
        switch action {
        case .promoteFull:
            let i = s.stepIndex ?? 0
            let skipped = s.plan.steps.count > i + 1 ? s.plan.steps[(i + 1)..<(s.plan.steps.count - 1)] : []
            let pauses = s.plan.steps[min(i, max(0, s.plan.steps.count - 1))..<max(0, s.plan.steps.count - 1)].filter { $0.pause != .seconds(0) }.count
            var text = s.isMultiway ? "\(weightsText(s.observed)) → \(weightsText(weights(in: s, step: s.plan.steps.count - 1))) now" : "\(s.to.name) \(now)% → 100% now"
            if !skipped.isEmpty { text += ", skipping steps \(skipped.map { "\($0.weight)%" }.joined(separator: ", "))" }
            text += pauses > 0 ? ", \(pauses) pause\(pauses == 1 ? "" : "s") and the analysis" : " and the analysis"
            return text
        case .revert:
            if s.isMultiway {
                let names = s.liveCandidates.map(\.name).joined(separator: ", ")
                return "\(names) \(now)% → 0% at once; \(s.from.name) takes all traffic; the deploy ends as reverted"
            }
            return "\(s.to.name) \(now)% → 0% at once; \(s.from.name) takes all traffic; the deploy ends as reverted"
        case .promote:
            if let i = s.stepIndex, i + 1 < s.plan.steps.count {
                if s.isMultiway { return "\(weightsText(s.observed)) → \(weightsText(weights(in: s, step: i + 1)))" }
                return "\(s.to.name) \(now)% → \(s.plan.steps[i + 1].weight)%"
            }
            return "promote"
        case .retry:
            // What a retry does: back to the first step, the judge starting over.
            guard let first = s.plan.steps.first else { return "retry" }
            let split = s.isMultiway ? weightsText(weights(in: s, step: 0)) : "\(s.to.name) at \(first.weight)%"
            return "back to step 1 of \(s.plan.steps.count) (\(split)); the judge starts over"
        case .cancel:
            let name = s.runningStage?.name ?? "the stage"
            return "stops \(name) and everything it started (SIGTERM, then SIGKILL); the deploy fails at \(name)"
        default:
            return action.rawValue
        }
    }
}

extension String {
    var trimmingSpaces: String {
        var s = Substring(self)
        while let f = s.first, f.isWhitespace { s.removeFirst() }
        while let l = s.last, l.isWhitespace { s.removeLast() }
        return String(s)
    }
}
