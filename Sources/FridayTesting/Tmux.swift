import Foundation

/// Drives a program in tmux on a private socket, like a person at a terminal:
/// send keys, read the screen, wait (with a deadline) until something holds.
public final class TmuxSession {
    public let socket: String
    private let dir: URL

    /// Starts `command` (run through /bin/sh) in a detached session of `width`x`height`.
    /// The pane stays after the program exits so its last screen and status can be read.
    public init(width: Int = 120, height: Int = 40, command: String, env: [String: String] = [:]) throws {
        socket = "friday-test-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        dir = FileManager.default.temporaryDirectory.appendingPathComponent(socket)
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let conf = dir.appendingPathComponent("tmux.conf")
        try """
        set -g status off
        set -g default-terminal tmux-256color
        set -g remain-on-exit on
        set -g history-limit 0
        """.write(to: conf, atomically: true, encoding: .utf8)
        var args = ["-f", conf.path, "new-session", "-d", "-x", "\(width)", "-y", "\(height)"]
        // `swift test` sets NO_COLOR=1 for its children; a screen test states its own.
        var environment = ["LANG": "C.UTF-8", "TERM": "tmux-256color", "NO_COLOR": ""]
        environment.merge(env) { $1 }
        for (k, v) in environment.sorted(by: { $0.key < $1.key }) { args += ["-e", "\(k)=\(v)"] }
        args.append(command)
        let (status, err) = TmuxSession.tmux(socket, args)
        guard status == 0 else { throw TmuxError(message: "tmux new-session failed: \(err)") }
    }

    deinit {
        _ = TmuxSession.tmux(socket, ["kill-server"])
        try? FileManager.default.removeItem(at: dir)
    }

    @discardableResult
    public static func tmux(_ socket: String, _ args: [String]) -> (Int32, String) {
        // Output goes to a file, not a pipe: the tmux server started by new-session inherits
        // the client's descriptors, and a pipe would then never reach end-of-file. Spawned
        // with posix_spawn and reaped with waitpid, so no run loop is involved.
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("tmux-out-\(getpid())-\(UInt64.random(in: 0...UInt64.max))")
        defer { try? FileManager.default.removeItem(at: file) }
        let status = spawnAndWait(["tmux", "-L", socket] + args, output: file.path)
        let data = (try? Data(contentsOf: file)) ?? Data()
        return (status, String(decoding: data, as: UTF8.self))
    }

    /// The screen as lines (trailing spaces trimmed by tmux).
    public func screen(colours: Bool = false) -> [String] {
        let (_, out) = TmuxSession.tmux(socket, ["capture-pane", "-p"] + (colours ? ["-e"] : []))
        var lines = out.components(separatedBy: "\n")
        if lines.last == "" { lines.removeLast() }
        return lines
    }

    public var text: String { screen().joined(separator: "\n") }

    /// Presses keys by tmux name (`p`, `Enter`, `Escape`, `Space`, `Tab`).
    public func press(_ keys: String...) { TmuxSession.tmux(socket, ["send-keys"] + keys) }

    /// A mouse report as a terminal sends it (SGR 1006) for a cell (0-based): a left click,
    /// or the wheel (`wheel`: 64 up, 65 down).
    public func click(x: Int, y: Int, button: Int = 0) {
        let bytes = Array("\u{1b}[<\(button);\(x + 1);\(y + 1)M".utf8).map { String(format: "%02x", $0) }
        TmuxSession.tmux(socket, ["send-keys", "-H"] + bytes)
    }

    /// Types text literally.
    public func type(_ text: String) { TmuxSession.tmux(socket, ["send-keys", "-l", text]) }

    /// Pastes `text` as a person's paste does: through a tmux buffer, with bracketed-paste
    /// markers when the program asked for them (`paste-buffer -p`).
    public func paste(_ text: String) {
        TmuxSession.tmux(socket, ["set-buffer", "-b", "friday-test", text])
        TmuxSession.tmux(socket, ["paste-buffer", "-p", "-b", "friday-test"])
    }

    public func resize(width: Int, height: Int) {
        TmuxSession.tmux(socket, ["resize-window", "-x", "\(width)", "-y", "\(height)"])
    }

    /// A tmux format of the pane: `#{alternate_on}`, `#{pane_pid}`, `#{pane_dead_status}` …
    public func format(_ f: String) -> String {
        TmuxSession.tmux(socket, ["display-message", "-p", f]).1.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// Polls until `condition` holds on the screen or `seconds` pass. Returns whether it held.
    @discardableResult
    public func wait(seconds: Double = 15, until condition: ([String]) -> Bool) -> Bool {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            if condition(screen()) { return true }
            usleep(50_000)
        }
        return condition(screen())
    }

    /// Polls until the screen contains `text`.
    @discardableResult
    public func wait(for text: String, seconds: Double = 15) -> Bool {
        wait(seconds: seconds) { $0.joined(separator: "\n").contains(text) }
    }

    /// Polls until the program has exited.
    @discardableResult
    public func waitForExit(seconds: Double = 10) -> Bool {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            if format("#{pane_dead}") == "1" { return true }
            usleep(50_000)
        }
        return false
    }
}

/// Runs `bash ARGV…` with extra environment, reaped with waitpid (daemons it starts keep no
/// pipe of ours open); returns its status and what it printed. `scratch` names a file prefix.
public func bash(_ argv: [String], env: [String: String], scratch: String) -> (Int32, String) {
    let out = scratch + ".out-\(UInt32.random(in: 0...UInt32.max))"
    let status = spawnAndWait(["env"] + env.map { "\($0.key)=\($0.value)" } + ["bash"] + argv, output: out)
    let text = (try? String(contentsOfFile: out, encoding: .utf8)) ?? ""
    try? FileManager.default.removeItem(atPath: out)
    return (status, text)
}

/// Runs a program found on PATH with stdin from /dev/null and stdout+stderr to `output`;
/// returns its exit status (128+signal if killed).
public func spawnAndWait(_ argv: [String], output: String) -> Int32 {
    guard let pid = spawnProcess(argv, output: output) else { return 127 }
    var status: Int32 = 0
    while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
    if status & 0x7f == 0 { return (status >> 8) & 0xff }
    return 128 + (status & 0x7f)
}

/// Starts a program found on PATH (stdin from /dev/null, stdout+stderr to `output`, this
/// process's environment with `env` on top) and returns its pid without waiting.
public func spawnProcess(_ argv: [String], env: [String: String] = [:], output: String) -> pid_t? {
    var actions = posix_spawn_file_actions_t()
    posix_spawn_file_actions_init(&actions)
    defer { posix_spawn_file_actions_destroy(&actions) }
    posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
    posix_spawn_file_actions_addopen(&actions, 1, output, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
    posix_spawn_file_actions_adddup2(&actions, 1, 2)
    var cargs = argv.map { strdup($0) }
    cargs.append(nil)
    defer { for a in cargs { free(a) } }
    var merged = ProcessInfo.processInfo.environment
    merged.merge(env) { $1 }
    let cenv = merged.map { strdup("\($0.key)=\($0.value)") } + [nil]
    defer { for p in cenv { free(p) } }
    // A clean signal state for the child: the test process may block or ignore SIGTERM,
    // and a blocked mask survives exec, so `stack.sh stop` could not stop the servers.
    var attr = posix_spawnattr_t()
    posix_spawnattr_init(&attr)
    defer { posix_spawnattr_destroy(&attr) }
    var empty = sigset_t()
    sigemptyset(&empty)
    posix_spawnattr_setsigmask(&attr, &empty)
    var defaults = sigset_t()
    sigemptyset(&defaults)
    // SIGCHLD too: runuser (and anything else that waits for its children by signal) hangs
    // when it inherits SIGCHLD ignored.
    for sig in [SIGTERM, SIGINT, SIGHUP, SIGPIPE, SIGCHLD] { sigaddset(&defaults, sig) }
    posix_spawnattr_setsigdefault(&attr, &defaults)
    posix_spawnattr_setflags(&attr, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))
    var pid: pid_t = 0
    let rc = posix_spawnp(&pid, argv[0], &actions, &attr, cargs, cenv)
    return rc == 0 ? pid : nil
}

public struct TmuxError: Error, CustomStringConvertible {
    public var message: String
    public init(message: String) { self.message = message }
    public var description: String { message }
}

/// Where the built `friday` is: `$FRIDAY_BIN`, or `.build/debug/friday` of this package.
public func fridayBinary(testFile: String = #filePath) -> String {
    if let p = ProcessInfo.processInfo.environment["FRIDAY_BIN"], !p.isEmpty { return p }
    var url = URL(fileURLWithPath: testFile)
    while url.path != "/" {
        url.deleteLastPathComponent()
        if FileManager.default.fileExists(atPath: url.appendingPathComponent("Package.swift").path) {
            return url.appendingPathComponent(".build/debug/friday").path
        }
    }
    return "friday"
}

/// Runs a command to the end and returns its exit status, standard output and standard error.
public func runProcess(_ path: String, _ args: [String], env: [String: String] = [:], cwd: String? = nil) throws -> (status: Int32, out: String, err: String) {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: path)
    p.arguments = args
    if let cwd { p.currentDirectoryURL = URL(fileURLWithPath: cwd) }
    var e = ProcessInfo.processInfo.environment
    e.merge(env) { $1 }
    p.environment = e
    let out = Pipe(), err = Pipe()
    p.standardOutput = out
    p.standardError = err
    p.standardInput = FileHandle.nullDevice
    try p.run()
    let errBox = ErrBox()
    let t = Thread { errBox.data = err.fileHandleForReading.readDataToEndOfFile() }
    t.start()
    let o = out.fileHandleForReading.readDataToEndOfFile()
    p.waitUntilExit()
    while !errBox.done { usleep(1000) }
    return (p.terminationStatus, String(decoding: o, as: UTF8.self), String(decoding: errBox.data, as: UTF8.self))
}

private final class ErrBox: @unchecked Sendable {
    private let lock = NSLock()
    private var stored: Data?
    var data: Data {
        get { lock.lock(); defer { lock.unlock() }; return stored ?? Data() }
        set { lock.lock(); stored = newValue; lock.unlock() }
    }
    var done: Bool { lock.lock(); defer { lock.unlock() }; return stored != nil }
}
