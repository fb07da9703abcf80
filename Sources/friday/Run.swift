import ArgumentParser
import Foundation
import FridayCore
import FridayEngine
import FridayIntegrations
import FridayStore
import FridayUI

/// `friday run friday.toml`: runs the deploy a file describes, with a durable event log.
/// A deploy whose log exists resumes where it was: same step, same time left in the pause,
/// the router's weights reconciled with the log's.
struct Run: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Run (or resume) the deploy a deploy file describes.")

    @Argument(help: "The deploy file.", completion: .file(extensions: ["toml"]))
    var file: String?

    @Option(help: "The deploy file (same as the argument).")
    var config: String?

    @Option(help: "The event log (default: $XDG_STATE_HOME/friday/deploys/ID.jsonl).")
    var log: String?

    @Option(help: "How many times faster than real time simulated parts run.")
    var speed: Double = 1

    @Flag(help: "Print events as JSON lines, running time as fast as possible, instead of the dashboard.")
    var headless = false

    @Option(help: "With --headless: stop after this many seconds (simulated, or real with a real router) if the deploy has not finished.")
    var duration: Double = 3600

    @Option(help: "Theme name or path.")
    var theme: String?

    @Option(help: "Your name in the team log (as attach and board take it; default: $USER).")
    var name: String?

    /// The old spelling of --name, still taken.
    @Option(help: .hidden)
    var user: String?

    @Option(help: "Pin the layout: grid, stacked or compact (default: by size, held steady while the size flickers).")
    var layout: LayoutKind?

    @Flag(help: "Draw with plain ASCII.")
    var ascii = false

    @Flag(help: "Leave the mouse to the terminal (no click to focus, no wheel scrolling).")
    var noMouse = false

    func validate() throws {
        guard speed > 0, speed <= 1000 else { throw ValidationError("--speed must be above 0 and at most 1000") }
        guard InputRange.seconds.contains(duration) else { throw ValidationError("--duration must be 0 to 2592000 seconds (30 days), got \(duration)") }
        if file != nil && config != nil && file != config { throw ValidationError("give the deploy file once: as the argument or as --config") }
    }

    func run() async throws {
        let path = config ?? file ?? "friday.toml"
        let cfg = try loadConfig(path)
        let logPath = log ?? defaultLogPath(for: cfg)
        if !headless {
            // The dashboard attaches to the deploy's engine, starting it in the background
            // first if none runs (as tmux starts its server); q detaches and the deploy goes on.
            // No terminal: say so before an engine is started that nobody would see.
            guard isatty(1) == 1, isatty(0) == 1 else {
                throw ExitWith(message: "friday run needs a terminal for its dashboard; use --headless for JSON lines, or friday serve \(path) for the engine alone")
            }
            let socket = try socketPath(forLog: logPath)
            guard try await ensureServed(configPath: path, logPath: logPath, socket: socket, speed: speed) else { return }
            try await attachDashboard(to: .unix(socket), name: name ?? user, role: .operator, token: nil, theme: theme, ascii: ascii, layout: layout, mouse: !noMouse)
            return
        }
        guard let opened = try await OpenedDeploy.open(cfg, logPath: logPath, speed: speed, fast: true) else { return }
        let engine = opened.engine
        defer { opened.eventLog.close() }
        let out = LineWriter()
        await engine.addSink { out.write($0.jsonLine) }
        let effects = await SideEffects.attach(cfg, engine: engine, logPath: logPath,
                                               report: { Plain.err("friday: \(TerminalText.neutralise($0))") })
        await opened.resume()
        let fatal = opened.fatal
        if let manual = opened.manual {
            let base = opened.base
            var t = 0.0
            while t <= duration, await !engine.state.isFinished, fatal.message == nil {
                manual.set(base + t)
                await engine.advance(to: base + t)
                t += 1
            }
            out.flush()
        } else {
            let driver = Task { await engine.run() }
            let started = ContinuousClock.now
            while ContinuousClock.now - started < .seconds(duration), await !engine.state.isFinished, fatal.message == nil {
                try? await Task.sleep(for: .milliseconds(200))
                out.flush()
            }
            driver.cancel()
            out.flush()
        }
        await effects.drain(seconds: 3)
        // What the side effects recorded meanwhile (hook results, the revert in git).
        out.flush()
        await opened.storeLink?.stop(finished: await engine.state)
        if let m = fatal.message { throw ExitWith(message: "the engine stopped: \(m)") }
    }
}

/// A deploy's engine opened from its file and its log (shared by `run --headless` and `serve`).
struct OpenedDeploy {
    let config: DeployConfig
    let engine: Engine
    let eventLog: EventLog
    let recovery: EventLog.Recovery
    let clock: any EngineClock
    /// Set when simulated time runs as fast as possible (headless, simulator only).
    let manual: ManualClock?
    let base: Timestamp
    let fatal: FatalBox
    let speed: Double
    let label: String
    let resumed: Bool
    /// The shared store's lock and outbox, with `[store]`.
    let storeLink: StoreLink?

    /// Opens the log (taking its lock) and builds the engine; nil (after saying so) for a finished deploy.
    static func open(_ cfgIn: DeployConfig, logPath: String, speed: Double, fast wantFast: Bool) async throws -> OpenedDeploy? {
        var cfg = cfgIn
        // Who started it, in the permanent record: the file's `by`, else the person running
        // friday (before, the simulator's teammate "lee" was logged for every such file).
        cfg.simulation.startedBy = cfg.by ?? osUserName()
        let eventLog: EventLog
        let recovery: EventLog.Recovery
        do { (eventLog, recovery) = try EventLog.open(path: logPath) } catch { throw ExitWith(message: error.description) }
        // Any event at all (deploy.started or not) means the log goes on from its last line.
        let resumed = recovery.state.lastSeq >= 0
        if recovery.state.phase != .idle, recovery.state.deployID != cfg.id {
            eventLog.close()
            throw ExitWith(message: "\(logPath) holds deploy \(TerminalText.neutralise(recovery.state.deployID)), not \(cfg.id); give another --log")
        }
        if let outcome = recovery.state.outcome {
            // A finished deploy is history: its weights are never applied again.
            defer { eventLog.close() }
            if outcome == .reverted, cfg.git.revert, let repo = cfg.repo, recovery.state.gitRevert == nil {
                // The engine stopped between the revert and its revert in git: git's part now.
                Plain.out("friday: deploy \(cfg.id) was reverted but its revert in git was not made: making it now")
                let made = await GitRevert(repo: repo, from: cfg.from.commit, to: cfg.to.commit, deployID: cfg.id, settings: cfg.git, web: cfg.web, report: { _ in }).run()
                var s = recovery.state
                let now = Timestamp(seconds: Date().timeIntervalSince1970)
                let e = DeployEvent(seq: s.lastSeq + 1, ts: max(now, s.lastEventAt ?? now), deploy: cfg.id, payload: made)
                let logged = s.log.count
                Reducer.reduce(&s, e)
                do throws(LogError) {
                    try eventLog.append(e, state: s)
                    try eventLog.flush(sync: true)
                } catch { throw ExitWith(message: "could not record the revert in git in \(logPath): \(error.description)") }
                for entry in s.log.dropFirst(logged) { Plain.out("  " + TerminalText.neutralise(entry.text)) }
            }
            let when = recovery.state.finishedAt.map { " at \($0.rfc3339)" } ?? ""
            Plain.out("friday: deploy \(cfg.id) already finished\(when): \(outcome.rawValue). Nothing was sent to the router.")
            Plain.out("  see it: friday replay \(logPath)   ·   deploy again: give the new deploy its own id (deploy.id) or --log")
            return nil
        }
        if resumed {
            // After a restart the simulator draws new traffic, not the same figures again.
            cfg.simulation.seed = cfg.simulation.seed &+ UInt64(recovery.state.lastSeq + 1) &* 0x9E37_79B9_7F4A_7C15
        }
        // With a store, the service's lock is taken before anything moves.
        var storeLink: StoreLink?
        // The deploy file's [store], else the person's own (a bad one refuses: a lock meant to
        // be taken is never silently skipped).
        if let address = try cfg.store ?? { () throws -> StoreAddress? in
            do { return try UserSettings.storeAddress() } catch { eventLog.close(); throw error }
        }() {
            do {
                storeLink = try await StoreLink.open(cfg, address: address, resumed: resumed, logPath: logPath,
                                                     report: { Plain.err("friday: store: \(TerminalText.neutralise($0))") })
            } catch { eventLog.close(); throw error }
        }
        let wall = Timestamp(seconds: Date().timeIntervalSince1970.rounded(.down))
        // Simulated time can run as fast as it likes; a real router and real metrics run in real time.
        // Real stage commands run in real time, even on the simulator router.
        var simulatedOnly = cfg.stageSpecs.isEmpty
        if case .simulator = cfg.router {} else { simulatedOnly = false }
        let fast = wantFast && simulatedOnly
        let base = fast ? (recovery.state.lastEventAt.map { $0 + 1 } ?? wall) : max(wall, recovery.state.lastEventAt ?? wall)
        let manual = fast ? ManualClock(base) : nil
        let realSpeed = simulatedOnly ? speed : 1
        let clock: any EngineClock = manual ?? ScaledClock(base: base, speed: realSpeed)
        let fatal = FatalBox()
        let (router, metrics, sources) = cfg.providers(outputDir: { let d = (logPath as NSString).deletingLastPathComponent; return d.isEmpty ? "." : d }())
        let engine = Engine(deployID: cfg.id, clock: clock, router: router, metrics: metrics,
                            sources: sources, judge: cfg.judge, log: eventLog, onFatal: { fatal.set($0) })
        var label = "run · \(cfg.id)" + (realSpeed == 1 ? "" : " · \(format1(realSpeed))x")
        if !cfg.simulatedParts.isEmpty, !simulatedOnly { label += " · SIMULATED " + cfg.simulatedParts.joined(separator: ", ") }
        if simulatedOnly { label += " · SIMULATED" }
        let opened = OpenedDeploy(config: cfg, engine: engine, eventLog: eventLog, recovery: recovery, clock: clock, manual: manual,
                                  base: base, fatal: fatal, speed: realSpeed, label: label, resumed: resumed, storeLink: storeLink)
        storeLink?.start(engine)
        if resumed { await engine.restore(recovery.state) }
        if let broken = recovery.brokenPath, recovery.setAside > 0 {
            await engine.ingest(.logRecovered(setAside: recovery.setAside, keptIn: broken))
            Plain.err("friday: \(recovery.setAside) damaged line(s) at the end of \(logPath) set aside in \(broken)")
        }
        if let problem = recovery.snapshotProblem {
            Plain.err("friday: \(EventLog.snapshotPath(logPath)) not used: \(problem); the whole log was read and checked (\(recovery.eventsRead) events)")
        }
        return opened
    }

    /// After a restart: finishes the move under way and checks the router (see `Engine.resumeAfterRestart`).
    func resume() async {
        if resumed { await engine.resumeAfterRestart() }
    }
}

/// Holds the engine's fatal error for the screen loop and the command.
final class FatalBox: @unchecked Sendable {
    private let lock = Lock()
    private var stored: String?
    var message: String? { lock.withLock { stored } }
    func set(_ m: String) { lock.withLock { if stored == nil { stored = m } } }
}
