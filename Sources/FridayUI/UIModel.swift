import FridayCore

/// The panes of the dashboard, in focus order.
public enum PaneID: Int, Sendable, CaseIterable {
    case pipeline, traffic, errors, team

    public var title: String {
        switch self {
        case .pipeline: return "Pipeline"
        case .traffic: return "Traffic"
        case .errors: return "Errors & latency"
        case .team: return "Team"
        }
    }
}

/// What the UI is doing besides showing the dashboard.
public enum UIMode: Sendable, Equatable {
    case normal
    case help
    /// A dangerous action waiting for its word (or the version) typed, then Enter; Esc, the default, cancels.
    case confirm(Action, typed: String)
    /// Asking for the reason of a revert.
    case revertReason(String)
    /// The revert's reason is given; its word (or the version) typed, then Enter. With a
    /// candidate (several candidates, `:takeout`), only that one is taken out.
    case revertConfirm(reason: String, typed: String, candidate: String? = nil)
    /// Typing a line for the team.
    case chat(String)
    /// Typing what to look for in the team log.
    case search(String)
    /// The `:` command palette.
    case palette(String)
    /// A stage's output, scrolled back `scroll` lines from its end.
    case stageOutput(stage: Int, scroll: Int)
}

/// Something that happened, for the UI's reducer.
public enum UIMessage: Sendable {
    case key(Key)
    case engine(DeployEvent)
    /// A fresh copy of the state after falling behind.
    case resync(DeployState)
    /// A line for the footer from outside the deploy's events (the engine's reply to a command).
    case notice(String, isError: Bool)
    /// Who is attached to friday's tmux session now.
    case tmuxClients([String])
    case tick(Timestamp)
    case resize(width: Int, height: Int)
}

/// Work the UI asks for: the effects of `update`.
public enum UIEffect: Sendable, Equatable {
    case send(Command)
    case resync
    case quit
    /// Draw with the named theme from now on (the palette's `theme`).
    case theme(String)
}

/// The UI's whole state. `update` is its one reducer; `Screen.render` draws it.
public struct UIModel: Sendable {
    public var deploy: DeployState
    public var now: Timestamp
    public var user: String
    /// The team log has the focus at first: `/` searches what the help says it does, and
    /// scrolling moves through what the team said (1 or tab to the pipeline for its output).
    public var focus: PaneID = .team
    /// Lines scrolled back from the newest, per pane.
    public var scroll: [PaneID: Int] = [:]
    public var mode: UIMode = .normal
    /// A line for the footer: a refusal or a confirmation of what was sent.
    public var message: (text: String, isError: Bool)?
    public var glyphs: Glyphs
    public var judge: CanaryJudge
    public var width: Int
    public var height: Int
    /// Label shown in the header, e.g. "demo · good · 1x".
    public var sourceLabel: String
    /// Whether the deploy runs on simulated parts (the demo, a simulated `run`): the header
    /// says so at every width, and its clock is the simulation's, not the wall's.
    public var isSimulated: Bool { sourceLabel.hasPrefix("demo") || sourceLabel.hasSuffix(" · SIMULATED") }
    /// In replay: the position and the player's keys, shown instead of the deploy keys.
    public var replayBar: String?
    /// The layout to draw (held steady by `LayoutHold`); nil chooses by size.
    public var layout: LayoutKind?
    /// A viewer watches and chats; the acting keys are greyed out with the reason.
    public var role: Wire.Role = .operator
    /// The clients attached to friday's tmux session (`user WxH`), when inside tmux.
    public var tmuxClients: [String] = []
    /// `q` leaves the engine running (attached to a served engine) rather than ending it.
    public var detaches = false
    /// Opened from `friday board`: Esc (with no dialog, search or zoom to close) goes back to the board.
    public var escapeReturns = false
    /// A replay: no key acts on a deploy (the player has its own keys; help shows them).
    public var replay = false
    /// The focused pane on the whole screen.
    public var zoomed = false
    /// What the team log is searched for, and the entry shown (an index into the log).
    public var searchTerm: String?
    public var searchHit: Int?
    /// How far the help is scrolled.
    public var helpScroll = 0
    /// Where the cursor is in the text field being typed (characters from its start).
    public var cursor = 0
    /// The team-log line being written, kept when Esc closes the field until it is sent.
    public var chatDraft = ""
    /// The palette's past commands (oldest first), where ↑/↓ are in them, and what Tab offers.
    public var paletteHistory: [String] = []
    public var historyAt: Int?
    public var paletteChoices: [String] = []
    /// The themes the palette offers, and the one in use.
    public var themeNames: [String] = []
    public var themeName = "default"
    /// A search in a stage's output (the stage-output view) rather than the team log, and
    /// the output line shown as its match (an index into the stage's kept lines).
    public var searchInOutput = false
    /// The search in a stage's output (its own term, apart from the team log's).
    public var outputTerm: String?
    public var outputHit: Int?
    var outputStage = 0
    /// The palette's `filter`: only team-log lines with this text are shown.
    public var filterTerm: String?
    /// How the wall clock is shown (the config's `time_zone`; UTC by default).
    public var zone: ClockZone = .utc

    public static let viewerRefusal = "you watch as a viewer: ask an operator, or attach with --role operator"

    public init(deploy: DeployState = DeployState(), now: Timestamp, user: String, glyphs: Glyphs = .unicode,
                judge: CanaryJudge = CanaryJudge(), width: Int = 120, height: Int = 40, sourceLabel: String = "") {
        self.deploy = deploy; self.now = now; self.user = user; self.glyphs = glyphs
        self.judge = judge; self.width = width; self.height = height; self.sourceLabel = sourceLabel
    }

    /// Handles one message; returns the work to do.
    public mutating func update(_ msg: UIMessage) -> [UIEffect] {
        switch msg {
        case let .engine(e):
            if e.seq != deploy.lastSeq + 1, deploy.lastSeq >= 0 || e.seq != 0 {
                if e.seq <= deploy.lastSeq { return [] }
                return [.resync]
            }
            let dropped = deploy.logDropped ?? 0
            let outputBefore = outputHit != nil && outputStage < deploy.stages.count ? deploy.stages[outputStage].output.count : 0
            Reducer.reduce(&deploy, e)
            // A stage keeps its newest lines: an output match moves with its line (one line per event).
            if let hit = outputHit, case let .stageOutput(name, _) = e.payload, outputStage < deploy.stages.count, deploy.stages[outputStage].name == name {
                let after = deploy.stages[outputStage].output.count
                if after <= outputBefore { let at = hit - (outputBefore + 1 - after); outputHit = at >= 0 ? at : nil }
            }
            // The log keeps its newest lines: a search's match moves with its entry.
            if let hit = searchHit, let now = deploy.logDropped, now != dropped {
                let at = hit - (now - dropped)
                searchHit = at >= 0 ? at : nil
                if at < 0, mode == .normal { message = ("the match left the kept team log: n finds the next", false) }
            }
            // The state moved on: a message about the one before goes (a refusal must not
            // stay on screen as if it were about what is shown now).
            switch e.payload {
            case .stepStarted, .deployFinished, .deployPaused, .deployResumed, .stageFinished, .trafficSet:
                if mode == .normal { message = nil }
            default: break
            }
            if case let .commandRejected(action, by, why) = e.payload, by == user {
                message = ("can't \(action.rawValue): \(why)", true)
            }
            if now < e.ts { now = e.ts }
            return []
        case let .resync(s):
            deploy = s
            return []
        case let .notice(text, isError):
            message = (text, isError)
            return []
        case let .tmuxClients(list):
            tmuxClients = list
            return []
        case let .tick(t):
            now = t
            return []
        case let .resize(w, h):
            width = w; height = h
            return []
        case let .key(k):
            return handleKey(k)
        }
    }

    /// Why the command behind `action` does not apply now (nil if it does).
    public func refusal(_ action: UIAction) -> String? {
        if role == .viewer, action.isActing { return UIModel.viewerRefusal }
        switch action {
        case .togglePause:
            return deploy.paused != nil ? RolloutLogic.refusal(.resume, in: deploy) : RolloutLogic.refusal(.pause, in: deploy)
        case .say: return nil
        case .open: return focus == .pipeline && !deploy.stages.isEmpty ? nil : "Enter opens a stage's output: 1 (or tab) focuses the pipeline pane first"
        default:
            guard let cmd = Keymap.bindings.first(where: { $0.action == action })?.command else { return nil }
            return RolloutLogic.refusal(cmd, in: deploy, text: "x")
        }
    }

    private mutating func handleKey(_ k: Key) -> [UIEffect] {
        if k == .resize { return [] }
        if case let .mouse(ev) = k { mouse(ev); return [] }
        switch mode {
        case let .palette(text):
            return paletteKey(k, text: text)
        case .help:
            switch k {
            case .escape, .char("?"), .char("q"), .enter: mode = .normal
            case .up, .char("k"): helpScroll = max(0, helpScroll - 1)
            case .down, .char("j"): helpScroll = min(Overlays.helpScrollLimit(self), helpScroll + 1)
            case .pageUp: helpScroll = max(0, helpScroll - page)
            case .pageDown: helpScroll = min(Overlays.helpScrollLimit(self), helpScroll + page)
            case .home: helpScroll = 0
            default: break
            }
            return []
        case let .confirm(action, typed):
            switch LineEdit.apply(k, to: typed, cursor: &cursor, limit: 40) {
            case .cancel:
                mode = .normal
                message = ("\(action.rawValue) cancelled", false)
                return []
            case let .update(t): mode = .confirm(action, typed: t); message = nil; return []
            case let .submit(t):
                guard confirms(t, action) else {
                    message = ("type \(confirmWords(action).joined(separator: " or ")), then Enter (Esc cancels)", true)
                    return []
                }
                mode = .normal
                message = ("sent \(action.rawValue)", false)
                return [.send(Command(action, by: user))]
            }
        case let .revertReason(text):
            switch LineEdit.apply(k, to: text, cursor: &cursor) {
            case .cancel: mode = .normal; message = nil; return []
            case let .update(t): mode = .revertReason(t); return []
            case let .submit(reason):
                let r = reason.trimmingCharacters()
                if r.isEmpty { message = ("a revert needs a reason for the team log", true); return [] }
                mode = .revertConfirm(reason: r, typed: "")
                cursor = 0
                message = nil
                return []
            }
        case let .revertConfirm(reason, typed, candidate):
            switch LineEdit.apply(k, to: typed, cursor: &cursor, limit: 40) {
            case .cancel: mode = .normal; message = (candidate == nil ? "revert cancelled" : "take-out cancelled", false); return []
            case let .update(t): mode = .revertConfirm(reason: reason, typed: t, candidate: candidate); message = nil; return []
            case let .submit(t):
                let words = candidate.map { ["revert", $0] } ?? confirmWords(.revert)
                let typed = t.trimmingCharacters()
                guard candidate == nil ? confirms(t, .revert) : words.contains(where: { $0 == typed || $0.lowercased() == typed.lowercased() }) else {
                    message = ("type \(words.joined(separator: " or ")), then Enter (Esc cancels)", true)
                    return []
                }
                // The others went out while the dialog was open: taking this one out now would
                // revert the deploy, which is not what was confirmed.
                if let candidate, deploy.liveCandidates.count < 2 {
                    mode = .normal
                    message = ("not sent: \(candidate) is the last candidate in rotation now; taking it out reverts the deploy: :revert <reason>", true)
                    return []
                }
                mode = .normal
                message = (candidate.map { "sent: take \($0) out" } ?? "sent revert", false)
                return [.send(Command(.revert, by: user, text: reason, candidate: candidate))]
            }
        case let .stageOutput(stage, scroll):
            let count = deploy.stages.count
            let lines = stage < count ? deploy.stages[stage].output.count : 0
            let page = max(1, height - 8)
            switch k {
            case .escape where outputTerm != nil:
                outputTerm = nil; outputHit = nil
            case .escape, .enter, .char("q"): mode = .normal; outputTerm = nil; outputHit = nil
            case .char("/"):
                searchInOutput = true
                outputStage = stage
                mode = .search(outputTerm ?? "")
                cursor = (outputTerm ?? "").count
            case .char("n"), .char("N"):
                guard outputTerm != nil else { message = ("no search yet: / to search this output", true); break }
                findOutputMatch(stage: stage, older: k == .char("n"))
            case .up, .char("k"): mode = .stageOutput(stage: stage, scroll: min(max(0, lines - 1), scroll + 1))
            case .down, .char("j"): mode = .stageOutput(stage: stage, scroll: max(0, scroll - 1))
            case .pageUp: mode = .stageOutput(stage: stage, scroll: min(max(0, lines - 1), scroll + page))
            case .pageDown: mode = .stageOutput(stage: stage, scroll: max(0, scroll - page))
            case .home: mode = .stageOutput(stage: stage, scroll: max(0, lines - 1))
            case .end: mode = .stageOutput(stage: stage, scroll: 0)
            case .left: mode = .stageOutput(stage: max(0, stage - 1), scroll: 0); outputHit = nil
            case .right: mode = .stageOutput(stage: min(max(0, count - 1), stage + 1), scroll: 0); outputHit = nil
            default: break
            }
            return []
        case let .search(text):
            switch LineEdit.apply(k, to: text, cursor: &cursor, limit: 100) {
            case .cancel where searchInOutput:
                mode = .stageOutput(stage: outputStage, scroll: 0)
                searchInOutput = false
                return []
            case .cancel: mode = .normal; return []
            case let .update(t): mode = .search(t); return []
            case let .submit(t) where searchInOutput:
                // A search in a stage's output: back to that output at its newest match.
                let term = t.trimmingCharacters()
                mode = .stageOutput(stage: outputStage, scroll: 0)
                searchInOutput = false
                outputTerm = term.isEmpty ? nil : term
                outputHit = nil
                if outputTerm == nil { return [] }
                findOutputMatch(stage: outputStage, older: true)
                return []
            case let .submit(t):
                mode = .normal
                let term = t.trimmingCharacters()
                guard !term.isEmpty else { searchTerm = nil; searchHit = nil; return [] }
                searchTerm = term
                searchHit = nil
                focus = .team
                findMatch(older: true)
                return []
            }
        case let .chat(text):
            switch LineEdit.apply(k, to: text, cursor: &cursor) {
            case .cancel:
                // Esc keeps the draft: m opens it again where it was.
                chatDraft = text
                mode = .normal
                message = text.isEmpty ? nil : ("draft kept: \(Keymap.key(for: .say)) to go on with it", false)
                return []
            case let .update(t): mode = .chat(t); return []
            case let .submit(line):
                mode = .normal
                chatDraft = ""
                let t = line.trimmingCharacters()
                return t.isEmpty ? [] : [.send(Command(.say, by: user, text: t))]
            }
        case .normal:
            message = nil
            // Esc ends a search (the team log follows the newest lines again).
            if k == .escape, searchTerm != nil { searchTerm = nil; searchHit = nil; return [] }
            if k == .escape, zoomed { zoomed = false; return [] }
            if k == .escape, escapeReturns { return [.quit] }
            if case .paste = k {
                // A paste outside a text field does nothing, and says so.
                message = ("a paste does nothing here: press \(Keymap.key(for: .say)) to type into the team log first", true)
                return []
            }
            guard let b = Keymap.binding(for: k) else { return [] }
            return perform(b, key: k)
        }
    }

    /// Why an acting binding is not carried out now (a replay, a viewer, a refusal), said
    /// in this person's footer; nil when it goes ahead.
    mutating func gate(_ action: UIAction) -> [UIEffect]? {
        guard let b = Keymap.bindings.first(where: { $0.action == action }) else { return [] }
        if replay, b.action.isActing || b.action == .say {
            message = ("a replay acts on nothing: \(b.label) (\(b.short)) is a live key; ? shows the replay's keys", true)
            return []
        }
        if role == .viewer, b.action.isActing {
            message = (UIModel.viewerRefusal, true)
            return []
        }
        if b.action.isActing, let why = refusal(b.action) {
            message = ("can't \(b.short): \(why)", true)
            return []
        }
        return nil
    }

    /// What a binding does in the normal view (a key, or the palette's command).
    mutating func perform(_ b: KeyBinding, key k: Key) -> [UIEffect] {
            // A key that does not apply now is answered here, in this person's footer: a
            // mistaken key is not a line in everyone's team log.
            if let refused = gate(b.action) { return refused }
            switch b.action {
            case .quit: return [.quit]
            case .help: mode = .help; helpScroll = 0; return []
            case .focusNext:
                let all = PaneID.allCases
                let step = k == .backTab ? all.count - 1 : 1
                focus = all[(focus.rawValue + step) % all.count]
                return []
            case .focusPane:
                if case let .char(c) = k, let d = c.wholeNumberValue, let pane = PaneID(rawValue: d - 1) { focus = pane }
                return []
            case .scrollUp: scrollBy(1); return []
            case .scrollDown: scrollBy(-1); return []
            case .pageUp: scrollBy(page); return []
            case .pageDown: scrollBy(-page); return []
            case .oldest: scrollBy(Int.max / 2); return []
            case .live: scroll[focus] = 0; return []
            case .zoom: zoomed.toggle(); return []
            case .palette: mode = .palette(""); cursor = 0; paletteChoices = []; historyAt = nil; return []
            case .search:
                // In the pipeline pane, / searches the shown stage's output (in its own view).
                if focus == .pipeline, let i = shownStageIndex, !deploy.stages[i].output.isEmpty {
                    searchInOutput = true; outputStage = i; outputTerm = nil; outputHit = nil
                    mode = .search(""); cursor = 0
                    return []
                }
                searchInOutput = false
                mode = .search(searchTerm ?? ""); cursor = (searchTerm ?? "").count; return []
            case .nextMatch, .previousMatch:
                guard searchTerm != nil else { message = ("no search yet: / to search the team log", true); return [] }
                findMatch(older: b.action == .nextMatch)
                return []
            case .say: mode = .chat(chatDraft); cursor = chatDraft.count; return []
            case .togglePause:
                let action: Action = deploy.paused != nil ? .resume : .pause
                return [.send(Command(action, by: user))]
            case .promote, .retry:
                let action = b.command!
                // Retrying a reverted version, promoting past a person's hold, or promoting a step
                // the judge has not passed (undecided, or held on a fail) asks for the word.
                // (The engine's hold too: a promote past it overrides what was done to the router.)
                let personHold = action == .promote && deploy.paused.map { $0.by != "judge" } ?? false
                let undecided = action == .promote && !deploy.judgePassedStep
                if RolloutLogic.refusal(action, in: deploy) == nil, action == .retry || personHold || undecided {
                    mode = .confirm(action, typed: "")
                    cursor = 0
                    return []
                }
                return [.send(Command(action, by: user))]
            case .open:
                guard focus == .pipeline, let i = shownStageIndex else { return [] }
                mode = .stageOutput(stage: i, scroll: 0)
                return []
            case .cancelStage:
                if RolloutLogic.refusal(.cancel, in: deploy) != nil { return [.send(Command(.cancel, by: user))] }
                mode = .confirm(.cancel, typed: "")
                cursor = 0
                return []
            case .promoteFull, .revert:
                let action = b.command!
                // A refused dangerous command is sent anyway, so the refusal is logged for all.
                if RolloutLogic.refusal(action, in: deploy) != nil { return [.send(Command(action, by: user))] }
                mode = action == .revert ? .revertReason("") : .confirm(action, typed: "")
                cursor = 0
                return []
            }
    }

    /// The mouse points and scrolls, nothing more: a click focuses the pane under it, the
    /// wheel scrolls the pane under it (help and a stage's output while they are open).
    /// Over a dialog or a text field it does nothing, so a click never confirms or sends.
    mutating func mouse(_ ev: Mouse) {
        let wheel: Int? = { switch ev.kind { case .wheelUp: return 3; case .wheelDown: return -3; case .press: return nil } }()
        switch mode {
        case .help:
            if let w = wheel { helpScroll = min(Overlays.helpScrollLimit(self), max(0, helpScroll - w)) }
        case let .stageOutput(stage, scroll):
            if let w = wheel {
                let lines = stage < deploy.stages.count ? deploy.stages[stage].output.count : 0
                mode = .stageOutput(stage: stage, scroll: min(max(0, lines - 1), max(0, scroll + w)))
            }
        case .normal:
            guard let pane = pane(atX: ev.x, y: ev.y) else { return }
            focus = pane
            message = nil
            if let w = wheel { scrollBy(w) }
        default: return
        }
    }

    /// The pane drawn at a cell, if any.
    public func pane(atX x: Int, y: Int) -> PaneID? {
        currentRects.first { $0.1.contains(x: x, y: y) }?.0
    }

    /// The panes as they are drawn now.
    var currentRects: [(PaneID, Rect)] {
        let kind = layout ?? LayoutKind.choose(width: width, height: height)
        if kind == .compact { return [] }
        return zoomed ? [(focus, Rect(x: 0, y: 1, width: width, height: height - 2))] : Screen.paneRects(kind: kind, width: width, height: height, model: self)
    }
}

extension UIModel {
    /// Whether a team-log entry matches the search (case-insensitive).
    public func matches(_ e: LogEntry) -> Bool {
        guard let t = searchTerm else { return false }
        let needle = t.lowercased()
        return e.text.lowercased().contains(needle) || e.who.lowercased().contains(needle)
    }

    /// The matching entries, oldest first.
    public var searchMatches: [Int] { deploy.log.indices.filter { matches(deploy.log[$0]) && passesFilter(deploy.log[$0]) } }

    /// The team-log entries the pane shows: up to a search's match, through the filter.
    public var shownLog: [LogEntry] {
        let upto = (searchTerm == nil ? nil : searchHit).map { hit in deploy.log.isEmpty ? [] : Array(deploy.log[...min(max(0, hit), deploy.log.count - 1)]) } ?? deploy.log
        return filterTerm == nil ? upto : upto.filter(passesFilter)
    }

    /// Moves to the next older (or newer) match, or says there is none.
    mutating func findMatch(older: Bool) {
        let all = searchMatches
        guard !all.isEmpty else { message = ("no \"\(searchTerm ?? "")\" in the team log", true); searchHit = nil; return }
        if let at = searchHit {
            if older, let i = all.last(where: { $0 < at }) { searchHit = i }
            else if !older, let i = all.first(where: { $0 > at }) { searchHit = i }
            else { message = (older ? "no older match" : "no newer match: Esc to follow the log again", false) }
        } else {
            searchHit = all.last
        }
    }

    /// The stage the pipeline pane is about: the running one, else the one that failed, else the last that ran.
    var shownStageIndex: Int? {
        // The same stage the pane shows the output of.
        guard !deploy.stages.isEmpty else { return nil }
        return deploy.stages.firstIndex { $0.status == .running }
            ?? deploy.stages.firstIndex { $0.status == .failed || $0.status == .cancelled }
            ?? deploy.stages.lastIndex { !$0.output.isEmpty }
            ?? (deploy.stages.lastIndex { $0.status != .pending } ?? 0)
    }

    /// Whether a stage-output line matches a search in the output (case-insensitive).
    public func outputMatches(_ line: String) -> Bool {
        guard let t = outputTerm else { return false }
        return line.lowercased().contains(t.lowercased())
    }

    /// The matching lines of a stage's kept output, oldest first.
    public func outputMatchLines(stage i: Int) -> [Int] {
        guard i < deploy.stages.count else { return [] }
        let out = deploy.stages[i].output
        return out.indices.filter { outputMatches(out[$0]) }
    }

    /// Moves the stage-output view to the next older (or newer) match: that line at the bottom.
    mutating func findOutputMatch(stage i: Int, older: Bool) {
        let all = outputMatchLines(stage: i)
        guard !all.isEmpty, i < deploy.stages.count else { message = ("no \"\(outputTerm ?? "")\" in this output", true); outputHit = nil; return }
        var hit = all.last!
        if let at = outputHit {
            if older, let h = all.last(where: { $0 < at }) { hit = h }
            else if !older, let h = all.first(where: { $0 > at }) { hit = h }
            else { message = (older ? "no older match" : "no newer match", false); hit = at }
        }
        outputHit = hit
        mode = .stageOutput(stage: i, scroll: max(0, deploy.stages[i].output.count - 1 - hit))
    }

    /// Half the screen: what PgUp and PgDn move.
    var page: Int { max(1, (height - 4) / 2) }

    /// How far the focused pane can scroll back: its lines, less one (nothing moves past the oldest).
    public var scrollLimit: Int {
        switch focus {
        case .team:
            // In screen rows, as the pane scrolls: up to the oldest line at the pane's top.
            guard let rect = currentRects.first(where: { $0.0 == .team })?.1 else { return 0 }
            let inner = rect.inner
            let rows = shownLog.reduce(0) { $0 + TeamPane.layout($1, width: max(1, inner.width - 2), glyphs: glyphs, zone: zone).count }
            return max(0, rows - inner.height)
        case .pipeline:
            let shown = deploy.runningStage ?? deploy.failedStage ?? deploy.stages.last(where: { !$0.output.isEmpty })
            return max(0, (shown?.output.count ?? 0) - 1)
        case .traffic, .errors: return 0
        }
    }

    mutating func scrollBy(_ n: Int) {
        let now = scroll[focus] ?? 0
        scroll[focus] = min(scrollLimit, max(0, n > 0 ? min(now + n, Int.max / 2) : now + n))
    }
}

/// A one-line text field's answer to a key.
extension UIModel {
    /// What confirms a dangerous action: its word, or the new version's name.
    public func confirmWords(_ action: Action) -> [String] {
        let word: String
        switch action {
        case .promoteFull, .promote: word = "promote"
        case .revert: word = "revert"
        case .retry: word = "retry"
        case .cancel: word = "cancel"
        default: word = action.rawValue
        }
        if action == .cancel { return [word] + (deploy.runningStage.map { [$0.name] } ?? []) }
        return deploy.to.name.isEmpty ? [word] : [word, deploy.to.name]
    }

    func confirms(_ typed: String, _ action: Action) -> Bool {
        let t = typed.trimmingCharacters()
        return confirmWords(action).contains { $0 == t || $0 == t.lowercased() }
    }
}

/// A one-line text field (chat, revert reason, a confirm dialog's word): only a lone Esc
/// cancels; Enter submits what is typed; pastes are text; escape sequences are ignored.
/// Editing as in a shell: ←/→, Home/End (Ctrl-A/Ctrl-E), Backspace before the cursor,
/// Ctrl-U to the start, Ctrl-W the word before the cursor. Nothing is cut silently: a field
/// at its limit takes no more and the footer shows the count near it.
public enum LineEdit {
    case cancel, update(String), submit(String)
    public static let chatLimit = 300

    public static func apply(_ k: Key, to text: String, cursor: inout Int, limit: Int = LineEdit.chatLimit) -> LineEdit {
        var chars = Array(text)
        var at = min(max(0, cursor), chars.count)
        defer { cursor = at }
        switch k {
        case .escape: return .cancel
        case .enter: return .submit(text)
        case .left: at = max(0, at - 1)
        case .right: at = min(chars.count, at + 1)
        case .home, .other(1): at = 0
        case .end, .other(5): at = chars.count
        case .backspace, .other(8), .other(127):
            guard at > 0 else { break }
            chars.remove(at: at - 1); at -= 1
        case .other(21): // Ctrl-U
            chars.removeSubrange(0..<at); at = 0
        case .other(23): // Ctrl-W
            var i = at
            while i > 0, chars[i - 1].isWhitespace { i -= 1 }
            while i > 0, !chars[i - 1].isWhitespace { i -= 1 }
            chars.removeSubrange(i..<at); at = i
        case let .char(c):
            guard chars.count < limit else { break }
            chars.insert(c, at: at); at += 1
        case let .paste(p):
            let room = max(0, limit - chars.count)
            let taken = Array(p.prefix(room))
            chars.insert(contentsOf: taken, at: at); at += taken.count
        default: break
        }
        return .update(String(chars))
    }
}

extension String {
    func trimmingCharacters() -> String {
        var s = Substring(self)
        while let f = s.first, f.isWhitespace { s.removeFirst() }
        while let l = s.last, l.isWhitespace { s.removeLast() }
        return String(s)
    }
}
