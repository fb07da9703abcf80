import ArgumentParser
import Foundation
import FridayCore
import FridayEngine
import FridayIntegrations
import FridayServe
import Synchronization

/// The soak: an engine in its own process with a real log, N attached clients in this one,
/// a steady load, and optionally the engine killed with SIGKILL under that load.
struct BenchSoak: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "soak",
        abstract: "N clients on one served engine under a steady load: memory, delay, completeness; optionally kill -9 mid-load.")
    @Option(help: "Attached clients (1 to 500).") var clients = 50
    @Option(help: "Events per second the engine records (100 to 100000): 1% chat lines (synced each), the rest metrics samples (batched).") var rate = 10_000
    @Option(help: "Seconds of load (1 to 86400).") var seconds = 600.0
    @Option(help: "Seconds between memory samples.") var every = 60.0
    @Option(help: "Kill the engine with SIGKILL after this many seconds, then reopen its log and check it.") var killAfter: Double?

    func validate() throws {
        guard (1...500).contains(clients) else { throw ValidationError("--clients must be 1 to 500") }
        guard (100...100_000).contains(rate) else { throw ValidationError("--rate must be 100 to 100000") }
        guard seconds.isFinite, (1...86_400).contains(seconds) else { throw ValidationError("--seconds must be 1 to 86400") }
        guard every.isFinite, every >= 1 else { throw ValidationError("--every must be at least 1") }
        if let k = killAfter { guard k.isFinite, k > 0, k < seconds else { throw ValidationError("--kill-after must be within --seconds") } }
    }

    final class Book: Sendable { let m = Mutex(ClientBooks()) }
    final class Acks: Sendable { let m = Mutex<[String]>([]) }

    struct ClientBooks: Sendable {
        var received = 0, gaps = 0, resyncs = 0, lastSeq = -1, maxSeq = -1
        /// Waiting for the snapshot asked for after a gap (events until then are skipped).
        var resyncing = false
        var ended = false
        var delays: [Double] = []
    }

    func run() async throws {
        let dir = "/tmp/friday-soak-\(getpid())"
        try? FileManager.default.removeItem(atPath: dir)
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let log = dir + "/soak.jsonl", socket = dir + "/soak.sock"
        // This very binary, wherever it was started from (a relative path, or through PATH).
        let me = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
        let child = try spawnChild(me, ["bench", "soak-engine", "--log", log, "--socket", socket, "--rate", String(rate), "--seconds", String(seconds)])
        let deadline = Date().addingTimeInterval(20)
        while !FileManager.default.fileExists(atPath: socket), Date() < deadline { usleep(20_000) }
        // The clients read the protocol themselves, one thread each: they check every line's
        // seq without decoding the whole event (a full decode per event for 50 clients at
        // 10,000 events/s is more than two shared cores hold, and would measure the clients,
        // not the engine). A snapshot line is decoded in full.
        let books = (0..<clients).map { _ in Book() }
        var fds: [Int32] = []
        for i in 0..<clients {
            let fd = unixConnect(socket)
            guard fd >= 0 else { kill(child, SIGKILL); throw ExitWith(message: "client \(i) could not connect to \(socket)") }
            let hello = Wire.ClientMessage.hello(Wire.Hello(name: "soak\(i)", role: .viewer, kind: .dashboard)).line + "\n"
            _ = hello.withCString { Glibc.write(fd, $0, strlen($0)) }
            fds.append(fd)
        }
        let readers = fds.enumerated().map { i, fd in
            let t = Thread { BenchSoak.read(fd: fd, into: books[i]) }
            t.stackSize = 1 << 20
            t.start()
            return t
        }
        _ = readers
        // One client also chats, and keeps what the engine acknowledged.
        let acked = Acks()
        let chatty = try await EngineClient.connect(.unix(socket), hello: Wire.Hello(name: "talker", role: .viewer, kind: .cli))
        let talker = Task { @Sendable in
            var n = 0
            while !Task.isCancelled {
                let text = "ack-me \(n)"
                if case .accepted = await chatty.command(.say, text: text) { acked.m.withLock { $0.append(text) } }
                n += 1
                try? await Task.sleep(for: .milliseconds(50))
            }
        }
        let started = ContinuousClock.now
        var memory: [(Double, Double)] = []
        var nextSample = 0.0
        var killed = false
        func elapsed() -> Double { let d = ContinuousClock.now - started; return Double(d.components.seconds) + Double(d.components.attoseconds) * 1e-18 }
        while elapsed() < seconds {
            let t = elapsed()
            if t >= nextSample {
                let mb = residentMegabytes(pid: child)
                memory.append((t, mb))
                let behind = books.map { $0.m.withLock { $0.delays.last ?? 0 } }.max() ?? 0
                Plain.out(String(format: "%6.0f s  engine %6.1f MB resident  slowest client's last delay %7.1f ms", t, mb, behind))
                nextSample += every
            }
            if let k = killAfter, t >= k, !killed {
                kill(child, SIGKILL)
                killed = true
                break
            }
            try await Task.sleep(for: .milliseconds(100))
        }
        talker.cancel()
        _ = await talker.value
        // Sockets the engine closed before the end (a client it judged stalled, say).
        let droppedEarly = killed ? 0 : books.filter { $0.m.withLock { $0.ended } }.count
        if !killed { memory.append((elapsed(), residentMegabytes(pid: child))); kill(child, SIGTERM) }
        var status: Int32 = 0
        waitpid(child, &status, 0)
        await chatty.close()
        for fd in fds { shutdown(fd, Int32(SHUT_RDWR)) }
        // The readers see the end of their sockets.
        let until = Date().addingTimeInterval(10)
        while books.contains(where: { !$0.m.withLock { $0.ended } }), Date() < until { usleep(20_000) }
        for fd in fds { close(fd) }
        let all = books.map { $0.m.withLock { $0 } }
        let delays = all.flatMap(\.delays).sorted()
        func pct(_ p: Double) -> Double { delays.isEmpty ? .nan : delays[min(delays.count - 1, Int(Double(delays.count - 1) * p))] }
        let received = all.map(\.received)
        Plain.out(String(format: "%d clients, %.0f s at %d events/s: each client got %d to %d events; fell behind %d times, resynced %d; delay median %.2f ms, p99 %.2f ms, max %.2f ms; %d dropped by the engine",
                         clients, min(elapsed(), seconds), rate, received.min() ?? 0, received.max() ?? 0, all.map(\.gaps).reduce(0, +), all.map(\.resyncs).reduce(0, +),
                         pct(0.5), pct(0.99), delays.last ?? .nan, droppedEarly))
        if memory.count >= 2 {
            let after = memory.count > 2 ? memory[1].1 : memory[0].1
            Plain.out(String(format: "engine memory: %.1f MB at the start, %.1f MB after the first sample, %.1f MB at the end (max %.1f)",
                             memory[0].1, after, memory.last!.1, memory.map(\.1).max() ?? 0))
        }
        if killed {
            // What any client saw, and every acknowledged command, must be in the log.
            let (reopened, rec) = try EventLog.open(path: log)
            reopened.close()
            let (events, _) = try EventLog.readEvents(path: log)
            var texts = Set<String>()
            for e in events { if case let .chatMessage(_, t) = e.payload { texts.insert(t) } }
            let seen = all.map(\.maxSeq).max() ?? -1
            let ackedTexts = acked.m.withLock { $0 }
            let lostAcks = ackedTexts.filter { !texts.contains($0) }.count
            let lostSeen = max(0, seen - rec.state.lastSeq)
            Plain.out("killed with SIGKILL at \(String(format: "%.0f", killAfter!)) s: the log reopened with \(rec.state.lastSeq + 1) events (\(rec.setAside) torn line(s) set aside); "
                + "clients had seen up to seq \(seen); \(ackedTexts.count) commands acknowledged; events lost: \(lostSeen + lostAcks)")
        }
    }

    /// One client's reading: lines from its socket; an event's seq (and a load line's send
    /// time) read off the line, a snapshot decoded; a gap asks for a resync, as the dashboard does.
    static func read(fd: Int32, into book: Book) {
        var buf = [UInt8](repeating: 0, count: 1 << 20)
        var line: [UInt8] = []
        var sawSnapshot = false
        let resync = Array((Wire.ClientMessage.resync.line + "\n").utf8)
        while true {
            let n = buf.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
            if n < 0, errno == EINTR { continue }
            if n <= 0 { break }
            var start = 0
            for k in 0..<n where buf[k] == 0x0A {
                line.append(contentsOf: buf[start..<k])
                start = k + 1
                handle(line, book: book, sawSnapshot: &sawSnapshot, resync: { _ = resync.withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) } })
                line.removeAll(keepingCapacity: true)
            }
            line.append(contentsOf: buf[start..<n])
        }
        book.m.withLock { $0.ended = true }
    }

    static let eventPrefix = Array(#"{"type":"event","event":{"v":1,"seq":"#.utf8)
    static let snapshotPrefix = Array(#"{"type":"snapshot""#.utf8)
    static let loadText = Array(#""from":"load","text":""#.utf8)

    static func handle(_ line: [UInt8], book: Book, sawSnapshot: inout Bool, resync: () -> Void) {
        if line.starts(with: eventPrefix) {
            var seq = 0, k = eventPrefix.count
            while k < line.count, line[k] >= 0x30, line[k] <= 0x39 { seq = seq * 10 + Int(line[k] - 0x30); k += 1 }
            var delay: Double?
            if let at = firstIndex(of: loadText, in: line, from: k) {
                var sent: UInt64 = 0, j = at + loadText.count
                while j < line.count, line[j] >= 0x30, line[j] <= 0x39 { sent = sent &* 10 &+ UInt64(line[j] - 0x30); j += 1 }
                delay = Double(DispatchTime.now().uptimeNanoseconds &- sent) / 1e6
            }
            let ask = book.m.withLock { b -> Bool in
                b.maxSeq = max(b.maxSeq, seq)
                if b.resyncing || !sawSnapshot { return false }
                if seq != b.lastSeq + 1 { b.gaps += 1; b.resyncing = true; return true }
                b.lastSeq = seq; b.received += 1
                if let delay { b.delays.append(delay) }
                return false
            }
            if ask { resync() }
        } else if line.starts(with: snapshotPrefix) {
            guard case let .snapshot(st)? = try? Wire.ServerMessage.decode(String(decoding: line, as: UTF8.self)) else { return }
            book.m.withLock { b in
                if sawSnapshot { b.resyncs += 1 }
                b.lastSeq = st.lastSeq; b.resyncing = false; b.maxSeq = max(b.maxSeq, st.lastSeq)
            }
            sawSnapshot = true
        }
    }

    static func firstIndex(of needle: [UInt8], in hay: [UInt8], from: Int) -> Int? {
        guard needle.count <= hay.count else { return nil }
        var i = from
        while i + needle.count <= hay.count {
            if hay[i] == needle[0], hay[i..<(i + needle.count)].elementsEqual(needle) { return i }
            i += 1
        }
        return nil
    }

    func unixConnect(_ path: String) -> Int32 {
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return -1 }
        var addr = sockaddr_un()
        addr.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &addr.sun_path) { raw in for (i, b) in path.utf8.prefix(raw.count - 1).enumerated() { raw[i] = b } }
        let r = withUnsafePointer(to: &addr) { p in
            p.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        if r != 0 { close(fd); return -1 }
        return fd
    }

    func spawnChild(_ path: String, _ args: [String]) throws -> pid_t {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0)
        let argv = ([path] + args).map { strdup($0) } + [nil]
        defer { for a in argv { free(a) } }
        var pid: pid_t = 0
        guard posix_spawn(&pid, path, &actions, nil, argv, environ) == 0 else { throw ExitWith(message: "cannot start \(path)") }
        return pid
    }
}

/// The engine side of the soak (run by `bench soak`): an engine with a durable log and a
/// server, recording `rate` events a second in 10 ms batches.
struct BenchSoakEngine: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "soak-engine", abstract: "The engine process of `bench soak`.", shouldDisplay: false)
    @Option var log: String
    @Option var socket: String
    @Option var rate = 10_000
    @Option var seconds = 600.0

    func run() async throws {
        let (eventLog, _) = try EventLog.open(path: log, snapshotEvery: 100_000)
        let engine = Engine(deployID: "soak", clock: ManualClock(SimulationSettings.fridayAfternoon), router: SimulatedRouter(), metrics: nil,
                            sources: [], judge: CanaryJudge(), log: eventLog)
        let server = EngineServer(engine: engine, options: .init(socketPath: socket))
        _ = try await server.start()
        let started = ContinuousClock.now
        var sent = 0
        let perBatch = max(1, rate / 100)
        while ContinuousClock.now - started < .milliseconds(Int(seconds * 1000)) + .seconds(5) {
            // One chat line (synced; it carries the monotonic time for the clients' delay) and
            // the rest samples (batched) per 10 ms.
            _ = await engine.ingest(batch: perBatch, checking: { i, _ in
                i == 0 ? .success(.chatMessage(from: "load", text: String(DispatchTime.now().uptimeNanoseconds)))
                    : .success(.metricsSample(MetricsSample(version: "v2", requests: 100, errors: 1, p50: 10, p99: 20, window: 1)))
            }, summary: { _ in nil })
            sent += perBatch
            let due = started + .milliseconds(sent * 1000 / rate)
            if due > ContinuousClock.now { try await Task.sleep(until: due) }
        }
        await server.shutdown(reason: "soak over")
        eventLog.close()
    }
}

/// Another process's resident set (from /proc/PID/statm).
func residentMegabytes(pid: pid_t) -> Double {
    guard let s = try? String(contentsOfFile: "/proc/\(pid)/statm", encoding: .utf8) else { return .nan }
    let pages = Double(s.split(separator: " ").dropFirst().first.flatMap { Double($0) } ?? 0)
    return pages * Double(sysconf(Int32(_SC_PAGESIZE))) / 1_048_576
}
