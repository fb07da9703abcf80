import ArgumentParser
import Foundation
import FridayCore
import FridayEngine
import FridayTerminal
import FridayUI

/// `friday replay LOG`: plays a recorded deploy in the dashboard, or prints a post-mortem.
struct Replay: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Replay a recorded deploy, or print its post-mortem with --summary.",
        discussion: "Keys: space play/pause, +/- faster/slower, ←/→ one event, [ ] one minute, g/G start/end, q quit."
    )

    @Argument(help: "The event log of a deploy (with --store: the deploy's id).", completion: .file(extensions: ["jsonl"]))
    var log: String

    @Option(help: "Read the deploy from a shared store (postgres://USER@HOST:PORT/DATABASE) instead of a file.")
    var store: String?

    @Flag(help: "Print a post-mortem in Markdown instead of playing.")
    var summary = false

    @Option(help: "Theme name or path.")
    var theme: String?

    @Flag(help: "Draw with plain ASCII.")
    var ascii = false

    @Flag(help: "Leave the mouse to the terminal (no click to focus, no wheel scrolling).")
    var noMouse = false

    func run() async throws {
        let read: (events: [DeployEvent], problem: LogError?)
        if let store {
            let events = try await storedEvents(of: log, store: try storeAddress(store)!)
            read = (events, nil)
        } else {
            do { read = try EventLog.readEvents(path: log) } catch { throw ExitWith(message: error.description) }
        }
        if summary {
            // A file that holds no event is not a deploy's log: say so rather than an empty post-mortem.
            guard !read.events.isEmpty else {
                throw ExitWith(message: "\(TerminalText.neutralise(log)): no events: not a friday event log\(read.problem.map { " (\(TerminalText.neutralise($0.message)))" } ?? "")")
            }
            Plain.out(PostMortem.markdown(read.events, problem: read.problem?.description), terminator: "")
            return
        }
        guard !read.events.isEmpty else { throw ExitWith(message: "\(log): no events to replay\(read.problem.map { " (\($0.message))" } ?? "")") }
        let chosen: Theme
        let settings = UserSettings.load()
        do { chosen = try ThemeLoader.load(theme ?? settings.theme ?? "default") } catch { throw ExitWith(message: "\(error)") }
        let player = ReplayPlayer(events: read.events, theme: chosen, ascii: ascii, notice: read.problem.map { "log ends early: \($0.description)" },
                                  mouse: !noMouse && (settings.mouse ?? true), zone: UserSettings.clockZone(settings))
        let outcome = await withCheckedContinuation { cont in
            let t = Thread { cont.resume(returning: player.run()) }
            t.start()
        }
        switch outcome {
        case .quit: break
        case let .signal(sig): throw ExitCode(128 + sig)
        case let .failed(m): throw ExitWith(message: m)
        }
    }
}

/// Plays events through the dashboard: a position in the event list, playing or not, at a speed.
final class ReplayPlayer: @unchecked Sendable {
    let events: [DeployEvent]
    let theme: Theme
    let ascii: Bool
    let notice: String?
    let mouse: Bool
    let zone: ClockZone
    /// States every 1,000 events, so stepping back does not fold from the start.
    private var checkpoints: [Int: DeployState] = [:]

    init(events: [DeployEvent], theme: Theme, ascii: Bool, notice: String?, mouse: Bool = true, zone: ClockZone = .utc) {
        self.events = events; self.theme = theme; self.ascii = ascii; self.notice = notice; self.mouse = mouse; self.zone = zone
    }

    /// The state after the first `count` events.
    func state(after count: Int) -> DeployState {
        let base = (count / 1000) * 1000
        var s = checkpoints[base] ?? DeployState()
        var from = checkpoints[base] != nil ? base : 0
        if checkpoints[base] == nil {
            // Build checkpoints up to here.
            var k = 0
            s = DeployState()
            while k < base {
                Reducer.reduce(&s, events[k]); k += 1
                if k % 1000 == 0 { checkpoints[k] = s }
            }
            from = base
        }
        for i in from..<count { Reducer.reduce(&s, events[i]) }
        return s
    }

    func run() -> Dashboard.Outcome {
        let mailbox = Mailbox()
        let signals = SignalWatch(mailbox: mailbox)
        defer { signals.cancel() }
        let noColor = !(ProcessInfo.processInfo.environment["NO_COLOR"] ?? "").isEmpty
        let term: CursesTerminal
        do { term = try CursesTerminal(theme: theme, noColor: noColor, mouse: mouse) } catch {
            return .failed("friday replay needs a terminal (\(error)); try `friday replay LOG --summary`")
        }
        defer { term.restore() }
        let speeds: [Double] = [0.5, 1, 2, 4, 8, 16, 32, 64, 128]
        var speedIndex = 3
        var playing = false
        var position = 1 // events applied
        let start = events[0].ts
        var playhead = events[0].ts // the replayed clock while playing
        var model = UIModel(now: start, user: "you", glyphs: ascii ? .ascii : term.glyphs, width: term.size.width, height: term.size.height, sourceLabel: "replay")
        model.replay = true
        model.zone = zone
        model.themeNames = ThemeLoader.available()
        model.themeName = theme.name
        // The model's answer to a key: the palette can quit or change the theme.
        func handled(_ k: Key) -> Bool {
            for effect in model.update(.key(k)) {
                switch effect {
                case .quit: return true
                case let .theme(name):
                    do { term.setTheme(try ThemeLoader.load(name)) } catch { _ = model.update(.notice("theme \(name): \(error)", isError: true)) }
                case .send, .resync: break
                }
            }
            return false
        }
        var lastWall = ContinuousClock.now
        func moveTo(_ p: Int) {
            position = min(max(1, p), events.count)
            model.deploy = state(after: position)
            playhead = events[position - 1].ts
        }
        moveTo(1)
        while true {
            while let k = term.pollKey() {
                // A field or a dialog open (search, the palette, help) takes every key: the
                // player's keys are letters that would otherwise quit or jump mid-word.
                if model.mode != .normal {
                    if handled(k) { return .quit }
                    continue
                }
                switch k {
                case .char("q"): return .quit
                case .char(" "): playing.toggle(); lastWall = ContinuousClock.now
                case .char("+"), .char("="), .char(">"): speedIndex = min(speeds.count - 1, speedIndex + 1)
                case .char("-"), .char("<"): speedIndex = max(0, speedIndex - 1)
                case .right, .char("l"): playing = false; moveTo(position + 1)
                case .left, .char("h"): playing = false; moveTo(position - 1)
                case .char("]"), .pageDown:
                    let target = events[position - 1].ts + 60
                    moveTo((events.firstIndex { $0.ts > target } ?? events.count))
                case .char("["), .pageUp:
                    let target = events[position - 1].ts + -60
                    moveTo(max(1, (events.lastIndex { $0.ts <= target } ?? 0) + 1))
                case .char("g"), .home: playing = false; moveTo(1)
                case .char("G"), .end: playing = false; moveTo(events.count)
                case .resize: break
                default: if handled(k) { return .quit } // tab, scrolling, help, search, the palette
                }
            }
            let (_, signal, _) = mailbox.drain()
            if let signal { return .signal(signal) }
            if playing {
                let now = ContinuousClock.now
                let dt = now - lastWall
                lastWall = now
                playhead = playhead + (Double(dt.components.seconds) + Double(dt.components.attoseconds) * 1e-18) * speeds[speedIndex]
                var p = position
                while p < events.count, events[p].ts <= playhead { p += 1 }
                if p != position { position = p; model.deploy = state(after: position) }
                if position == events.count { playing = false }
            }
            let size = term.size
            model.width = size.width
            model.height = size.height
            model.now = playing ? playhead : events[position - 1].ts
            let fraction = Double(position) / Double(events.count)
            let barW = 20
            let filled = Int((fraction * Double(barW)).rounded())
            let bar = String(repeating: model.glyphs.barFull, count: filled) + String(repeating: model.glyphs.barEmpty, count: barW - filled)
            let state = playing ? "▶ \(format1(speeds[speedIndex]))x" : "❚❚ \(format1(speeds[speedIndex]))x"
            model.replayBar = "REPLAY \(state) \(bar) event \(position)/\(events.count) \(model.now.clockText) +\(formatDuration(model.now - start))  "
                + (notice.map { "\($0)  " } ?? "") + "space play  ←/→ event  [ ] minute  +/- speed  g/G ends  q quit"
            term.present(Screen.render(model))
            _ = term.wait(wakeFD: mailbox.readFD, milliseconds: playing ? 50 : 1000)
        }
    }
}
