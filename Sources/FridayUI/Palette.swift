import FridayCore

/// The `:` command palette's commands, their completion and their history.
///
/// A command does exactly what its key does, with the same refusals and the same confirm
/// dialogs (`revert <reason>` opens the revert's confirm with the reason given; `promote
/// full` the confirm for 100%): typing a command's name is not taken as the deliberate act
/// a dangerous dialog asks for, since a paste can type it too. Names are matched whole
/// (Tab completes them), so a half-typed word never acts.
public enum Palette {
    public struct Command: Sendable, Equatable {
        public var name: String
        public var argument: String?
        public var help: String
    }

    public static let commands: [Command] = [
        Command(name: "promote", argument: "[full]", help: "end this pause and go to the next step; full: to 100% (confirm)"),
        Command(name: "pause", argument: nil, help: "hold the current weights; timers stop"),
        Command(name: "resume", argument: nil, help: "go on from a pause"),
        Command(name: "revert", argument: "<reason>", help: "new version to 0% at once (confirm)"),
        Command(name: "takeout", argument: "<candidate> <reason>", help: "several candidates: take one out of rotation alone, its share to the others (confirm)"),
        Command(name: "retry", argument: nil, help: "start a reverted or failed rollout again (confirm)"),
        Command(name: "cancel", argument: nil, help: "stop the running pipeline stage (confirm)"),
        Command(name: "say", argument: "<text>", help: "a line for the team log"),
        Command(name: "theme", argument: "<name>", help: "change this screen's colours"),
        Command(name: "filter", argument: "[text]", help: "show only team-log lines with the text; no text: all"),
        Command(name: "search", argument: "<text>", help: "find the text in the team log (n/N: older, newer)"),
        Command(name: "zoom", argument: nil, help: "the focused pane on the whole screen, or all panes again"),
        Command(name: "help", argument: nil, help: "the keys and commands"),
        Command(name: "quit", argument: nil, help: "quit the screen (the engine and the deploy go on)"),
    ]

    public static let historyLimit = 50

    /// Splits a typed line into the command's name and the rest.
    public static func split(_ line: String) -> (name: String, argument: String) {
        let t = line.trimmingCharacters()
        guard let space = t.firstIndex(where: \.isWhitespace) else { return (t.lowercased(), "") }
        return (String(t[..<space]).lowercased(), String(t[space...]).trimmingCharacters())
    }

    /// What Tab offers for `text`: full lines that could replace it.
    public static func completions(_ text: String, themes: [String], candidates: [String] = []) -> [String] {
        let lead = text.drop(while: \.isWhitespace)
        if let space = lead.firstIndex(where: \.isWhitespace) {
            let name = lead[..<space].lowercased()
            let arg = lead[space...].drop(while: \.isWhitespace)
            let values: [String]
            switch name {
            case "theme": values = themes
            case "promote": values = ["full"]
            case "takeout": values = candidates.map { $0 + " " }
            default: return []
            }
            return values.filter { $0.hasPrefix(arg) }.map { "\(name) \($0)" }
        }
        let typed = lead.lowercased()
        return commands.map(\.name).filter { $0.hasPrefix(typed) }.map { name in
            commands.first { $0.name == name }?.argument == nil ? name : name + " "
        }
    }

    /// Tab: the one completion, else the longest prefix they share (the footer lists them).
    public static func complete(_ text: String, themes: [String], candidates: [String] = []) -> (text: String, choices: [String]) {
        let all = completions(text, themes: themes, candidates: candidates)
        guard let first = all.first else { return (text, []) }
        if all.count == 1 { return (first, []) }
        var common = first
        for c in all.dropFirst() { while !c.hasPrefix(common) { common.removeLast() } }
        let shown = all.map { $0.split(separator: " ").last.map(String.init) ?? $0 }
        return (common.count > text.count ? common : text, shown)
    }
}

extension UIModel {
    /// A key in the palette: Tab completes, ↑/↓ walk the history, Enter runs, Esc closes.
    mutating func paletteKey(_ k: Key, text: String) -> [UIEffect] {
        switch k {
        case .tab:
            let (t, choices) = Palette.complete(text, themes: themeNames, candidates: deploy.isMultiway ? deploy.liveCandidates.map(\.name) : [])
            mode = .palette(t)
            cursor = t.count
            paletteChoices = choices
            return []
        case .up, .down:
            guard !paletteHistory.isEmpty else { return [] }
            let last = paletteHistory.count
            var at = historyAt ?? last
            at = k == .up ? max(0, at - 1) : min(last, at + 1)
            historyAt = at
            let t = at == last ? "" : paletteHistory[at]
            mode = .palette(t)
            cursor = t.count
            return []
        default: break
        }
        paletteChoices = []
        switch LineEdit.apply(k, to: text, cursor: &cursor) {
        case .cancel: mode = .normal; historyAt = nil; return []
        case let .update(t): mode = .palette(t); return []
        case let .submit(line):
            mode = .normal
            historyAt = nil
            let t = line.trimmingCharacters()
            guard !t.isEmpty else { return [] }
            if paletteHistory.last != t { paletteHistory.append(t) }
            if paletteHistory.count > Palette.historyLimit { paletteHistory.removeFirst(paletteHistory.count - Palette.historyLimit) }
            return runCommand(t)
        }
    }

    /// Runs one palette line: the same as its key, with the same refusals and confirms.
    mutating func runCommand(_ line: String) -> [UIEffect] {
        let (name, arg) = Palette.split(line)
        func none(_ what: String) -> [UIEffect]? {
            if arg.isEmpty { return nil }
            message = ("\(what) takes nothing after it", true)
            return []
        }
        switch name {
        case "promote":
            if arg.isEmpty { return act(.promote) }
            if ["full", "100", "100%"].contains(arg.lowercased()) { return act(.promoteFull) }
            message = ("promote takes nothing (the next step) or full (100%)", true)
            return []
        case "pause":
            if let r = none("pause") { return r }
            if deploy.paused != nil { message = ("can't pause: already paused; :resume goes on", true); return [] }
            return act(.togglePause)
        case "resume":
            if let r = none("resume") { return r }
            if deploy.paused == nil { message = ("can't resume: \(RolloutLogic.refusal(.resume, in: deploy) ?? "not paused")", true); return [] }
            return act(.togglePause)
        case "revert":
            if arg.isEmpty { return act(.revert) }
            if let refused = gate(.revert) { return refused }
            mode = .revertConfirm(reason: String(arg.prefix(LineEdit.chatLimit)), typed: "")
            cursor = 0
            return []
        case "takeout":
            // Several candidates: one out alone, with its own confirm (the revert's refusals first).
            if let refused = gate(.revert) { return refused }
            guard deploy.isMultiway else {
                message = ("takeout applies to a deploy of several candidates; this one has \(deploy.to.name) alone: :revert <reason>", true)
                return []
            }
            // The candidate as typed (version names keep their case), then the reason.
            let candidate = String(arg.prefix { !$0.isWhitespace })
            let reason = String(arg.dropFirst(candidate.count)).trimmingCharacters()
            let name = deploy.candidates.first { $0.name == candidate }?.name
                ?? deploy.candidates.first { $0.name.lowercased() == candidate.lowercased() }?.name ?? candidate
            if candidate.isEmpty || reason.isEmpty {
                message = ("takeout <candidate> <reason>: candidates in rotation are \(deploy.liveCandidates.map(\.name).joined(separator: ", "))", true)
                return []
            }
            if let why = RolloutLogic.decide(FridayCore.Command(.revert, by: user, text: reason, candidate: name), in: deploy).refusal {
                message = ("can't take \(TerminalText.neutralise(String(name.prefix(80)))) out: \(why)", true)
                return []
            }
            if deploy.liveCandidates.count < 2 {
                message = ("\(name) is the last candidate in rotation: taking it out reverts the deploy: :revert <reason>", true)
                return []
            }
            mode = .revertConfirm(reason: String(reason.prefix(LineEdit.chatLimit)), typed: "", candidate: name)
            cursor = 0
            return []
        case "retry": return none("retry") ?? act(.retry)
        case "cancel": return none("cancel") ?? act(.cancelStage)
        case "say":
            if arg.isEmpty { return act(.say) }
            if replay { message = ("a replay acts on nothing: say is a live command", true); return [] }
            return [.send(FridayCore.Command(.say, by: user, text: String(arg.prefix(LineEdit.chatLimit))))]
        case "theme":
            guard !arg.isEmpty else { message = ("themes: \(themeNames.joined(separator: ", ")) (now \(themeName))", false); return [] }
            guard themeNames.contains(arg) else { message = ("no theme \"\(arg)\": \(themeNames.joined(separator: ", "))", true); return [] }
            themeName = arg
            message = ("theme \(arg) (this screen only; the config's theme = sets it for good)", false)
            return [.theme(arg)]
        case "filter":
            scroll[.team] = 0
            if arg.isEmpty {
                filterTerm = nil
                message = ("filter off: the whole team log", false)
                return []
            }
            filterTerm = String(arg.prefix(100))
            let n = deploy.log.filter(passesFilter).count
            message = ("team log: \(n) of \(deploy.log.count) lines with \"\(filterTerm!)\" · :filter shows all", n == 0)
            return []
        case "search":
            if arg.isEmpty { mode = .search(searchTerm ?? ""); cursor = (searchTerm ?? "").count; return [] }
            searchTerm = String(arg.prefix(100))
            searchHit = nil
            focus = .team
            findMatch(older: true)
            return []
        case "zoom": return none("zoom") ?? act(.zoom)
        case "help": return none("help") ?? act(.help)
        case "quit", "q": return none("quit") ?? act(.quit)
        default:
            let near = Palette.completions(name, themes: []).map { $0.trimmingCharacters() }
            let hint = near.isEmpty ? "Tab lists the commands" : "did you mean \(near.joined(separator: ", "))?"
            message = ("no command \"\(String(name.prefix(40)))\": \(hint)", true)
            return []
        }
    }

    /// Does what the key bound to `action` does (the palette's commands; a key pressed on
    /// `friday board`, carried into the deploy's dashboard): the same refusals and confirms.
    public mutating func act(_ action: UIAction) -> [UIEffect] {
        guard let b = Keymap.bindings.first(where: { $0.action == action }) else { return [] }
        return perform(b, key: b.keys.first ?? .escape)
    }

    /// Whether a team-log entry passes the palette's filter.
    public func passesFilter(_ e: LogEntry) -> Bool {
        guard let f = filterTerm?.lowercased() else { return true }
        return e.text.lowercased().contains(f) || e.who.lowercased().contains(f)
    }
}
