import ArgumentParser
import Dispatch
import Foundation
import NIOCore
import FridayCore
import FridayEngine
import FridayIntegrations
import FridayServe
import Synchronization

/// `friday serve FILE`: runs a deploy's engine with no screen, for dashboards and commands
/// to attach to (`friday run` starts one in the background; systemd runs it in the
/// foreground). The log's lock is held from start to end; SIGTERM pauses nothing.
struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Run a deploy's engine for dashboards and commands to attach to (foreground; friday run starts one in the background).")

    @Argument(help: "The deploy file.", completion: .file(extensions: ["toml"]))
    var file: String = "friday.toml"

    @Option(help: "The event log (default: $XDG_STATE_HOME/friday/deploys/ID.jsonl).")
    var log: String?

    @Option(help: "The Unix socket (default: beside the log, ID.sock).")
    var socket: String?

    @Option(help: "Also listen on TCP HOST:PORT (needs a token in $FRIDAY_TOKEN, or the variable serve.token_env names).")
    var tcp: String?

    @Option(help: "How many times faster than real time simulated parts run.")
    var speed: Double = 1

    @Option(help: "Seconds to go on serving after the deploy finished once no dashboard is attached (0 to 86400).")
    var linger: Double = 30

    func validate() throws {
        guard speed > 0, speed <= 1000 else { throw ValidationError("--speed must be above 0 and at most 1000") }
        guard (0...86400).contains(linger) else { throw ValidationError("--linger must be 0 to 86400 seconds, got \(linger)") }
    }

    func run() async throws {
        let cfg = try loadConfig(file)
        let logPath = log ?? defaultLogPath(for: cfg)
        let socketPath = try socket ?? socketPath(forLog: logPath)
        var tcpHost = cfg.serve.tcpHost, tcpPort = cfg.serve.tcpPort
        if let tcp {
            let parts = tcp.split(separator: ":", omittingEmptySubsequences: false)
            guard parts.count == 2, !parts[0].isEmpty, let p = Int(parts[1]), (0...65535).contains(p) else {
                throw ExitWith(message: "--tcp \(TerminalText.neutralise(tcp)): expected HOST:PORT with a port 0 to 65535")
            }
            tcpHost = String(parts[0]); tcpPort = p
        }
        let token = ProcessInfo.processInfo.environment[cfg.serve.tokenEnv].flatMap { $0.isEmpty ? nil : $0 }
        if tcpPort != nil, token == nil {
            throw ExitWith(message: "TCP needs a token: set \(cfg.serve.tokenEnv) (clients give the same one); it is compared in constant time")
        }
        let signals = SignalStream()
        guard let opened = try await OpenedDeploy.open(cfg, logPath: logPath, speed: speed, fast: false) else { return }
        defer { opened.eventLog.close() }
        let engine = opened.engine
        let report: @Sendable (String) -> Void = { line in
            Plain.err("\(Timestamp(seconds: Date().timeIntervalSince1970).rfc3339) friday serve: \(TerminalText.neutralise(line))")
        }
        var options = EngineServer.Options(
            socketPath: socketPath, socketGroup: cfg.serve.group, tcpHost: tcpHost, tcpPort: tcpPort, token: token,
            speed: opened.speed, label: opened.label, report: report)
        options.bell = cfg.notify.bell
        options.acceptsIngest = cfg.externalPipeline
        let server = EngineServer(engine: engine, options: options)
        // A restart's own decisions (a recorded fail verdict's revert, a move under way) come
        // before any client can send a command: the notifications and hooks first, so they
        // report what the restart does; then the restart; then the socket.
        let effects = await SideEffects.attach(cfg, engine: engine, logPath: logPath, report: report)
        await opened.resume()
        let addresses: [String]
        do { addresses = try await server.start() } catch {
            // Nothing moved by this start: the service's lock taken for it is given back.
            await opened.storeLink?.abandon(why: "could not listen on \(socketPath)")
            throw ExitWith(message: "could not listen on \(TerminalText.neutralise(socketPath)): \(plainWords(error))")
        }
        report("deploy \(cfg.id) served on \(addresses.joined(separator: " and ")) (log \(logPath), pid \(getpid()))")
        let driver = Task { await engine.run() }

        let reason: String = await withTaskGroup(of: String.self) { group in
            group.addTask {
                for await sig in signals.stream { return "the engine was stopped by signal \(sig) (the traffic was left as it is)" }
                return "signals ended"
            }
            group.addTask {
                if case let .byClient(who, why)? = await server.waitForStop() { return "stopped by \(who): \(why)" }
                return "stopping"
            }
            let lingerFor = linger
            group.addTask {
                // A finished deploy with nobody watching has nothing left to do.
                var idleSince: ContinuousClock.Instant?
                while !Task.isCancelled {
                    try? await Task.sleep(for: .milliseconds(200))
                    if let m = opened.fatal.message { return "the engine stopped: \(m)" }
                    if await engine.state.isFinished, server.attached == 0 {
                        let since = idleSince ?? ContinuousClock.now
                        idleSince = since
                        if ContinuousClock.now - since >= .milliseconds(Int(lingerFor * 1000)) { return "the deploy finished and nobody is attached" }
                    } else {
                        idleSince = nil
                    }
                }
                return "cancelled"
            }
            let first = await group.next() ?? "stopping"
            group.cancelAll()
            server.cancelWaits()
            return first
        }
        report(reason)
        await server.shutdown(reason: reason)
        driver.cancel()
        await effects.drain(seconds: 3)
        // The store's copy is finished (or left to catch up later) once nothing more is recorded.
        await opened.storeLink?.stop(finished: await engine.state)
        await engine.finishSubscriptions()
        signals.cancel()
        if let m = opened.fatal.message { throw ExitWith(message: "the engine stopped: \(m)") }
    }
}

/// SIGTERM, SIGINT and SIGHUP as a stream (handled, so the engine shuts down cleanly).
final class SignalStream: Sendable {
    let stream: AsyncStream<Int32>
    private let sources: Mutex<[any DispatchSourceSignal]>

    init() {
        Foundation.signal(SIGPIPE, SIG_IGN)
        let (stream, cont) = AsyncStream<Int32>.makeStream()
        self.stream = stream
        var made: [DispatchSourceSignal] = []
        for sig in [SIGTERM, SIGINT, SIGHUP] {
            Foundation.signal(sig, SIG_IGN)
            let src = DispatchSource.makeSignalSource(signal: sig, queue: .global())
            src.setEventHandler { cont.yield(sig) }
            src.resume()
            made.append(src)
        }
        sources = Mutex(made)
    }

    func cancel() { sources.withLock { for s in $0 { s.cancel() } } }
}

/// The engine's socket: beside the log (`ID.jsonl` → `ID.sock`).
func socketPath(forLog log: String) throws -> String {
    let base = log.hasSuffix(".jsonl") ? String(log.dropLast(6)) : log
    let path = base + ".sock"
    // sun_path holds 108 bytes with its NUL.
    guard path.utf8.count <= 107 else {
        throw ExitWith(message: "the socket path \(path) is longer than a Unix socket allows (107 bytes); give --socket or a shorter --log")
    }
    return path
}

/// Where a background engine writes what it reports: beside the log.
func serveLogPath(forLog log: String) -> String {
    (log.hasSuffix(".jsonl") ? String(log.dropLast(6)) : log) + ".serve.log"
}

/// Starts `friday serve` in the background (its own session, no terminal) unless an engine
/// already answers on `socket`, and waits for it to listen. Returns false, after printing
/// what the engine said, when it ended at once (a finished deploy, a bad file, a held lock).
func ensureServed(configPath: String, logPath: String, socket: String, speed: Double) async throws -> Bool {
    if socketAnswers(socket) { return true }
    let dir = (logPath as NSString).deletingLastPathComponent
    if !dir.isEmpty { try? FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true) }
    let outPath = serveLogPath(forLog: logPath)
    let startOffset = (try? FileManager.default.attributesOfItem(atPath: outPath)[.size] as? Int) ?? 0
    let exe = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
    let args = [exe, "serve", configPath, "--log", logPath, "--socket", socket, "--speed", String(speed)]
    let pid = try spawnDetached(args, output: outPath)
    let started = ContinuousClock.now
    // 60 s: with [store], a start may wait for the store to answer (each step bounded by 10 s).
    while ContinuousClock.now - started < .seconds(60) {
        if socketAnswers(socket) { return true }
        var status: Int32 = 0
        if waitpid(pid, &status, WNOHANG) == pid {
            let said = readFrom(outPath, offset: startOffset)
            let code = (status & 0x7f) == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f)
            if code == 0 {
                Plain.out(said, terminator: said.hasSuffix("\n") || said.isEmpty ? "" : "\n")
                return false
            }
            throw ExitWith(message: said.isEmpty ? "the engine ended at once (exit \(code)); see \(outPath)" : said.trimmingCharacters(in: .whitespacesAndNewlines).replacingOccurrences(of: "Error: ", with: ""))
        }
        try await Task.sleep(for: .milliseconds(50))
    }
    throw ExitWith(message: "the engine (pid \(pid)) did not start listening on \(socket) within 60 s; see \(outPath)")
}

private func readFrom(_ path: String, offset: Int) -> String {
    guard let h = FileHandle(forReadingAtPath: path) else { return "" }
    defer { try? h.close() }
    try? h.seek(toOffset: UInt64(offset))
    let data = (try? h.readToEnd()) ?? Data()
    return TerminalText.neutralise(String(decoding: data.prefix(8192), as: UTF8.self)).replacingOccurrences(of: "^J", with: "\n")
}

/// Whether something accepts connections on the Unix socket (a quick local connect).
func socketAnswers(_ path: String) -> Bool {
    let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
    guard fd >= 0 else { return false }
    defer { close(fd) }
    var addr = sockaddr_un()
    addr.sun_family = sa_family_t(AF_UNIX)
    let bytes = Array(path.utf8)
    guard bytes.count < MemoryLayout.size(ofValue: addr.sun_path) else { return false }
    withUnsafeMutableBytes(of: &addr.sun_path) { raw in
        for (i, b) in bytes.enumerated() { raw[i] = b }
        raw[bytes.count] = 0
    }
    let r = withUnsafePointer(to: &addr) { p in
        p.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
    }
    return r == 0
}

/// Starts a process in a session of its own (no terminal, default signals, empty mask),
/// standard input from /dev/null, output appended to `output`. Returns its pid.
func spawnDetached(_ argv: [String], output: String) throws -> pid_t {
    var attr = posix_spawnattr_t()
    posix_spawnattr_init(&attr)
    defer { posix_spawnattr_destroy(&attr) }
    var none = sigset_t()
    sigemptyset(&none)
    posix_spawnattr_setsigmask(&attr, &none)
    var all = sigset_t()
    sigfillset(&all)
    posix_spawnattr_setsigdefault(&attr, &all)
    posix_spawnattr_setflags(&attr, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF | 0x80 /* POSIX_SPAWN_SETSID */))
    var actions = posix_spawn_file_actions_t()
    posix_spawn_file_actions_init(&actions)
    defer { posix_spawn_file_actions_destroy(&actions) }
    posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
    posix_spawn_file_actions_addopen(&actions, 1, output, O_WRONLY | O_CREAT | O_APPEND, 0o600)
    posix_spawn_file_actions_adddup2(&actions, 1, 2)
    var env = ProcessInfo.processInfo.environment
    env["TMUX"] = nil
    env["TMUX_PANE"] = nil
    let envp = env.map { "\($0.key)=\($0.value)" }
    var pid: pid_t = 0
    let cargs = argv.map { strdup($0) } + [nil]
    let cenv = envp.map { strdup($0) } + [nil]
    defer { for p in cargs { free(p) }; for p in cenv { free(p) } }
    let rc = posix_spawn(&pid, argv[0], &actions, &attr, cargs, cenv)
    guard rc == 0 else { throw ExitWith(message: "could not start the engine (\(argv[0])): \(String(cString: strerror(rc)))") }
    return pid
}

/// What a deploy's events set off besides the screen: webhooks, hooks and the revert in
/// git, each started by an engine sink and run off the engine, so none can hold up a revert.
struct SideEffects {
    let notifier: Notifier
    let hooks: HookRunner
    let gitRevert: GitRevert?

    static func attach(_ cfg: DeployConfig, engine: Engine, logPath: String, report: @escaping @Sendable (String) -> Void) async -> SideEffects {
        let notifier = Notifier(settings: cfg.notify, deploy: cfg.id, service: cfg.service, report: report,
                                onFailure: { why in _ = await engine.ingest(.notifyFailed(error: why)) })
        if cfg.notify.webhook != nil { await engine.addSink { notifier.consider($0) } }
        let dir = { let d = (logPath as NSString).deletingLastPathComponent; return d.isEmpty ? "." : d }()
        let hooks = HookRunner(settings: cfg.hooks, deploy: cfg.id, service: cfg.service, from: cfg.from, to: cfg.to, outputDir: dir,
                               report: { result in _ = await engine.ingest(result) })
        if !cfg.hooks.commands.isEmpty { await engine.addSink { hooks.consider($0) } }
        var revert: GitRevert?
        if cfg.git.revert, let repo = cfg.repo {
            let r = GitRevert(repo: repo, from: cfg.from.commit, to: cfg.to.commit, deployID: cfg.id, settings: cfg.git, web: cfg.web,
                              stillReverted: { await engine.state.outcome == .reverted },
                              report: { result in _ = await engine.ingest(result) })
            await engine.addSink { r.consider($0) }
            // Reverted before the engine stopped, and git not done yet: do it now.
            let s = await engine.state
            if s.outcome == .reverted, s.gitRevert == nil { r.start() }
            revert = r
        }
        return SideEffects(notifier: notifier, hooks: hooks, gitRevert: revert)
    }

    /// Waits for what is queued: webhooks and hooks at most `seconds`, a revert in git at
    /// most its own timeout (it is the team's undo; cutting it short would leave it half-made).
    func drain(seconds: Double) async {
        async let a: Void = notifier.drain(seconds: seconds)
        async let b: Void = hooks.drain(seconds: seconds)
        async let c: Void = gitRevert?.drain(seconds: max(seconds, (gitRevert?.settings.timeout ?? 0) * 2)) ?? ()
        _ = await (a, b, c)
    }
}

/// An error in words a person reads: a system call's failure as the system says it
/// ("Address already in use"), not NIO's description of the call
/// ("bind(descriptor:ptr:bytes:): … (errno: 98)"); anything else neutralised.
func plainWords(_ error: any Error) -> String {
    if let io = error as? IOError { return String(cString: strerror(io.errnoCode)).lowercased() }
    return TerminalText.neutralise(String(describing: error))
}
