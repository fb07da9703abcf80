import Foundation
import Glibc
import FridayCore
import FridayEngine
import Synchronization

/// One pipeline stage as a command: an argument list (no shell) or a script (`/bin/sh -c`).
public struct StageSpec: Sendable, Equatable {
    public enum Run: Sendable, Equatable {
        case argv([String])
        case script(String)
    }
    public var name: String
    public var run: Run
    /// The working directory (default: the deploy file's directory).
    public var dir: String?
    /// Seconds the stage may take in all (polls included) before it is stopped.
    public var timeout: Double
    public var env: [String: String]
    /// For a stage that waits for something: run again every `poll` seconds until it exits 0 (or times out).
    public var poll: Double?
    public init(name: String, run: Run, dir: String? = nil, timeout: Double = 3600, env: [String: String] = [:], poll: Double? = nil) {
        self.name = name; self.run = run; self.dir = dir; self.timeout = timeout; self.env = env; self.poll = poll
    }

    public var argv: [String] {
        switch run {
        case let .argv(a): return a
        case let .script(s): return ["/bin/sh", "-c", s]
        }
    }
}

/// Runs the deploy file's stages in order as child processes, each in a process group of
/// its own, and reports them as events: `stage.started`, its output line by line, and
/// `stage.finished` with how it ended. The versions, commits and deploy id reach a stage as
/// `FRIDAY_*` variables, never pasted into a command line.
///
/// Bounded: at most `linesPerTick` output lines per stage become events each second (the
/// rest are counted in one line), a line is cut at `maxLineBytes`, and the whole output goes
/// to `OUTPUT_DIR/ID.STAGE.log`, up to `fileLimit` bytes (256 MB: a stage that floods its
/// output cannot fill the disk; past it the file says so and the stage goes on). A stage that times out or is cancelled gets SIGTERM for its
/// whole group, then SIGKILL after `grace` seconds.
///
/// Time is the engine's (`poll(at:)`): durations, polls and timeouts follow the clock the
/// engine is given. Reading the pipes happens on a thread of its own per stage, never on the
/// cooperative pool; `poll` only takes what has been read and checks the process (WNOHANG).
public final class CommandPipeline: EventSource, Sendable {
    public static let linesPerTick = 50
    public static let maxLineBytes = 16 * 1024
    public static let defaultFileLimit = 256 << 20
    private let fileLimit: Int

    private let specs: [StageSpec]
    private let baseEnv: [String: String]
    private let outputDir: String
    private let deployID: String
    private let grace: Double
    private let state = Mutex(RunState())

    private struct RunState {
        var current: Running?
        var finished: Set<String> = []
    }

    private struct Running {
        var index: Int
        var process: StageProcess?
        var startedAt: Timestamp
        var attempt = 1
        var nextAttemptAt: Timestamp?
        var stopping: (since: Timestamp, status: StageStatus, why: String)?
        var exitedAt: Timestamp?
        var killed = false
    }

    public init(specs: [StageSpec], deployID: String, service: String, from: VersionRef, to: VersionRef,
                outputDir: String, grace: Double = 5, environment: [String: String] = ProcessInfo.processInfo.environment,
                fileLimit: Int = CommandPipeline.defaultFileLimit) {
        self.specs = specs
        self.fileLimit = fileLimit
        self.outputDir = outputDir
        self.deployID = deployID
        self.grace = grace
        baseEnv = fridayEnvironment(environment, deploy: deployID, service: service, from: from, to: to)
    }

    /// Where a stage's whole output is kept.
    public func outputPath(_ stage: String) -> String {
        let safe = String(stage.unicodeScalars.map { $0.isASCII && ($0.properties.isAlphabetic || $0.properties.numericType != nil) ? Character($0) : "-" })
        return outputDir + "/\(deployID).\(safe).log"
    }

    public func poll(at t: Timestamp, state s: DeployState) async -> [SourceOutput] {
        state.withLock { step(t, s, &$0) }
    }

    private func step(_ t: Timestamp, _ s: DeployState, _ r: inout RunState) -> [SourceOutput] {
        guard case .pipeline = s.phase else {
            // The deploy ended (a revert, a failure elsewhere) while a stage ran: stop its
            // group, record it, and reap it off the engine.
            if s.isFinished, let c = r.current {
                r.current = nil
                guard let p = c.process else { return [] }
                p.terminate()
                p.kill()
                Task.detached {
                    for _ in 0..<100 where p.exitStatus(rest: SIGKILL) == nil { try? await Task.sleep(for: .milliseconds(20)) }
                }
                return [.event(.stageOutput(stage: specs[c.index].name, line: "[friday] the deploy ended: the stage was stopped")),
                        .event(.stageFinished(stage: specs[c.index].name, status: .cancelled, seconds: max(0, t - c.startedAt)))]
            }
            return []
        }
        var out: [SourceOutput] = []
        if r.current == nil {
            // A stage the log says is running but this process did not start: the engine
            // restarted during it. It is not run again behind anyone's back.
            if let st = s.stages.first(where: { $0.status == .running }) {
                out.append(.event(.stageOutput(stage: st.name, line: "[friday] the engine restarted while this stage ran; it was not finished (start a new deploy to run it again)")))
                out.append(.event(.stageFinished(stage: st.name, status: .failed, seconds: max(0, t - (st.startedAt ?? t)))))
                return out
            }
            guard s.failedStage == nil,
                  let i = s.stages.firstIndex(where: { $0.status == .pending }), i < specs.count,
                  s.stages[..<i].allSatisfy({ $0.status == .succeeded }) else { return out }
            var c = Running(index: i, startedAt: t)
            out.append(.event(.stageStarted(stage: specs[i].name)))
            r.current = start(&c, &out) ? c : nil
            return out
        }
        var c = r.current!
        let spec = specs[c.index]
        let elapsed = t - c.startedAt

        // Cancelled by a person (command.accepted cancel), or over its time: stop the group.
        if c.stopping == nil {
            if s.cancelRequested {
                c.stopping = (t, .cancelled, "[friday] cancelled by \(s.cancelRequestedBy ?? "someone"): stopping its process group")
            } else if elapsed >= spec.timeout {
                c.stopping = (t, .failed, "[friday] timed out after \(formatDuration(spec.timeout)): stopping its process group")
            }
            if let st = c.stopping {
                out.append(.event(.stageOutput(stage: spec.name, line: st.why)))
                c.process?.terminate()
                c.nextAttemptAt = nil
            }
        }
        if let p = c.process { out += lines(p, spec) }

        if let st = c.stopping {
            // SIGTERM went to the group; after the grace, SIGKILL goes to what is left of it
            // (the leader is not reaped before, so the group id cannot have been reused).
            let graceOver = t - st.since >= grace
            if let p = c.process, graceOver, !c.killed {
                if !p.leaderExited() { out.append(.event(.stageOutput(stage: spec.name, line: "[friday] still running after \(formatDuration(grace)): killed"))) }
                p.kill()
                c.killed = true
            }
            if c.process.map({ p in (graceOver || p.leaderExited() && !p.groupAlive()) && p.exitStatus(rest: SIGKILL) != nil }) ?? true {
                out.append(.event(.stageFinished(stage: spec.name, status: st.status, seconds: elapsed)))
                r.current = nil
                return out
            }
            r.current = c
            return out
        }

        // (What the stage left running in its group gets SIGTERM as the leader is reaped.)
        // The stage ends once its output is all read (or 2 s after its exit: a child may hold the pipe).
        if let p = c.process, let status = p.exitStatus() {
            if !p.outputDone {
                let since = c.exitedAt ?? t
                c.exitedAt = since
                if t - since < 2 { r.current = c; return out }
            }
            out += lines(p, spec, final: true)
            c.process = nil
            c.exitedAt = nil
            if status == 0 {
                out.append(.event(.stageFinished(stage: spec.name, status: .succeeded, seconds: elapsed)))
                r.current = nil
                return out
            }
            if let every = spec.poll {
                out.append(.event(.stageOutput(stage: spec.name, line: "[friday] not yet (\(StageProcess.describe(status))); again in \(formatDuration(every)) (attempt \(c.attempt))")))
                c.nextAttemptAt = t + every
                r.current = c
                return out
            }
            out.append(.event(.stageOutput(stage: spec.name, line: "[friday] \(StageProcess.describe(status))")))
            out.append(.event(.stageFinished(stage: spec.name, status: .failed, seconds: elapsed)))
            r.current = nil
            return out
        }
        if c.process == nil, let next = c.nextAttemptAt, t >= next {
            c.attempt += 1
            c.nextAttemptAt = nil
            if !start(&c, &out) { r.current = nil; return out }
        }
        r.current = c
        return out
    }

    /// Starts the stage's command; false (after reporting the stage failed) if it could not be started.
    private func start(_ c: inout Running, _ out: inout [SourceOutput]) -> Bool {
        let spec = specs[c.index]
        var env = baseEnv.merging(spec.env) { $1 }
        env["FRIDAY_STAGE"] = spec.name
        env["FRIDAY_ATTEMPT"] = String(c.attempt)
        do {
            c.process = try StageProcess.start(spec.argv, dir: spec.dir, env: env, output: outputPath(spec.name), append: c.attempt > 1, fileLimit: fileLimit)
            return true
        } catch {
            out.append(.event(.stageOutput(stage: spec.name, line: "[friday] could not start \(spec.argv.first ?? "?"): \(error)")))
            out.append(.event(.stageFinished(stage: spec.name, status: .failed, seconds: 0)))
            return false
        }
    }

    private func lines(_ p: StageProcess, _ spec: StageSpec, final: Bool = false) -> [SourceOutput] {
        let (lines, skipped) = p.take(max: CommandPipeline.linesPerTick, final: final)
        var out: [SourceOutput] = []
        if skipped > 0 {
            out.append(.event(.stageOutput(stage: spec.name, line: "[friday] \(skipped) more line\(skipped == 1 ? "" : "s") in \(outputPath(spec.name))")))
        }
        out += lines.map { SourceOutput.event(.stageOutput(stage: spec.name, line: $0)) }
        return out
    }
}

/// A stage's child process: its own process group, its output read on a thread of its own
/// into a bounded queue of lines and, whole, into a file.
final class StageProcess: Sendable {
    let pid: pid_t
    private let queue = Mutex(Queue())
    private let status = Mutex<Int32?>(nil)
    private let drained = Mutex(false)

    /// Whether the output pipe has reached its end (everything the group wrote is queued).
    var outputDone: Bool { drained.withLock { $0 } }

    private struct Queue {
        var lines: [String] = []
        var skipped = 0
    }

    static let queued = 2000

    private init(pid: pid_t) { self.pid = pid }

    static func start(_ argv: [String], dir: String?, env: [String: String], output: String, append: Bool,
                      fileLimit: Int = CommandPipeline.defaultFileLimit) throws -> StageProcess {
        guard let exe = argv.first, !exe.isEmpty else { throw StageError("an empty command") }
        var fds: [Int32] = [0, 0]
        // Close-on-exec, so a child spawned meanwhile on another thread never holds the pipe.
        guard StageProcess.cloexecPipe(&fds) == 0 else { throw StageError("no pipe: \(String(cString: strerror(errno)))") }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_adddup2(&actions, fds[1], 1)
        posix_spawn_file_actions_adddup2(&actions, fds[1], 2)
        posix_spawn_file_actions_addclose(&actions, fds[0])
        posix_spawn_file_actions_addclose(&actions, fds[1])
        if let dir {
            // glibc 2.29+; not in the Swift overlay (it wants _GNU_SOURCE), so looked up by name.
            guard let sym = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "posix_spawn_file_actions_addchdir_np") else {
                close(fds[0]); close(fds[1])
                throw StageError("this C library cannot set a child's working directory (posix_spawn_file_actions_addchdir_np)")
            }
            typealias AddChdir = @convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, UnsafePointer<CChar>) -> Int32
            _ = unsafeBitCast(sym, to: AddChdir.self)(&actions, dir)
        }
        var attr = posix_spawnattr_t()
        posix_spawnattr_init(&attr)
        defer { posix_spawnattr_destroy(&attr) }
        var none = sigset_t()
        sigemptyset(&none)
        posix_spawnattr_setsigmask(&attr, &none)
        var all = sigset_t()
        sigfillset(&all)
        posix_spawnattr_setsigdefault(&attr, &all)
        posix_spawnattr_setpgroup(&attr, 0)
        posix_spawnattr_setflags(&attr, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETPGROUP))
        let cargs = argv.map { strdup($0) } + [nil]
        let cenv = env.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer { for p in cargs { free(p) }; for p in cenv { free(p) } }
        var pid: pid_t = 0
        let rc = exe.contains("/") ? posix_spawn(&pid, exe, &actions, &attr, cargs, cenv) : posix_spawnp(&pid, exe, &actions, &attr, cargs, cenv)
        close(fds[1])
        guard rc == 0 else {
            close(fds[0])
            throw StageError(String(cString: strerror(rc)))
        }
        let p = StageProcess(pid: pid)
        let file = open(output, O_WRONLY | O_CREAT | O_CLOEXEC | (append ? O_APPEND : O_TRUNC), 0o644)
        let readFD = fds[0]
        let thread = Thread { p.read(readFD, into: file, limit: fileLimit) }
        thread.name = "friday-stage-output"
        thread.start()
        return p
    }

    /// `pipe2(O_CLOEXEC)` (glibc's, looked up by name: the overlay hides it), else `pipe` then `FD_CLOEXEC`.
    static func cloexecPipe(_ fds: inout [Int32]) -> Int32 {
        typealias Pipe2 = @convention(c) (UnsafeMutablePointer<Int32>, Int32) -> Int32
        if let sym = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "pipe2") {
            return fds.withUnsafeMutableBufferPointer { unsafeBitCast(sym, to: Pipe2.self)($0.baseAddress!, O_CLOEXEC) }
        }
        guard pipe(&fds) == 0 else { return -1 }
        for fd in fds { _ = fcntl(fd, F_SETFD, FD_CLOEXEC) }
        return 0
    }

    /// Reads until end of file: whole bytes to `file`, lines (cut at `maxLineBytes`) to the queue.
    private func read(_ fd: Int32, into file: Int32, limit: Int) {
        var buf = [UInt8](repeating: 0, count: 65536)
        var written = 0
        var line: [UInt8] = []
        var cut = false
        func emit() {
            var text = String(decoding: line, as: UTF8.self)
            if cut { text += " …(line cut at \(CommandPipeline.maxLineBytes / 1024) kB)" }
            queue.withLock { q in
                // Full: the oldest half goes (counted), the newest lines are kept.
                if q.lines.count >= StageProcess.queued {
                    q.lines.removeFirst(StageProcess.queued / 2)
                    q.skipped += StageProcess.queued / 2
                }
                q.lines.append(text)
            }
            line.removeAll(keepingCapacity: true)
            cut = false
        }
        while true {
            let n = Glibc.read(fd, &buf, buf.count)
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { break }
            if file >= 0, written < limit {
                let take = min(n, limit - written)
                _ = buf.withUnsafeBytes { Glibc.write(file, $0.baseAddress, take) }
                written += take
                if written >= limit {
                    let note = "\n[friday] the output goes on past \(limit >> 20) MB: the rest is not kept\n"
                    _ = note.withCString { Glibc.write(file, $0, strlen($0)) }
                }
            }
            for b in buf[0..<n] {
                if b == UInt8(ascii: "\n") { emit(); continue }
                if line.count < CommandPipeline.maxLineBytes { line.append(b) } else { cut = true }
            }
        }
        if !line.isEmpty || cut { emit() }
        close(fd)
        if file >= 0 { close(file) }
        drained.withLock { $0 = true }
    }

    /// Up to `max` lines for the screen, and how many were passed over. In order while the
    /// stage's output keeps up with the screen; once it floods (or at the stage's end) the
    /// newest lines, so the last lines before a failure are the ones on screen.
    func take(max: Int, final: Bool = false) -> ([String], Int) {
        queue.withLock { q in
            if final || q.lines.count > StageProcess.queued / 2 {
                let out = Array(q.lines.suffix(max))
                let skipped = q.skipped + q.lines.count - out.count
                q.lines.removeAll(keepingCapacity: true)
                q.skipped = 0
                return (out, skipped)
            }
            let n = min(max, q.lines.count)
            let out = Array(q.lines.prefix(n))
            q.lines.removeFirst(n)
            // Lines beyond what the screen can take this second are counted, not kept.
            let skipped = q.skipped + (q.lines.count > StageProcess.queued / 2 ? q.lines.count : 0)
            if q.lines.count > StageProcess.queued / 2 { q.lines.removeAll() }
            q.skipped = 0
            return (out, skipped)
        }
    }

    /// The wait status once the leader has exited (reaped once, remembered). Before reaping,
    /// what is left of its group gets `signal` (the group id stays the leader's until then,
    /// so the signal cannot reach a process that reused the number).
    func exitStatus(rest signal: Int32 = SIGTERM) -> Int32? {
        status.withLock { st in
            if let st { return st }
            var info = siginfo_t()
            guard waitid(P_PID, id_t(pid), &info, WEXITED | WNOHANG | WNOWAIT) == 0, info._sifields._kill.si_pid == pid else { return nil }
            _ = Glibc.kill(-pid, signal)
            var s: Int32 = 0
            if waitpid(pid, &s, 0) == pid { st = s }
            return st
        }
    }

    func exited() -> Bool { exitStatus() != nil }

    /// Whether the leader has exited (not reaped: the group id stays reserved).
    func leaderExited() -> Bool {
        status.withLock { st in
            if st != nil { return true }
            var info = siginfo_t()
            return waitid(P_PID, id_t(pid), &info, WEXITED | WNOHANG | WNOWAIT) == 0 && info._sifields._kill.si_pid == pid
        }
    }

    /// Whether any process of the group besides a zombie leader is left (signal 0 to the group).
    func groupAlive() -> Bool {
        status.withLock { st in st == nil && Glibc.kill(-pid, 0) == 0 }
    }

    /// SIGTERM to the whole group (the stage and everything it started), while the leader is not reaped.
    func terminate() { status.withLock { st in if st == nil { _ = Glibc.kill(-pid, SIGTERM) } } }

    func kill() { status.withLock { st in if st == nil { _ = Glibc.kill(-pid, SIGKILL) } } }

    static func describe(_ status: Int32) -> String {
        if status & 0x7f == 0 { return "exit status \((status >> 8) & 0xff)" }
        return "killed by signal \(status & 0x7f)"
    }
}

struct StageError: Error, CustomStringConvertible {
    var description: String
    init(_ d: String) { description = d }
}

/// `environment` plus the variables every stage and hook gets: the deploy, the service, the
/// versions and the commits (values, never pasted into a command line).
func fridayEnvironment(_ environment: [String: String], deploy: String, service: String, from: VersionRef, to: VersionRef) -> [String: String] {
    var env = environment
    env["FRIDAY_DEPLOY"] = deploy
    env["FRIDAY_SERVICE"] = service
    env["FRIDAY_FROM_VERSION"] = from.name
    env["FRIDAY_FROM_COMMIT"] = from.commit
    env["FRIDAY_TO_VERSION"] = to.name
    env["FRIDAY_TO_COMMIT"] = to.commit
    return env
}

/// Waits at most `seconds` for a worker to finish what it has queued, then cancels it.
func drain(_ worker: Task<Void, Never>?, within seconds: Double) async {
    guard let worker else { return }
    await withTaskGroup(of: Void.self) { g in
        g.addTask { await worker.value }
        g.addTask { try? await Task.sleep(for: .milliseconds(Int(seconds * 1000))) }
        await g.next()
        g.cancelAll()
    }
    worker.cancel()
}
