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

    /// The weights for the new version at `percent`: old gets the rest.
    public static func weights(in s: DeployState, newPercent: Int) -> [VersionWeight] {
        [VersionWeight(version: s.from.name, percent: 100 - newPercent), VersionWeight(version: s.to.name, percent: newPercent)]
    }

    /// A one-line description of what a dangerous action will do, for the confirm dialog.
    public static func consequence(_ action: Action, in s: DeployState) -> String {
        let now = s.canaryPercent
        switch action {
        case .promoteFull:
            let i = s.stepIndex ?? 0
            let skipped = s.plan.steps.count > i + 1 ? s.plan.steps[(i + 1)..<(s.plan.steps.count - 1)] : []
            let pauses = s.plan.steps[min(i, max(0, s.plan.steps.count - 1))..<max(0, s.plan.steps.count - 1)].filter { $0.pause != .seconds(0) }.count
            var text = "\(s.to.name) \(now)% → 100% now"
            if !skipped.isEmpty { text += ", skipping steps \(skipped.map { "\($0.weight)%" }.joined(separator: ", "))" }
            text += pauses > 0 ? ", \(pauses) pause\(pauses == 1 ? "" : "s") and the analysis" : " and the analysis"
            return text
        case .revert:
            return "\(s.to.name) \(now)% → 0% at once; \(s.from.name) takes all traffic; the deploy ends as reverted"
        case .promote:
            if let i = s.stepIndex, i + 1 < s.plan.steps.count { return "\(s.to.name) \(now)% → \(s.plan.steps[i + 1].weight)%" }
            return "promote"
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
