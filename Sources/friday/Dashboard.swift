import ArgumentParser
import Dispatch
import Foundation
import FridayCore
import FridayEngine
import FridayTerminal
import FridayUI
import Synchronization

/// Runs the full-screen dashboard against an engine until the user quits or a signal
/// arrives, and always gives the terminal back.
///
/// Threads: the engine runs on Swift concurrency; the screen loop runs on a thread of its
/// own, sleeping in poll() on the keyboard and a wake pipe. Engine events and signals are
/// posted to a `Mailbox`, which writes a byte to the pipe. A frame is drawn when something
/// changed, at most ~30 a second for engine updates, at once for keys.
struct Dashboard {
    enum Outcome: Sendable { case quit, signal(Int32), failed(String) }

    let link: any DashboardLink
    let theme: Theme
    let user: String
    let sourceLabel: String
    let ascii: Bool
    var fatal: FatalBox? = nil
    var layout: LayoutKind? = nil
    var role: Wire.Role = .operator
    /// Ring the bell on a failed verdict, a hold or a revert.
    var bell: Bool = true
    /// Read the mouse (a click focuses a pane, the wheel scrolls it); `--no-mouse` leaves it to the terminal.
    var mouse: Bool = true
    /// The zone of the wall clock and the team log's times.
    var zone: ClockZone = .utc
    /// Opened from `friday board`: Esc goes back to it, and `action` (a key pressed on the
    /// board) is done at once, with its own confirm.
    var escapeReturns = false
    var action: UIAction? = nil

    var clock: any EngineClock { link.clock }

    func run() async -> Outcome {
        let mailbox = Mailbox()
        let signals = SignalWatch(mailbox: mailbox)
        defer { signals.cancel() }
        let tmux = TmuxWatch(mailbox: mailbox)
        defer { tmux?.cancel() }
        let first = await link.start(mailbox)
        let outcome: Outcome = await withCheckedContinuation { cont in
            let thread = Thread {
                cont.resume(returning: self.loop(mailbox: mailbox, first: first))
            }
            thread.name = "friday-screen"
            thread.start()
        }
        await link.finish()
        return outcome
    }

    private func loop(mailbox: Mailbox, first: DeployState?) -> Outcome {
        let noColor = !(ProcessInfo.processInfo.environment["NO_COLOR"] ?? "").isEmpty
        let term: CursesTerminal
        do { term = try CursesTerminal(theme: theme, noColor: noColor, mouse: mouse) } catch {
            return .failed("friday demo needs a terminal (\(error)); try `friday demo --headless` or `--dump`")
        }
        defer { term.restore() }
        var model = UIModel(deploy: first ?? DeployState(), now: clock.now(), user: user, glyphs: ascii ? .ascii : term.glyphs, judge: link.judge,
                            width: term.size.width, height: term.size.height, sourceLabel: sourceLabel)
        model.role = role
        model.detaches = link.detaches
        model.zone = zone
        model.themeNames = ThemeLoader.available()
        model.themeName = theme.name
        model.escapeReturns = escapeReturns
        if let action {
            for case let .send(c) in model.act(action) { link.submit(c) }
        }
        var lastFrame = ContinuousClock.now - .seconds(1)
        var hold = LayoutHold(pinned: layout)
        let started = ContinuousClock.now
        func seconds() -> Double { let d = ContinuousClock.now - started; return Double(d.components.seconds) + Double(d.components.attoseconds) * 1e-18 }
        var dirty = true
        var resyncPending = false
        let frameGap = Duration.milliseconds(33)
        while true {
            var keyed = false
            while let k = term.pollKey() {
                keyed = true
                dirty = true
                if k == .resize {
                    let s = term.size
                    _ = model.update(.resize(width: s.width, height: s.height))
                }
                for effect in model.update(.key(k)) {
                    switch effect {
                    case .quit: return .quit
                    case let .send(c): link.submit(c)
                    case .resync: break
                    case let .theme(name):
                        do { term.setTheme(try ThemeLoader.load(name)) } catch {
                            _ = model.update(.notice("theme \(name): \(error)", isError: true))
                        }
                    }
                }
            }
            if let m = fatal?.message { return .failed("the engine stopped: \(m)") }
            let (messages, signal, ended) = mailbox.drain()
            if let signal { return .signal(signal) }
            if let ended { return .failed(ended) }
            for msg in messages {
                dirty = true
                if bell, case let .engine(e) = msg, Dashboard.rings(e) { term.bell() }
                for effect in model.update(msg) where effect == .resync && !resyncPending {
                    resyncPending = true
                    link.resync(mailbox)
                }
                if case .resync = msg { resyncPending = false }
            }
            let size = term.size
            if size.width != model.width || size.height != model.height {
                _ = model.update(.resize(width: size.width, height: size.height))
                dirty = true
            }
            let simNow = clock.now()
            if Int(simNow.seconds) != Int(model.now.seconds) { dirty = true }
            _ = model.update(.tick(simNow))

            var timeout = millisecondsToNextSecond(simNow)
            if dirty {
                let since = ContinuousClock.now - lastFrame
                if keyed || since >= frameGap {
                    let kind = hold.kind(width: model.width, height: model.height, at: seconds())
                    if kind != LayoutKind.choose(width: model.width, height: model.height) { dirty = true } // look again when the hold ends
                    model.layout = kind
                    term.present(Screen.render(model))
                    lastFrame = ContinuousClock.now
                    dirty = false
                } else {
                    timeout = min(timeout, max(1, Int((frameGap - since).components.attoseconds / 1_000_000_000_000_000)))
                }
            }
            _ = term.wait(wakeFD: mailbox.readFD, milliseconds: timeout)
        }
    }

    /// Real milliseconds until the simulated clock shows the next whole second (at least 5, at most 1000).
    private func millisecondsToNextSecond(_ now: Timestamp) -> Int {
        let frac = now.seconds - now.seconds.rounded(.down)
        let speed = (clock as? ScaledClock)?.speed ?? 1
        let ms = Int(((1 - frac) / speed * 1000).rounded(.up)) + 1
        return min(1000, max(5, ms))
    }
}

extension LayoutKind: ExpressibleByArgument {}

/// Messages for the screen thread, with a pipe that wakes its poll().
final class Mailbox: @unchecked Sendable {
    private let lock = Lock()
    private var items: [UIMessage] = []
    private var signal: Int32?
    private var ended: String?
    let readFD: Int32
    private let writeFD: Int32

    init() {
        var fds: [Int32] = [0, 0]
        _ = pipe(&fds)
        readFD = fds[0]
        writeFD = fds[1]
        for fd in fds { _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) }
    }

    deinit {
        close(readFD)
        close(writeFD)
    }

    func post(_ m: UIMessage) {
        lock.withLock { items.append(m) }
        wake()
    }

    func postSignal(_ s: Int32) {
        lock.withLock { signal = s }
        wake()
    }

    /// The engine is gone (the connection closed): the screen ends with `reason`.
    func postEnd(_ reason: String) {
        lock.withLock { if ended == nil { ended = reason } }
        wake()
    }

    /// Wakes the screen with nothing to read (something it draws from changed).
    func poke() { wake() }

    private func wake() {
        var b: UInt8 = 1
        _ = write(writeFD, &b, 1)
    }

    func drain() -> ([UIMessage], Int32?, String?) {
        var sink = [UInt8](repeating: 0, count: 256)
        while read(readFD, &sink, sink.count) > 0 {}
        return lock.withLock {
            defer { items.removeAll(keepingCapacity: true) }
            return (items, signal, ended)
        }
    }
}

/// SIGINT, SIGTERM and SIGHUP end the dashboard cleanly. Set up before curses starts, so
/// ncurses does not install its own handlers (which exit without restoring).
final class SignalWatch: @unchecked Sendable {
    private var sources: [DispatchSourceSignal] = []
    static let ending: [Int32] = [SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2, SIGALRM, SIGVTALRM, SIGPROF, SIGXCPU, SIGXFSZ, SIGIO, SIGPWR, SIGSTKFLT]

    init(mailbox: Mailbox) {
        // Every signal that would end the process ends the dashboard cleanly instead
        // (terminal restored first); SIGQUIT (Ctrl-\\) too, so the runtime's backtracer
        // never draws over the screen. SIGPIPE is ignored: a write error is handled where it happens.
        Foundation.signal(SIGPIPE, SIG_IGN)
        for sig in SignalWatch.ending {
            Foundation.signal(sig, SIG_IGN)
            let src = DispatchSource.makeSignalSource(signal: sig, queue: .global())
            src.setEventHandler { @Sendable in mailbox.postSignal(sig) }
            src.resume()
            sources.append(src)
        }
    }

    func cancel() {
        for s in sources { s.cancel() }
    }
}

extension Dashboard {
    /// Events that call for a person: the judge failed, the rollout is held, traffic was reverted.
    static func rings(_ e: DeployEvent) -> Bool {
        switch e.payload {
        case let .analysisVerdict(_, verdict, _, _): return verdict == .fail
        case let .deployPaused(by, _): return by == "judge" || by == "engine"
        case let .stepStarted(_, _, pause): if case .untilPromoted = pause { return true }; return false
        case let .deployFinished(outcome, _, _): return outcome != .promoted
        default: return false
        }
    }
}

/// What the dashboard watches and steers: an engine in this process (the demo) or one
/// served elsewhere (`friday run`, `friday attach`).
protocol DashboardLink: Sendable {
    var clock: any EngineClock { get }
    var judge: CanaryJudge { get }
    /// `q` leaves the engine running.
    var detaches: Bool { get }
    /// Starts delivering events (and snapshots) to the mailbox; returns the first state.
    func start(_ mailbox: Mailbox) async -> DeployState?
    /// Sends a command; commands keep the order of calls.
    func submit(_ c: Command)
    /// Posts a fresh `.resync` state to the mailbox.
    func resync(_ mailbox: Mailbox)
    func finish() async
}

/// An engine in this process, driven by the dashboard's own clock.
final class LocalLink: DashboardLink {
    let engine: Engine
    let user: String
    var clock: any EngineClock { engine.clock }
    var judge: CanaryJudge { engine.judge ?? CanaryJudge() }
    var detaches: Bool { false }
    private let tasks = Mutex<[Task<Void, Never>]>([])
    private let commands: AsyncStream<Command>.Continuation
    private let commandStream: AsyncStream<Command>

    init(engine: Engine, user: String) {
        self.engine = engine
        self.user = user
        (commandStream, commands) = AsyncStream<Command>.makeStream()
    }

    func start(_ mailbox: Mailbox) async -> DeployState? {
        let stream = await engine.subscribe()
        let engine = self.engine
        let stream2 = commandStream
        // Keys become commands through one ordered queue.
        let started = [
            Task { for await e in stream { mailbox.post(.engine(e)) } },
            Task { await engine.run() },
            Task { for await c in stream2 { await engine.submit(c) } },
        ]
        tasks.withLock { $0 = started }
        await engine.ingest(.presenceJoined(who: user, role: "operator"))
        return nil
    }

    func submit(_ c: Command) { commands.yield(c) }

    func resync(_ mailbox: Mailbox) {
        let engine = self.engine
        Task { mailbox.post(.resync(await engine.snapshot())) }
    }

    func finish() async {
        commands.finish()
        let t = tasks.withLock { $0 }
        guard t.count == 3 else { return }
        await t[2].value
        t[1].cancel()
        t[0].cancel()
        await engine.finishSubscriptions()
    }
}

/// Inside tmux: who is attached to friday's session (`tmux list-clients`: user and size),
/// read every 2 s on a queue of its own and posted to the screen when it changes.
final class TmuxWatch: Sendable {
    private let timer: Mutex<(any DispatchSourceTimer)?>

    init?(mailbox: Mailbox, environment: [String: String] = ProcessInfo.processInfo.environment) {
        guard let tmux = environment["TMUX"], !tmux.isEmpty, let pane = environment["TMUX_PANE"], !pane.isEmpty else { return nil }
        let queue = DispatchQueue(label: "friday-tmux-clients")
        let t = DispatchSource.makeTimerSource(queue: queue)
        let last = Mutex<[String]?>(nil)
        t.schedule(deadline: .now(), repeating: 2.0)
        t.setEventHandler {
            guard let list = TmuxWatch.clients(pane: pane) else { return }
            let changed = last.withLock { prev in defer { prev = list }; return prev != list }
            if changed { mailbox.post(.tmuxClients(list)) }
        }
        t.resume()
        timer = Mutex(t)
    }

    /// `user WxH` for each client of the pane's session; nil if tmux did not answer.
    static func clients(pane: String) -> [String]? {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = ["tmux", "list-clients", "-t", pane, "-F", "#{client_user} #{client_width}x#{client_height}"]
        let out = Pipe()
        p.standardOutput = out
        p.standardError = FileHandle.nullDevice
        p.standardInput = FileHandle.nullDevice
        do { try p.run() } catch { return nil }
        let data = out.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        guard p.terminationStatus == 0 else { return nil }
        return String(decoding: data.prefix(16384), as: UTF8.self).split(separator: "\n").prefix(20)
            .map { TerminalText.neutralise(String($0.prefix(80))) }.sorted()
    }

    func cancel() { timer.withLock { $0?.cancel(); $0 = nil } }
}
