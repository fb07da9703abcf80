/// A key press, as the terminal reports it.
public enum Key: Sendable, Hashable {
    case char(Character)
    case enter, escape, tab, backTab, backspace
    case up, down, left, right, pageUp, pageDown, home, end
    case resize
    case other(Int)
    /// Text pasted with bracketed paste (newlines and controls already made spaces): text, never keys.
    case paste(String)
    /// An escape sequence nothing is bound to (ESC followed at once by more bytes): ignored.
    case sequence
    /// A mouse report (SGR 1006): a press of a button, or the wheel, at a cell (0-based).
    case mouse(Mouse)

    public static let space = Key.char(" ")
}

/// What the mouse did, where. Only pointing and scrolling: a click never acts on a deploy.
public struct Mouse: Sendable, Hashable {
    public enum Kind: Sendable, Hashable { case press(button: Int), wheelUp, wheelDown }
    public var kind: Kind
    public var x: Int
    public var y: Int
    public init(_ kind: Kind, x: Int, y: Int) { self.kind = kind; self.x = x; self.y = y }

    /// Reads the parameters of an SGR mouse report, `ESC [ < b ; x ; y M` (press) or `m`
    /// (release, ignored): nil for anything else. Coordinates are 1-based on the wire and
    /// checked (1…10,000); a button with the motion bit (drag) is not a press.
    public static func parseSGR(_ params: String, final: Character) -> Mouse? {
        guard final == "M", params.first == "<" else { return nil }
        let parts = params.dropFirst().split(separator: ";", omittingEmptySubsequences: false)
        guard parts.count == 3, parts.allSatisfy({ !$0.isEmpty && $0.count <= 5 && $0.allSatisfy(\.isASCII) && $0.allSatisfy(\.isNumber) }),
              let b = Int(parts[0]), let x = Int(parts[1]), let y = Int(parts[2]), (1...10_000).contains(x), (1...10_000).contains(y) else { return nil }
        if b & 32 != 0 { return nil } // motion while a button is held
        switch b & ~(4 | 8 | 16) { // shift, meta, control do not change what the mouse did
        case 64: return Mouse(.wheelUp, x: x - 1, y: y - 1)
        case 65: return Mouse(.wheelDown, x: x - 1, y: y - 1)
        case 0, 1, 2: return Mouse(.press(button: (b & 3) + 1), x: x - 1, y: y - 1)
        default: return nil
        }
    }
}

/// What a key binding does in the normal view.
public enum UIAction: String, Sendable, CaseIterable {
    case promote, promoteFull, togglePause, revert, retry, cancelStage, say, help, quit, focusNext, scrollUp, scrollDown, open
    case pageUp, pageDown, oldest, live, zoom, search, nextMatch, previousMatch, palette, focusPane

    /// Moves traffic or the rollout (refused to viewers).
    public var isActing: Bool { [.promote, .promoteFull, .togglePause, .revert, .retry, .cancelStage].contains(self) }
}

/// One binding: keys, the label shown in the footer, and the help line.
public struct KeyBinding: Sendable {
    public var keys: [Key]
    public var label: String
    public var short: String
    public var help: String
    public var action: UIAction

    /// The deploy command it sends, if any.
    public var command: Action? {
        switch action {
        case .promote: return .promote
        case .promoteFull: return .promoteFull
        case .revert: return .revert
        case .retry: return .retry
        case .cancelStage: return .cancel
        case .say: return .say
        default: return nil
        }
    }
}

import FridayCore
import Synchronization

/// The keymap: every binding carries its own help, so the footer and `?` are built from it.
public enum Keymap {
    /// The bindings in use: the defaults, or the user config's `[keys]` once installed.
    public static var bindings: [KeyBinding] { current.withLock { $0 } }
    private static let current = Mutex(defaults)

    /// Puts the user's keys in place of the defaults (already checked: `UserConfig`).
    public static func install(_ keys: [UIAction: [Key]]) {
        current.withLock { list in
            list = defaults.map { b in
                guard let k = keys[b.action], !k.isEmpty else { return b }
                var nb = b
                nb.keys = k
                nb.label = k.map(Keymap.name).joined(separator: "/")
                return nb
            }
        }
    }

    /// The key that does `action` now, as hints in the panes name it ("p", "space").
    public static func key(for action: UIAction) -> String {
        guard let b = bindings.first(where: { $0.action == action }), let k = b.keys.first else { return "?" }
        return name(k)
    }

    /// Back to the defaults (tests).
    public static func reset() { current.withLock { $0 = defaults } }

    /// A key as the config and the help write it.
    public static func name(_ k: Key) -> String {
        switch k {
        case .char(" "): return "space"
        case let .char(c): return String(c)
        case .enter: return "Enter"
        case .escape: return "Esc"
        case .tab: return "tab"
        case .backTab: return "shift-tab"
        case .backspace: return "Backspace"
        case .up: return "↑"
        case .down: return "↓"
        case .left: return "←"
        case .right: return "→"
        case .pageUp: return "PgUp"
        case .pageDown: return "PgDn"
        case .home: return "Home"
        case .end: return "End"
        default: return "?"
        }
    }

    /// A key from the config: one character, or space, enter, tab, up, down, left, right,
    /// pgup, pgdn, home, end.
    public static func key(named text: String) -> Key? {
        let named: [String: Key] = ["space": .space, "enter": .enter, "tab": .tab, "up": .up, "down": .down, "left": .left, "right": .right,
                                    "pgup": .pageUp, "pgdn": .pageDown, "home": .home, "end": .end]
        if let k = named[text.lowercased()] { return k }
        guard text.count == 1, TerminalText.isPlain(text), let c = text.first, let u = c.unicodeScalars.first, u.value >= 0x21, u.value != 0x7F, c.unicodeScalars.count == 1 else { return nil }
        return .char(c)
    }

    public static let defaults: [KeyBinding] = [
        KeyBinding(keys: [.char("p")], label: "p", short: "promote", help: "promote: end this pause and go to the next step", action: .promote),
        KeyBinding(keys: [.char("P")], label: "P", short: "to 100%", help: "promote full: go to 100% now, skipping the remaining steps (confirm)", action: .promoteFull),
        KeyBinding(keys: [.space], label: "space", short: "pause", help: "pause / resume: hold the current weights; timers stop", action: .togglePause),
        KeyBinding(keys: [.char("r")], label: "r", short: "revert", help: "revert: new version to 0% at once, with a reason (confirm)", action: .revert),
        KeyBinding(keys: [.char("R")], label: "R", short: "retry", help: "retry: start a reverted or failed rollout again from its first step", action: .retry),
        KeyBinding(keys: [.char("c")], label: "c", short: "cancel stage", help: "cancel the running pipeline stage: its whole process group is stopped (confirm)", action: .cancelStage),
        KeyBinding(keys: [.enter], label: "Enter", short: "output", help: "in the pipeline pane: a stage's whole output, scrollable (←/→ another stage)", action: .open),
        KeyBinding(keys: [.char("m")], label: "m", short: "say", help: "say: type a line for the team log", action: .say),
        KeyBinding(keys: [.tab, .backTab], label: "tab", short: "focus", help: "move focus to the next pane", action: .focusNext),
        KeyBinding(keys: [.char("1"), .char("2"), .char("3"), .char("4")], label: "1-4", short: "pane",
                   help: "focus a pane by the digit in its title: 1 pipeline, 2 traffic, 3 errors, 4 team", action: .focusPane),
        KeyBinding(keys: [.up, .char("k")], label: "↑/k", short: "scroll", help: "scroll the focused pane up (older)", action: .scrollUp),
        KeyBinding(keys: [.down, .char("j")], label: "↓/j", short: "scroll", help: "scroll the focused pane down (newer)", action: .scrollDown),
        KeyBinding(keys: [.pageUp], label: "PgUp", short: "page", help: "scroll the focused pane a page up", action: .pageUp),
        KeyBinding(keys: [.pageDown], label: "PgDn", short: "page", help: "scroll the focused pane a page down", action: .pageDown),
        KeyBinding(keys: [.home], label: "Home", short: "oldest", help: "the focused pane's oldest line", action: .oldest),
        KeyBinding(keys: [.end, .char("G")], label: "End/G", short: "live", help: "back to live: the focused pane follows the newest lines again", action: .live),
        KeyBinding(keys: [.char("/")], label: "/", short: "search", help: "search the focused pane: the team log, or in the pipeline pane the shown stage's output; Enter shows the newest match", action: .search),
        KeyBinding(keys: [.char("n")], label: "n", short: "older match", help: "after a search: the next older match (Esc ends the search)", action: .nextMatch),
        KeyBinding(keys: [.char("N")], label: "N", short: "newer match", help: "after a search: the next newer match", action: .previousMatch),
        KeyBinding(keys: [.char(":")], label: ":", short: "commands", help: "command palette: promote, pause, resume, revert <reason>, retry, say <text>, theme <name>, filter <text>, quit (Tab completes, ↑/↓ history)", action: .palette),
        KeyBinding(keys: [.char("z")], label: "z", short: "zoom", help: "zoom: the focused pane on the whole screen (z again: all panes)", action: .zoom),
        KeyBinding(keys: [.char("?")], label: "?", short: "help", help: "show or hide this help", action: .help),
        KeyBinding(keys: [.char("q")], label: "q", short: "quit", help: "quit the screen (run and attach: the engine and the deploy go on; friday stop ends them)", action: .quit),
    ]

    public static func binding(for key: Key) -> KeyBinding? { bindings.first { $0.keys.contains(key) } }
}
