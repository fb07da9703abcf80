/// A Markdown post-mortem of a recorded deploy: what happened, who pressed what and why,
/// the judge's verdicts with their figures, and the outcome.
public enum PostMortem {
    public static func markdown(_ events: [DeployEvent], problem: String? = nil) -> String {
        var state = DeployState()
        var timeline: [String] = []
        var commands: [String] = []
        var verdicts: [String] = []
        var start: Timestamp?
        func at(_ t: Timestamp) -> String {
            guard let s = start else { return t.clockText }
            return "+\(formatDuration(t - s))"
        }
        for e in events {
            if start == nil, case .deployStarted = e.payload { start = e.ts }
            let logged = state.log.count
            Reducer.reduce(&state, e)
            let said = state.log.count > logged ? state.log[logged].text : state.log.last?.text ?? ""
            let when = at(e.ts)
            switch e.payload {
            case let .deployStarted(service, from, _, plan, _, by):
                let names = state.candidates.map(\.name).joined(separator: ", ")
                timeline.append("| \(e.ts.clockText) | \(when) | \(cell(by)) started \(plan.isBenchmark ? "benchmarking" : "deploying") \(cell(service)) \(cell(from.name)) → \(cell(names)) |")
            case let .stageFinished(stage, status, seconds):
                timeline.append("| \(e.ts.clockText) | \(when) | stage \(stage) \(status.rawValue) in \(formatDuration(seconds)) |")
            case let .stepStarted(index, weight, pause):
                let split = state.isMultiway ? weightsText(state.wanted) : "\(state.to.name) at \(weight)%"
                timeline.append("| \(e.ts.clockText) | \(when) | step \(index + 1): \(cell(split)), pause \(pause.label) |")
            case let .deployPaused(by, reason):
                timeline.append("| \(e.ts.clockText) | \(when) | paused by \(by): \(cell(reason)) |")
            case let .deployResumed(by):
                timeline.append("| \(e.ts.clockText) | \(when) | resumed by \(by) |")
            case let .deployFinished(outcome, by, reason):
                timeline.append("| \(e.ts.clockText) | \(when) | **\(outcome.rawValue)** by \(by)\(reason.map { ": \(cell($0))" } ?? "") |")
            case let .routerUnreachable(provider, error):
                timeline.append("| \(e.ts.clockText) | \(when) | router \(provider) unreachable: \(cell(error)) |")
            case let .engineRestarted(down):
                timeline.append("| \(e.ts.clockText) | \(when) | friday restarted after \(formatDuration(down)) down |")
            case let .logRecovered(n, file):
                timeline.append("| \(e.ts.clockText) | \(when) | \(n) damaged log line(s) set aside in \(cell(file)) |")
            case let .changeListed(range, total, _, big, error):
                timeline.append("| \(e.ts.clockText) | \(when) | " + (error == nil ? "ships \(cell(range)): \(total) commit\(total == 1 ? "" : "s")\(big ? " (a big change)" : "")" : cell(said)) + " |")
            case .gitReverted, .ingestRefused:
                timeline.append("| \(e.ts.clockText) | \(when) | \(cell(said)) |")
            case let .commandAccepted(action, by, reason):
                commands.append("| \(e.ts.clockText) | \(by) | \(action.rawValue) | accepted | \(cell(reason ?? "")) |")
            case let .commandRejected(action, by, why):
                commands.append("| \(e.ts.clockText) | \(by) | \(action.rawValue) | refused | \(cell(why)) |")
            case let .trafficSet(weights, .revertCandidate(version, by, reason)?):
                // One candidate of several taken out: decided here (the line is the decision).
                timeline.append("| \(e.ts.clockText) | \(when) | \(cell(by)) took \(cell(version)) out of rotation\(reason.map { ": \(cell($0))" } ?? "") → \(cell(weightsText(weights))) |")
                if by != "judge" { commands.append("| \(e.ts.clockText) | \(cell(by)) | revert --candidate \(cell(version)) | accepted | \(cell(reason ?? "")) |") }
            case let .candidateReverted(version, _, _):
                timeline.append("| \(e.ts.clockText) | \(when) | \(cell(version)) out of rotation (the router confirms) |")
            case let .analysisVerdict(step, verdict, summary, figures):
                verdicts.append("| \(e.ts.clockText) | \(step + 1) | \(verdict.rawValue) | \(cell(summary)) | \(cell(figureText(figures))) |")
            case let .candidateVerdict(version, step, verdict, summary, figures):
                verdicts.append("| \(e.ts.clockText) | \(step + 1) | \(cell(version)): \(verdict.rawValue) | \(cell(summary)) | \(cell(figureText(figures))) |")
            default: break
            }
        }
        var out = "# Deploy \(state.deployID.isEmpty ? "(empty log)" : cell(state.deployID)): \(cell(state.service)) \(cell(state.from.name)) → \(cell(state.candidates.map(\.name).joined(separator: ", ")))\n\n"
        let outcome = state.outcome.map(\.rawValue) ?? (state.phase == .idle ? "not started" : "still running when the log ends")
        out += "- Outcome: **\(outcome)**\n"
        if let s = state.startedAt {
            out += "- Started \(s.rfc3339) by \(state.startedBy)"
            if let end = state.finishedAt ?? state.lastEventAt { out += ", \(state.isFinished ? "ended" : "last event") after \(formatDuration(end - s))" }
            out += "\n"
        }
        out += "- Events: \(events.count)\n"
        if let out_ = state.candidatesOut, !out_.isEmpty { out += "- Taken out of rotation alone: \(cell(out_.joined(separator: ", ")))\n" }
        if let problem { out += "- The log has a problem after its last good event: \(cell(problem))\n" }
        out += "\n## Timeline\n\n| time (UTC) | since start | what happened |\n| --- | --- | --- |\n"
        out += timeline.joined(separator: "\n") + "\n"
        out += "\n## Who pressed what, and why\n\n"
        out += commands.isEmpty ? "Nobody sent a command.\n" : "| time (UTC) | who | command | | reason or refusal |\n| --- | --- | --- | --- | --- |\n" + commands.joined(separator: "\n") + "\n"
        out += "\n## Verdicts\n\n"
        out += verdicts.isEmpty ? "The judge gave no verdict.\n" : "| time (UTC) | step | verdict | why | figures |\n| --- | --- | --- | --- | --- |\n" + verdicts.joined(separator: "\n") + "\n"
        let chat = state.log.filter { $0.kind == .chat }
        if !chat.isEmpty {
            out += "\n## Team chat\n\n" + chat.map { "- \($0.at.clockText) **\(cell($0.who))**: \(cell($0.text))" }.joined(separator: "\n") + "\n"
        }
        return out
    }

    static func figureText(_ figures: [Figure]) -> String {
        func num(_ x: Double) -> String { x.rounded() == x && abs(x) < 1e12 ? groupedNumber(Int(x)) : format2(x) }
        return figures.map { f in "\(f.name) \(num(f.value))" + (f.limit.map { " (limit \(num($0)))" } ?? "") }.joined(separator: "; ")
    }

    /// Outside text made safe for a Markdown table cell.
    static func cell(_ s: String) -> String {
        var out = ""
        for c in TerminalText.neutralise(s) {
            if c == "|" { out += "\\|" } else { out.append(c) }
        }
        return out
    }
}

/// `1,512`
public func groupedNumber(_ n: Int) -> String {
    let s = String(abs(n))
    var out = ""
    for (i, c) in s.enumerated() {
        if i > 0, (s.count - i) % 3 == 0 { out.append(",") }
        out.append(c)
    }
    return (n < 0 ? "-" : "") + out
}
