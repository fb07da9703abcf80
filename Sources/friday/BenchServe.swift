import ArgumentParser
import Foundation
import FridayCore
import FridayEngine
import FridayIntegrations
import FridayServe
import FridayUI
import Synchronization

/// A served engine with no router activity, on a socket in a temporary directory.
private func benchServer(state: DeployState? = nil) async throws -> (Engine, EngineServer, String, String) {
    let dir = "/tmp/friday-bench-\(getpid())-\(UInt16.random(in: 0...UInt16.max))"
    try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    let engine = Engine(deployID: "bench", clock: ManualClock(SimulationSettings.fridayAfternoon), router: SimulatedRouter(), metrics: nil, sources: [], judge: CanaryJudge())
    if let state { await engine.restore(state) }
    let socket = dir + "/bench.sock"
    let server = EngineServer(engine: engine, options: .init(socketPath: socket, queueLimit: 1 << 20))
    _ = try await server.start()
    return (engine, server, socket, dir)
}

private func percentile(_ xs: [Double], _ p: Double) -> Double {
    let s = xs.sorted()
    guard !s.isEmpty else { return .nan }
    return s[min(s.count - 1, Int((Double(s.count - 1) * p).rounded()))]
}

/// Monotonic nanoseconds, comparable between the producer and the clients of one process.
private func nowNanos() -> UInt64 { DispatchTime.now().uptimeNanoseconds }

struct BenchFanout: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "fanout", abstract: "Events per second delivered to N attached clients and the delay from the engine to each.")
    @Option(help: "Client counts, comma-separated.") var clients = "1,10,50"
    @Option(help: "Events per second the engine records.") var rate = 1000
    @Option(help: "Seconds per client count.") var seconds = 10.0

    func run() async throws {
        Plain.out("clients  events/s sent  events/s per client  delay median  delay p99  dropped")
        for n in clients.split(separator: ",").compactMap({ Int($0) }) {
            let (engine, server, socket, dir) = try await benchServer()
            var conns: [EngineClient] = []
            for i in 0..<n { conns.append(try await EngineClient.connect(.unix(socket), hello: Wire.Hello(name: "c\(i)", role: .viewer, kind: .cli, events: true))) }
            let delays = Locked<[Double]>([])
            let received = Locked(0)
            let readers = conns.map { c in
                Task {
                    var mine: [Double] = []
                    mine.reserveCapacity(20_000)
                    for await m in c.messages {
                        guard case let .event(e) = m, case let .chatMessage(_, text) = e.payload, let sent = UInt64(text) else { continue }
                        mine.append(Double(nowNanos() &- sent) / 1e6)
                        if mine.count % 1000 == 0 { received.withLock { $0 += 1000 } }
                    }
                    let got = mine
                    received.withLock { $0 += got.count % 1000 }
                    delays.withLock { $0 += got }
                }
            }
            let total = Int(Double(rate) * seconds)
            let started = ContinuousClock.now
            var sent = 0
            while sent < total {
                // Paced in 10 ms batches.
                let due = min(total, Int(seconds_(ContinuousClock.now - started) * Double(rate)) + 1)
                while sent < due {
                    _ = await engine.ingest(.chatMessage(from: "bench", text: String(nowNanos())))
                    sent += 1
                }
                try await Task.sleep(for: .milliseconds(10))
            }
            let sendTook = seconds_(ContinuousClock.now - started)
            // Let the last events arrive.
            let deadline = ContinuousClock.now + .seconds(10)
            while received.withLock({ $0 }) < total * n - 1000 * n, ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(20)) }
            try await Task.sleep(for: .milliseconds(200))
            for c in conns { await c.close() }
            for r in readers { await r.value }
            let all = delays.withLock { $0 }
            let perClient = Double(all.count) / Double(n) / sendTook
            Plain.out(String(format: "%7d  %13.0f  %19.0f  %9.2f ms  %6.2f ms  %7d", n, Double(total) / sendTook, perClient, median(all), percentile(all, 0.99), total * n - all.count))
            await server.shutdown(reason: "bench over")
            try? FileManager.default.removeItem(atPath: dir)
        }
    }
}

private func seconds_(_ d: Duration) -> Double { Double(d.components.seconds) + Double(d.components.attoseconds) * 1e-18 }

struct BenchAttach: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "attach", abstract: "Time from connecting to a first full screen, attaching to a deploy of N events.")
    @Option var events = 100_000
    @Option var runs = 5

    func run() async throws {
        let evs = await benchEvents(events)
        var state = DeployState()
        for e in evs { Reducer.reduce(&state, e) }
        let (_, server, socket, dir) = try await benchServer(state: state)
        do {
            let t0 = ContinuousClock.now
            let line = Wire.ServerMessage.snapshot(state).line
            let t1 = ContinuousClock.now
            _ = try? Wire.ServerMessage.decode(line)
            let t2 = ContinuousClock.now
            let enc = try JSONEncoder().encode(state.stepBlocks).count, logs = try JSONEncoder().encode(state.log).count, mets = try JSONEncoder().encode(state.metrics).count
            Plain.out(String(format: "encode %.1f ms, decode %.1f ms; bytes: blocks %d, log %d, metrics %d (%d blocks)", seconds_(t1 - t0) * 1000, seconds_(t2 - t1) * 1000, enc, logs, mets, state.stepBlocks.count))
        }
        var times: [Double] = [], bytes = 0
        for i in 0..<runs {
            let t0 = ContinuousClock.now
            let c = try await EngineClient.connect(.unix(socket), hello: Wire.Hello(name: "a\(i)", role: .viewer, kind: .dashboard))
            var model = UIModel(deploy: c.snapshot, now: c.welcome.now, user: c.welcome.who, judge: c.welcome.judge ?? CanaryJudge(), width: 120, height: 40)
            model.role = c.welcome.role
            let grid = Screen.render(model)
            times.append(seconds_(ContinuousClock.now - t0) * 1000)
            if i == 0 { bytes = Wire.ServerMessage.snapshot(c.snapshot).line.utf8.count; _ = grid }
            await c.close()
        }
        Plain.out("attach to a deploy of \(events) events (snapshot \(bytes / 1024) kB): first full screen median \(String(format: "%.1f", median(times))) ms, worst \(String(format: "%.1f", times.max() ?? 0)) ms over \(runs) runs")
        await server.shutdown(reason: "bench over")
        try? FileManager.default.removeItem(atPath: dir)
    }
}

struct BenchServeMemory: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "serve-memory", abstract: "Resident memory of a served engine with N clients attached, over time.")
    @Option var clients = 50
    @Option var rate = 100
    @Option var minutes = 10.0
    @Option(help: "Seconds between samples.") var every = 60.0

    func run() async throws {
        let (engine, server, socket, dir) = try await benchServer()
        var conns: [EngineClient] = []
        for i in 0..<clients { conns.append(try await EngineClient.connect(.unix(socket), hello: Wire.Hello(name: "m\(i)", role: .viewer, kind: .dashboard))) }
        let readers = conns.map { c in Task { for await _ in c.messages {} } }
        let started = ContinuousClock.now
        var nextSample = 0.0
        var samples: [(Double, Double)] = []
        var i = 0
        while seconds_(ContinuousClock.now - started) < minutes * 60 {
            let t = seconds_(ContinuousClock.now - started)
            if t >= nextSample {
                samples.append((t, residentMegabytes()))
                Plain.out(String(format: "%6.0f s  %7.1f MB resident  %d events", t, samples.last!.1, i))
                nextSample += every
            }
            // Chat and metrics-like events: the team log and windows stay bounded.
            _ = await engine.ingest(i % 2 == 0 ? .chatMessage(from: "load", text: "line \(i) " + String(repeating: "x", count: 100))
                                                : .metricsSample(MetricsSample(version: "v", requests: 100, errors: 1, p50: 10, p99: 20, window: 1)))
            i += 1
            if i % max(1, rate / 100) == 0 { try await Task.sleep(for: .milliseconds(10)) }
        }
        samples.append((seconds_(ContinuousClock.now - started), residentMegabytes()))
        let first = samples.dropFirst().first?.1 ?? samples[0].1
        Plain.out(String(format: "%d clients, %d events: resident %.1f MB after the first sample, %.1f MB at the end (max %.1f)", clients, i, first, samples.last!.1, samples.map(\.1).max() ?? 0))
        for c in conns { await c.close() }
        for r in readers { r.cancel() }
        await server.shutdown(reason: "bench over")
        try? FileManager.default.removeItem(atPath: dir)
    }
}

/// The process's resident set now (from /proc/self/statm).
func residentMegabytes() -> Double {
    guard let s = try? String(contentsOfFile: "/proc/self/statm", encoding: .utf8) else { return .nan }
    let pages = Double(s.split(separator: " ").dropFirst().first.flatMap { Double($0) } ?? 0)
    return pages * Double(sysconf(Int32(_SC_PAGESIZE))) / 1_048_576
}
