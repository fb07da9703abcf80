import ArgumentParser
import Foundation
import FridayCore
import FridayEngine
import FridayServe
import FridayStore
import FridayTerminal
import FridayUI
import Synchronization

/// `friday board`: every deploy the engines on this machine serve, live, sorted by what
/// needs a person first (failed, held, judging, pipeline, done). Enter attaches a dashboard
/// (Esc comes back); an acting key attaches and opens that key's own confirm there.
struct Board: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Every deploy served on this machine, live, most urgent first (Enter attaches, Esc comes back).")

    @Option(help: "Where the engines' sockets are (default: $XDG_STATE_HOME/friday/deploys).")
    var folder: String?

    @Option(help: "Your name in a deploy's team log when you attach (default: $USER).")
    var name: String?

    @Option(help: "viewer or operator, when you attach.")
    var role: Wire.Role = .operator

    @Option(help: "Theme name or path.")
    var theme: String?

    @Flag(help: "Draw with plain ASCII.")
    var ascii = false

    @Flag(help: "Print the board once as plain text and exit (for scripts).")
    var list = false

    @Flag(help: "Print the board once as JSON lines, one deploy each, and exit (control, C1 and bidi characters escaped).")
    var json = false

    @Option(help: "Also every machine's deploys from the shared store, live (postgres://USER@HOST:PORT/DATABASE).")
    var store: String?

    func run() async throws {
        let settings = UserSettings.load()
        let folder = self.folder ?? defaultLogFolder()
        let hub = BoardHub(folder: folder)
        defer { hub.stop() }
        let address = try store.map { try storeAddress($0)! }
        if list || json {
            try await Board.listDeploys(folder: folder, store: address, json: json, ascii: ascii)
            return
        }
        let chosen: Theme
        do { chosen = try ThemeLoader.load(theme ?? settings.theme ?? "default") } catch { throw ExitWith(message: "\(error)") }
        hub.start()
        if let address { hub.followStore(address) }
        var selected: String?
        while true {
            let outcome = await BoardScreen(hub: hub, theme: chosen, ascii: ascii, mouse: settings.mouse ?? true, selected: selected).run()
            switch outcome {
            case .quit:
                await hub.closeAll()
                return
            case let .signal(sig):
                await hub.closeAll()
                throw ExitCode(128 + sig)
            case let .failed(message):
                await hub.closeAll()
                throw ExitWith(message: message)
            case let .attach(address, action):
                selected = address
                do {
                    try await attachDashboard(to: .unix(address), name: name, role: role, token: nil, theme: theme, ascii: ascii, layout: nil,
                                              mouse: settings.mouse ?? true, fromBoard: true, action: action)
                } catch let e as ExitCode where e.rawValue > 128 {
                    await hub.closeAll()
                    throw e
                } catch is ExitCode {
                    // (attachDashboard said why on stderr, which the board's screen now covers.)
                    hub.note("could not attach: no engine answers at \(TerminalText.neutralise(address)) (it may have just ended)")
                } catch {
                    // The engine went away, or refused: back to the board, which says so.
                    hub.note("could not attach: \(TerminalText.neutralise(String(describing: error)))")
                }
            }
        }
    }
}

extension Board {
    /// The deploys once, as the board sorts them: plain rows (every column whole: nothing is
    /// cut in a list for scripts) or JSON lines. `friday status` with no deploy lists the same.
    static func listDeploys(folder: String, store address: StoreAddress? = nil, json: Bool, ascii: Bool = false) async throws {
        let hub = BoardHub(folder: folder)
        defer { hub.stop() }
        await hub.scanOnce()
        if let address { try await hub.loadStore(address) }
        let entries = hub.entries()
        var model = BoardModel(width: 160, height: 3 + entries.count, glyphs: ascii ? .ascii : .unicode, folder: folder)
        for e in entries { model.upsert(e) }
        if json {
            for e in model.rows { Plain.out(BoardModel.json(e).serialized) }
            await hub.closeAll()
            return
        }
        if entries.isEmpty {
            Plain.out("no deploy is served on this machine (engines' sockets are looked for in \(TerminalText.neutralise(folder)))")
            await hub.closeAll()
            return
        }
        for line in BoardModel.plainRows(model.rows, glyphs: model.glyphs) { Plain.out(line) }
        await hub.closeAll()
    }
}

/// The engines the board follows: found by their sockets in one folder (looked at each
/// second), each followed over its own connection as a non-watching client.
final class BoardHub: Sendable {
    struct Followed: Sendable {
        var entry: BoardEntry
        var clock: ScaledClock
        var goneAt: ContinuousClock.Instant?
    }
    struct State: Sendable {
        var followed: [String: Followed] = [:]
        /// Sockets that did not answer, and when to try them again.
        var retryAt: [String: ContinuousClock.Instant] = [:]
        var connecting: Set<String> = []
        var clients: [String: EngineClient] = [:]
        /// Sockets whose deploy was read from its log once (not read again).
        var readLogs: Set<String> = []
        var tasks: [Task<Void, Never>] = []
        var note: String?
    }
    let folder: String
    let mailbox = Mailbox()
    private let state = Mutex(State())
    /// A stopped engine's row stays this long, dimmed at the bottom: a day, as the store
    /// keeps finished deploys (a failed deploy is seen the next morning, not 30 s later).
    static let goneKept: Duration = .seconds(86_400)

    init(folder: String) { self.folder = folder }

    /// Each row as it stands now, with each engine's clock read now.
    func entries() -> [BoardEntry] {
        state.withLock { s in
            let now = ContinuousClock.now
            s.followed = s.followed.filter { $0.value.goneAt.map { now - $0 < BoardHub.goneKept } ?? true }
            // A deploy an engine of this machine serves is shown from it (live, attachable), not from the store.
            let local = Set(s.followed.values.filter { $0.entry.remote == nil && $0.goneAt == nil }.map(\.entry.state.deployID))
            return s.followed.values.filter { $0.entry.remote == nil || !local.contains($0.entry.state.deployID) }.map { f in
                var e = f.entry
                if f.goneAt == nil { e.now = f.clock.now() }
                return e
            }
        }
    }

    func note(_ m: String) { state.withLock { $0.note = m }; mailbox.poke() }
    func takeNote() -> String? { state.withLock { s in defer { s.note = nil }; return s.note } }

    func start() {
        let t = Task { [self] in
            while !Task.isCancelled {
                await scanOnce()
                try? await Task.sleep(for: .seconds(1))
            }
        }
        state.withLock { $0.tasks.append(t) }
    }

    /// Looks at the folder once and connects to each socket not yet followed; a deploy whose
    /// engine has ended (no socket, or one nothing answers) is read from its event log, if
    /// that log was written in the last day, and shown as ended.
    func scanOnce() async {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? []
        let sockets = names.filter { $0.hasSuffix(".sock") }.sorted().map { folder + "/" + $0 }
        let live = Set(sockets)
        await withTaskGroup(of: Void.self) { group in
            for path in sockets {
                let go = state.withLock { s -> Bool in
                    if let f = s.followed[path], f.goneAt == nil { return false }
                    if s.connecting.contains(path) { return false }
                    if let at = s.retryAt[path], ContinuousClock.now < at { return false }
                    s.connecting.insert(path)
                    return true
                }
                if go { group.addTask { await self.follow(path) } }
            }
        }
        // The live engines first; then the deploys that ended, from their logs.
        for log in names.filter({ $0.hasSuffix(".jsonl") }).sorted() {
            let sock = folder + "/" + String(log.dropLast(6)) + ".sock"
            let wanted = state.withLock { s in
                s.followed[sock] == nil && !s.connecting.contains(sock) && !s.readLogs.contains(sock) && (!live.contains(sock) || s.retryAt[sock] != nil)
            }
            if wanted { await readEnded(log: folder + "/" + log, socket: sock) }
        }
    }

    /// An ended deploy from its log (on a thread of its own: reading a file blocks), kept
    /// for a day after its last write.
    private func readEnded(log: String, socket: String) async {
        state.withLock { _ = $0.readLogs.insert(socket) }
        let read: (DeployState, Double)? = await withCheckedContinuation { cont in
            let t = Thread {
                guard let attrs = try? FileManager.default.attributesOfItem(atPath: log), let modified = attrs[.modificationDate] as? Date else { return cont.resume(returning: nil) }
                let age = Date().timeIntervalSince(modified)
                guard age < 86_400, let events = try? EventLog.readEvents(path: log).events, !events.isEmpty else { return cont.resume(returning: nil) }
                var s = DeployState()
                for e in events { Reducer.reduce(&s, e) }
                cont.resume(returning: (s, max(0, age)))
            }
            t.name = "friday-board-log"
            t.start()
        }
        guard let (s, age) = read else { return }
        state.withLock { st in
            guard st.followed[socket] == nil else { return }
            let end = s.finishedAt ?? s.lastEventAt ?? Timestamp(seconds: 0)
            st.followed[socket] = Followed(entry: BoardEntry(address: socket, state: s, now: end, gone: "engine ended (from its log)"),
                                           clock: ScaledClock(base: end, speed: 0), goneAt: ContinuousClock.now - .seconds(age))
        }
        mailbox.poke()
    }

    private func follow(_ path: String) async {
        // (Within the protocol's name limit, whatever $USER is.)
        let hello = Wire.Hello(name: String(clientName(nil).prefix(Wire.maxNameLength - 6)) + "-board", role: .viewer, kind: .cli, events: true)
        let client: EngineClient
        do { client = try await EngineClient.connect(.unix(path), hello: hello, timeout: .seconds(3)) } catch {
            // A socket left by an engine that died, or one that is starting: look again later.
            state.withLock { s in
                s.connecting.remove(path)
                s.retryAt[path] = ContinuousClock.now + .seconds(5)
            }
            return
        }
        let clock = ScaledClock(base: client.welcome.now, speed: client.welcome.speed)
        state.withLock { s in
            s.followed[path] = Followed(entry: BoardEntry(address: path, state: client.snapshot, now: clock.now()), clock: clock)
            s.clients[path] = client
            s.connecting.remove(path)
        }
        let reader = Task { [self] in
            var closing: String?
            for await m in client.messages {
                switch m {
                case let .event(e):
                    state.withLock { s in if var f = s.followed[path] { Reducer.reduce(&f.entry.state, e); s.followed[path] = f } }
                case let .snapshot(snap):
                    state.withLock { s in s.followed[path]?.entry.state = snap }
                case let .closing(r): closing = r
                default: continue
                }
                mailbox.poke()
            }
            let why = "engine ended" + (closing.map { ": " + TerminalText.neutralise($0) } ?? "")
            state.withLock { s in
                if var f = s.followed[path] {
                    f.entry.now = f.clock.now()
                    f.entry.gone = why
                    f.goneAt = ContinuousClock.now
                    s.followed[path] = f
                }
                s.clients[path] = nil
                s.retryAt[path] = ContinuousClock.now + .seconds(2)
            }
            mailbox.poke()
            await client.close()
        }
        state.withLock { $0.tasks.append(reader) }
        mailbox.poke()
    }

    func stop() {
        for t in state.withLock({ $0.tasks }) { t.cancel() }
    }

    // MARK: the shared store

    /// Deploys the store shows: every unfinished one, and those finished in the last day.
    static func wanted(_ s: DeploySummary, now: Double) -> Bool {
        !["promoted", "reverted", "failed"].contains(s.state) || now - s.updatedAt.seconds < 86_400
    }

    /// Reads the store's deploys once (`--list`).
    func loadStore(_ address: StoreAddress) async throws {
        try await withStore(address) { store in
            try await store.checkSchema()
            try await refresh(store, only: nil)
        }
    }

    enum Heard: Sendable { case deploy(String), lost(String) }

    /// Follows the store: LISTEN first (so nothing committed between the first read and the
    /// listen is missed), then every wanted deploy's row, then each notified deploy's row. A lost store is said in the footer and tried again with backoff.
    func followStore(_ address: StoreAddress) {
        let t = Task { [self] in
            let store = Store(address)
            var backoff = 1.0
            while !Task.isCancelled {
                // Notifications come one per batch (hundreds a second from busy engines): they
                // are gathered into a set of deploys, and each wake reads each deploy's row once.
                let (heard, tell) = AsyncStream<Heard>.makeStream(bufferingPolicy: .bufferingNewest(1))
                let (ready, isReady) = AsyncStream<Void>.makeStream()
                let pending = Mutex<Set<String>>([])
                let listener = Task {
                    do throws(StoreError) {
                        try await store.listen(listening: { isReady.yield() }, heard: { d in
                            pending.withLock { _ = $0.insert(d) }
                            tell.yield(.deploy(d))
                        })
                    } catch { tell.yield(.lost(error.message)) }
                    isReady.finish()
                    tell.finish()
                }
                do throws(StoreError) {
                    var r = ready.makeAsyncIterator()
                    if await r.next() == nil {
                        var it = heard.makeAsyncIterator()
                        if case let .lost(why)? = await it.next() { throw StoreError(why) }
                        throw StoreError("the store stopped answering")
                    }
                    try await store.checkSchema()
                    try await refresh(store, only: nil)
                    backoff = 1
                    for await h in heard {
                        switch h {
                        case .deploy:
                            for d in pending.withLock({ p in defer { p = [] }; return p.sorted() }) { try await refresh(store, only: d) }
                        case let .lost(why): throw StoreError(why)
                        }
                    }
                } catch {
                    if Task.isCancelled { break }
                    note("store: \(TerminalText.neutralise(error.message)); trying again in \(Int(backoff)) s")
                }
                listener.cancel()
                await listener.value
                try? await Task.sleep(for: .seconds(backoff))
                backoff = min(30, backoff * 2)
            }
            await store.close()
        }
        state.withLock { $0.tasks.append(t) }
    }

    /// Takes the store's row of `deploy` (nil: of every deploy) onto the board. A row is one
    /// small query whatever the deploy's length, so a board of many long deploys stays quick.
    private func refresh(_ store: Store, only deploy: String?) async throws(StoreError) {
        let rows = try await store.summaries(deploy: deploy)
        let wall = Timestamp(seconds: Date().timeIntervalSince1970)
        state.withLock { s in
            for r in rows where BoardHub.wanted(r, now: wall.seconds) {
                let entry = BoardEntry(address: "store:" + r.deploy, state: DeployState(summary: r), now: wall, remote: r.host)
                s.followed[entry.address] = Followed(entry: entry, clock: ScaledClock(base: wall))
            }
        }
        mailbox.poke()
    }

    func closeAll() async {
        stop()
        let clients = state.withLock { s in defer { s.clients = [:] }; return Array(s.clients.values) }
        for c in clients { await c.close() }
    }
}

/// The board's screen on a thread of its own (as the dashboard's), until a key leaves it.
struct BoardScreen {
    enum Outcome: Sendable { case quit, signal(Int32), failed(String), attach(String, UIAction?) }
    let hub: BoardHub
    let theme: Theme
    let ascii: Bool
    let mouse: Bool
    let selected: String?

    func run() async -> Outcome {
        let signals = SignalWatch(mailbox: hub.mailbox)
        defer { signals.cancel() }
        return await withCheckedContinuation { cont in
            let thread = Thread { cont.resume(returning: self.loop()) }
            thread.name = "friday-board"
            thread.start()
        }
    }

    private func loop() -> Outcome {
        let noColor = !(ProcessInfo.processInfo.environment["NO_COLOR"] ?? "").isEmpty
        let term: CursesTerminal
        do { term = try CursesTerminal(theme: theme, noColor: noColor, mouse: mouse) } catch {
            return .failed("friday board needs a terminal (\(error)); for plain text: friday board --list")
        }
        defer { term.restore() }
        var model = BoardModel(width: term.size.width, height: term.size.height, glyphs: ascii ? .ascii : term.glyphs, folder: hub.folder)
        model.selected = selected
        var lastFrame = ContinuousClock.now - .seconds(1)
        var dirty = true
        var news = false
        while true {
            var keyed = false
            while let k = term.pollKey() {
                dirty = true
                keyed = true
                if k == .resize { let s = term.size; model.width = s.width; model.height = s.height; continue }
                switch model.key(k) {
                case .quit: return .quit
                case let .attach(address, action): return .attach(address, action)
                case nil: break
                }
            }
            let (_, signal, _) = hub.mailbox.drain()
            if let signal { return .signal(signal) }
            if let n = hub.takeNote() { model.message = n }
            let size = term.size
            if size.width != model.width || size.height != model.height { model.width = size.width; model.height = size.height; dirty = true }
            // A key at once; engine news at most ten frames a second; ages each second.
            let since = ContinuousClock.now - lastFrame
            if keyed || dirty && !news || news && since >= .milliseconds(100) || since >= .seconds(1) {
                let now = hub.entries()
                let seen = Set(now.map(\.address))
                for a in model.entries.keys where !seen.contains(a) { model.remove(a) }
                for e in now { model.upsert(e) }
                term.present(model.render())
                lastFrame = ContinuousClock.now
                dirty = false
                news = false
            }
            let wait = news ? max(1, 100 - Int(Double((ContinuousClock.now - lastFrame).components.attoseconds) / 1e15)) : 1000
            let (_, woke) = term.wait(wakeFD: hub.mailbox.readFD, milliseconds: min(1000, wait))
            if woke { news = true }
        }
    }
}
