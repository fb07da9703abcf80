import ArgumentParser
import Foundation
import FridayCore
import FridayEngine
import FridayIntegrations


/// `friday bench …`: the figures of BENCHMARKS.md, measured in one process.
struct Bench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Measure the engine: reduce, log, cold start, memory, judge.",
        subcommands: [BenchReduce.self, BenchLog.self, BenchColdStart.self, BenchMemory.self, BenchJudge.self, BenchFold.self, BenchBenchmark.self, BenchHAProxy.self, BenchCanary.self, BenchTrust.self, BenchFanout.self, BenchAttach.self, BenchServeMemory.self, BenchSoak.self, BenchSoakEngine.self, BenchStore.self]
    )
}

/// Events of a long simulated deploy (the steady scenario: metrics every second), renumbered to `count`.
func benchEvents(_ count: Int) async -> [DeployEvent] {
    let settings = SimulationSettings(scenario: .steady, seed: 1)
    let base = SimulationSettings.fridayAfternoon
    let clock = ManualClock(base)
    let engine = Engine(deployID: "bench", clock: clock, router: SimulatedRouter(), metrics: SimulatedTraffic(settings: settings),
                        sources: [SimulatedDeploy(settings: settings)])
    let box = EventBox()
    await engine.addSink { box.append($0) }
    var t = 0.0
    while box.count < min(count, 20_000) {
        clock.set(base + t)
        await engine.advance(to: base + t)
        t += 1
    }
    var events = box.events
    // Repeat the steady tail (metrics and chat) with new numbers and times to reach `count`.
    let head = events.count
    let tail = Array(events[(head / 2)...])
    var i = 0
    let span = (tail.last!.ts - tail.first!.ts) + 1
    var shift = 0.0
    while events.count < count {
        if i == tail.count { i = 0; shift += span }
        var e = tail[i]
        e.seq = events.count
        e.ts = e.ts + shift + span
        events.append(e)
        i += 1
    }
    return Array(events.prefix(count))
}

final class EventBox: @unchecked Sendable {
    private let lock = Lock()
    private var store: [DeployEvent] = []
    func append(_ e: DeployEvent) { lock.withLock { store.append(e) } }
    var count: Int { lock.withLock { store.count } }
    var events: [DeployEvent] { lock.withLock { store } }
}

func seconds(_ d: Duration) -> Double { Double(d.components.seconds) + Double(d.components.attoseconds) * 1e-18 }

func peakRSSMegabytes() -> Double {
    var u = rusage()
    getrusage(RUSAGE_SELF.rawValue, &u)
    return Double(u.ru_maxrss) / 1024
}

func median(_ xs: [Double]) -> Double {
    let s = xs.sorted()
    guard !s.isEmpty else { return .nan }
    return s.count % 2 == 1 ? s[s.count / 2] : (s[s.count / 2 - 1] + s[s.count / 2]) / 2
}

/// A deploy of a baseline and `candidates` candidates held at one step, with a metrics
/// sample per version per second: the fold's worst case for several candidates.
func multiwayBenchEvents(_ count: Int, candidates: Int) -> [DeployEvent] {
    let names = ["v2.3.0"] + (1...candidates).map { "v2.4.0-\($0)" }
    let share = 100 / names.count
    let split = names.enumerated().map { VersionWeight(version: $1, percent: $0 == 0 ? 100 - share * candidates : share) }
    let last = names.enumerated().map { VersionWeight(version: $1, percent: $0 == 0 ? 0 : 100 / candidates + ($0 <= 100 % candidates ? 1 : 0)) }
    let plan = RolloutPlan(steps: [RolloutStep(weight: 100 - split[0].percent, pause: .untilPromoted, weights: split), RolloutStep(weight: 100, pause: .seconds(0), weights: last)],
                           moreCandidates: names.dropFirst(2).map { VersionRef(name: $0, commit: "c") })
    let base = SimulationSettings.fridayAfternoon
    var out: [DeployEvent] = []
    func add(_ p: EventPayload, _ t: Double) { out.append(DeployEvent(seq: out.count, ts: base + t, deploy: "bench", payload: p)) }
    add(.deployStarted(service: "checkout", from: VersionRef(name: names[0], commit: "o"), to: VersionRef(name: names[1], commit: "a"), plan: plan, stages: ["build"], by: "bench"), 0)
    add(.stageStarted(stage: "build"), 0)
    add(.stageFinished(stage: "build", status: .succeeded, seconds: 1), 1)
    add(.trafficSet(weights: split, cause: .step(index: 0)), 1)
    add(.trafficObserved(weights: split), 1)
    add(.stepStarted(index: 0, weight: plan.steps[0].weight, pause: .untilPromoted), 1)
    var rng = SeededGenerator(seed: 1)
    var t = 2.0
    while out.count < count {
        for w in split where out.count < count {
            let n = 50 * w.percent
            add(.metricsSample(MetricsSample(version: w.version, requests: n, errors: rng.binomial(n, 0.004), p50: 38 + Double(rng.binomial(20, 0.5)),
                                             p99: 140 + Double(rng.binomial(40, 0.5)), window: 1, slow: rng.binomial(n, 0.01))), t)
        }
        t += 1
    }
    return out
}

struct BenchReduce: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "reduce", abstract: "Events folded into the state per second.")
    @Option var events = 1_000_000
    @Option var runs = 5
    @Option(help: "Candidates (1: the steady demo's two-version stream; 2 to 4: a held step of several candidates, a sample per version per second).") var candidates = 1
    func validate() throws {
        guard (1...RolloutPlan.maxCandidates).contains(candidates) else { throw ValidationError("--candidates must be 1 to \(RolloutPlan.maxCandidates)") }
    }
    func run() async {
        let evs = candidates == 1 ? await benchEvents(events) : multiwayBenchEvents(events, candidates: candidates)
        var rates: [Double] = []
        for _ in 0..<runs {
            var s = DeployState()
            let t0 = ContinuousClock.now
            for e in evs { Reducer.reduce(&s, e) }
            rates.append(Double(evs.count) / seconds(ContinuousClock.now - t0))
            precondition(s.lastSeq == evs.count - 1)
        }
        Plain.out("reduce: \(evs.count) events\(candidates > 1 ? " (\(candidates) candidates)" : ""), \(runs) runs: median \(Int(median(rates))) events/s (min \(Int(rates.min()!)), max \(Int(rates.max()!)))")
    }
}

struct BenchLog: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "log", abstract: "Appends per second with the real sync policy.")
    @Option var events = 200_000
    @Option(help: "Log path (default: a new temporary file).") var path: String?
    @Flag(help: "Print `ack SEQ` after each durable event is on disk (for crash tests).") var ack = false
    @Option(help: "Make every Nth event durable (a chat line) on top of the simulator's mix; 0 keeps the mix.") var durableEvery = 0
    @Option(help: "Events of the simulator's stream to repeat (1,000 to 1,000,000).") var pattern = 20_000
    func validate() throws {
        guard (1_000...1_000_000).contains(pattern) else { throw ValidationError("--pattern must be between 1000 and 1000000") }
    }
    func run() async throws {
        let pattern = await benchEvents(self.pattern)
        let file = path ?? NSTemporaryDirectory() + "friday-bench-\(getpid()).jsonl"
        if path == nil { try? FileManager.default.removeItem(atPath: file) }
        let (log, _) = try EventLog.open(path: file, snapshotEvery: Int.max)
        var s = DeployState()
        var durable = 0
        let span = pattern.last!.ts - pattern.first!.ts + 1
        let t0 = ContinuousClock.now
        for n in 0..<events {
            // The simulator's stream, repeated with new numbers and times.
            var e = pattern[n % pattern.count]
            e.seq = n
            e.ts = e.ts + Double(n / pattern.count) * span
            if durableEvery > 0, n % durableEvery == 0 { e.payload = .chatMessage(from: "bench", text: "durable \(n)") }
            Reducer.reduce(&s, e)
            try log.append(e, state: s)
            if EventLog.isDurable(e) {
                durable += 1
                if ack { _ = "ack \(n)\n".withCString { Glibc.write(1, $0, strlen($0)) } }
            }
        }
        log.close()
        let secs = seconds(ContinuousClock.now - t0)
        if !ack {
            Plain.out("log: \(events) events (\(durable) durable, each synced before acknowledged; the rest batched), \(String(format: "%.2f", secs)) s: \(Int(Double(events) / secs)) events/s")
        }
        if path == nil { try? FileManager.default.removeItem(atPath: file) }
    }
}

struct BenchColdStart: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "coldstart", abstract: "Opening a long log, with and without a snapshot.")
    @Option var events = 1_000_000
    func run() async throws {
        let dir = NSTemporaryDirectory() + "friday-cold-\(getpid())"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let file = dir + "/deploy.jsonl"
        let evs = await benchEvents(events)
        do {
            let (log, _) = try EventLog.open(path: file, snapshotEvery: 100_000)
            var s = DeployState()
            for e in evs { Reducer.reduce(&s, e); try log.append(e, state: s) }
            log.close()
        }
        let size = (try? FileManager.default.attributesOfItem(atPath: file)[.size] as? Int) ?? 0
        var with: [Double] = [], without: [Double] = []
        for _ in 0..<3 {
            var t0 = ContinuousClock.now
            let (a, ra) = try EventLog.open(path: file, snapshotEvery: Int.max)
            with.append(seconds(ContinuousClock.now - t0))
            a.close()
            precondition(ra.usedSnapshot && ra.state.lastSeq == evs.count - 1)
            let snap = EventLog.snapshotPath(file)
            try FileManager.default.moveItem(atPath: snap, toPath: snap + ".away")
            t0 = ContinuousClock.now
            let (b, rb) = try EventLog.open(path: file, snapshotEvery: Int.max)
            without.append(seconds(ContinuousClock.now - t0))
            b.close()
            precondition(!rb.usedSnapshot && rb.state.lastSeq == evs.count - 1)
            try FileManager.default.moveItem(atPath: snap + ".away", toPath: snap)
        }
        Plain.out("coldstart: \(evs.count) events, \(size / 1_000_000) MB log: median \(String(format: "%.3f", median(with))) s with snapshot, \(String(format: "%.3f", median(without))) s without (3 runs each)")
    }
}

struct BenchMemory: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "memory", abstract: "Peak memory after folding many events.")
    @Option var events = 10_000_000
    func run() async {
        let pattern = await benchEvents(20_000)
        let tail = Array(pattern[10_000...])
        let span = tail.last!.ts - tail.first!.ts + 1
        var s = DeployState()
        for e in pattern.prefix(10_000) { Reducer.reduce(&s, e) }
        let before = peakRSSMegabytes()
        var n = 10_000
        var round = 0.0
        let t0 = ContinuousClock.now
        while n < events {
            round += 1
            for var e in tail where n < events {
                e.seq = n
                e.ts = e.ts + round * span
                Reducer.reduce(&s, e)
                n += 1
            }
        }
        let secs = seconds(ContinuousClock.now - t0)
        Plain.out("memory: \(n) events folded in \(String(format: "%.1f", secs)) s; peak RSS \(String(format: "%.1f", peakRSSMegabytes())) MB (\(String(format: "%.1f", before)) MB after the first 10,000)")
    }
}

struct BenchHAProxy: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "haproxy", abstract: "Weight-change round trip to HAProxy's runtime API (set, then read back).")
    @Option(help: "Runtime API socket path or host:port.") var socket: String
    @Option var backend = "app"
    @Option var server = "new"
    @Option var runs = 1000
    func run() async throws {
        let rt = HAProxyRuntime(address: socket)
        var times: [Double] = []
        for i in 0..<runs {
            let w = i % 2 == 0 ? 10 : 20
            let t0 = ContinuousClock.now
            _ = try await rt.send("set weight \(backend)/\(server) \(w)")
            let back = try await rt.send("get weight \(backend)/\(server)")
            times.append(seconds(ContinuousClock.now - t0) * 1000)
            guard back.hasPrefix("\(w) ") else { throw ExitWith(message: "\(socket): set \(w), read back \(back)") }
        }
        let sorted = times.sorted()
        Plain.out("haproxy: \(runs) weight changes (set + get weight) on \(socket): median \(String(format: "%.3f", median(times))) ms, p99 \(String(format: "%.3f", sorted[Int(Double(runs) * 0.99) - 1])) ms")
    }
}

struct BenchCanary: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "canary",
        abstract: "Against the example stack under load: time from the new version failing to HAProxy weight 0, and the share of requests it got meanwhile.")
    @Option(help: "The stack's folder (examples/haproxy/stack.sh start RUN_DIR).") var run: String
    @Option(help: "The stack's frontend port.") var frontPort = 18080
    @Option var runs = 5
    @Option(help: "Requests per second of load.") var rate = 300
    @Option(help: "Error rate the new version fails with.") var errorRate = 0.2
    func run() async throws {
        let rt = HAProxyRuntime(address: run + "/admin.sock")
        let router = HAProxyRouter(instances: [rt], backend: "app", servers: ["v2.3.0": "old", "v2.4.0": "new"])
        let loadScript = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../../examples/haproxy/load.py").standardized.path
        var times: [Double] = [], shares: [Double] = []
        func counters() async throws -> (new: Int, all: Int) {
            let rows = try await rt.stats()
            let new = Int(rows.first { $0["pxname"] == "app" && $0["svname"] == "new" }?["stot"] ?? "") ?? 0
            let all = Int(rows.first { $0["pxname"] == "app" && $0["svname"] == "BACKEND" }?["stot"] ?? "") ?? 0
            return (new, all)
        }
        for i in 1...runs {
            try "0\n".write(toFile: run + "/new.error_rate", atomically: true, encoding: .utf8)
            _ = try await router.setWeights([VersionWeight(version: "v2.3.0", percent: 100), VersionWeight(version: "v2.4.0", percent: 0)])
            var sim = SimulationSettings(scenario: .good, seed: UInt64(i))
            sim.plan = RolloutPlan(steps: [RolloutStep(weight: 10, pause: .seconds(600)), RolloutStep(weight: 100, pause: .seconds(0))])
            sim.stageNames = ["release container"]
            sim.simulateTeam = false
            let clock = ScaledClock(base: Timestamp(seconds: Date().timeIntervalSince1970), speed: 1)
            let engine = Engine(deployID: "bench-\(i)", clock: clock, router: router, metrics: HAProxyStats(router: router),
                                sources: [SimulatedDeploy(settings: sim)], judge: CanaryJudge())
            let driver = Task { await engine.run() }
            let load = Process()
            load.executableURL = URL(fileURLWithPath: "/usr/bin/env")
            load.arguments = ["python3", loadScript, "--url", "http://127.0.0.1:\(frontPort)/", "--rate", "\(rate)", "--seconds", "120"]
            load.standardOutput = FileHandle.nullDevice
            try load.run()
            while await engine.state.stepIndex != 0 { try await Task.sleep(for: .milliseconds(50)) }
            try await Task.sleep(for: .seconds(5)) // healthy traffic first
            let before = try await counters()
            try "\(errorRate)\n".write(toFile: run + "/new.error_rate", atomically: true, encoding: .utf8)
            let failedAt = ContinuousClock.now
            while await engine.state.outcome != .reverted, ContinuousClock.now - failedAt < .seconds(60) { try await Task.sleep(for: .milliseconds(20)) }
            let secs = seconds(ContinuousClock.now - failedAt)
            let after = try await counters()
            driver.cancel()
            kill(load.processIdentifier, SIGKILL)
            load.waitUntilExit()
            let share = Double(after.new - before.new) / Double(max(1, after.all - before.all))
            times.append(secs); shares.append(share)
            Plain.out("run \(i): weight 0 after \(String(format: "%.2f", secs)) s; \(after.new - before.new) of \(after.all - before.all) requests (\(String(format: "%.1f", share * 100))%) reached the failing version")
        }
        Plain.out("canary: \(runs) runs at \(rate) req/s, new version failing at \(Int(errorRate * 100))% from a 10% step: median \(String(format: "%.2f", median(times))) s to weight 0; median \(String(format: "%.1f", median(shares) * 100))% of requests reached it meanwhile")
    }
}

/// `friday bench trust`: how fast the engine acts when it matters, against HAProxy (or the simulator):
/// from `r` to router weight 0 while the metrics source (a Prometheus that accepts and never
/// answers) is stalled, and from a hand edit of the weights to `traffic.drifted`.
struct BenchTrust: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "trust", abstract: "Revert latency with Prometheus stalled, and drift detection after a hand edit.")
    @Option(help: "HAProxy runtime API socket (backend app, servers old and new); the simulator router without it.") var socket: String?
    @Option var runs = 5

    func run() async throws {
        let silent = try SilentListener()
        defer { silent.close() }
        let versions = ["v2.3.0": "old", "v2.4.0": "new"]
        func makeRouter() -> (any TrafficRouter, SimulatedRouter?) {
            if let socket { return (HAProxyRouter(instances: [HAProxyRuntime(address: socket)], backend: "app", servers: versions), nil) }
            let r = SimulatedRouter()
            return (r, r)
        }
        func canary(_ r: any TrafficRouter) async -> Int? { (try? await r.currentWeights())??.first { $0.version == "v2.4.0" }?.percent }
        func engine(_ router: any TrafficRouter, metrics: (any MetricsSource)?) -> Engine {
            var sim = SimulationSettings(scenario: .good, seed: 1)
            sim.plan = RolloutPlan(steps: [RolloutStep(weight: 10, pause: .seconds(600)), RolloutStep(weight: 100, pause: .seconds(0))])
            sim.stageNames = ["release container"]
            sim.simulateTeam = false
            return Engine(deployID: "bench-trust", clock: ScaledClock(base: Timestamp(seconds: Date().timeIntervalSince1970), speed: 1),
                          router: router, metrics: metrics, sources: [SimulatedDeploy(settings: sim)], judge: nil, metricsDeadline: 30)
        }
        var revert: [Double] = [], drift: [Double] = []
        for _ in 0..<runs {
            let (router, _) = makeRouter()
            _ = try await router.setWeights([VersionWeight(version: "v2.3.0", percent: 100), VersionWeight(version: "v2.4.0", percent: 0)])
            let prometheus = PrometheusMetrics(url: "http://127.0.0.1:\(silent.port)", requestRate: "r", errorRate: "e", latency: nil, servers: versions, timeoutSeconds: 20)
            let e = engine(router, metrics: prometheus)
            let driver = Task { await e.run() }
            while await e.state.stepIndex != 0 { try await Task.sleep(for: .milliseconds(10)) }
            try await Task.sleep(for: .milliseconds(1500)) // a metrics fetch is stuck in the stalled Prometheus
            let t0 = ContinuousClock.now
            await e.submit(Command(.revert, by: "bench", text: "bench"))
            while await canary(router) != 0, ContinuousClock.now - t0 < .seconds(30) { try await Task.sleep(for: .milliseconds(1)) }
            revert.append(seconds(ContinuousClock.now - t0) * 1000)
            driver.cancel()
        }
        for _ in 0..<runs {
            let (router, simulated) = makeRouter()
            _ = try await router.setWeights([VersionWeight(version: "v2.3.0", percent: 100), VersionWeight(version: "v2.4.0", percent: 0)])
            let e = engine(router, metrics: nil)
            let driver = Task { await e.run() }
            while await e.state.stepIndex != 0 { try await Task.sleep(for: .milliseconds(10)) }
            try await Task.sleep(for: .milliseconds(Int.random(in: 100...900)))
            let t0 = ContinuousClock.now
            if let simulated { simulated.setByHand([VersionWeight(version: "v2.3.0", percent: 50), VersionWeight(version: "v2.4.0", percent: 50)]) }
            else if let socket { _ = try await HAProxyRuntime(address: socket).send("set weight app/new 50"); _ = try await HAProxyRuntime(address: socket).send("set weight app/old 50") }
            while await e.state.drift == nil, ContinuousClock.now - t0 < .seconds(30) { try await Task.sleep(for: .milliseconds(5)) }
            drift.append(seconds(ContinuousClock.now - t0))
            driver.cancel()
        }
        let target = socket.map { "HAProxy \($0)" } ?? "the simulator router"
        Plain.out("trust (\(target), \(runs) runs): r to weight 0 with Prometheus stalled: median \(String(format: "%.1f", median(revert))) ms, max \(String(format: "%.1f", revert.max() ?? 0)) ms")
        Plain.out("trust (\(target), \(runs) runs): hand edit to traffic.drifted: median \(String(format: "%.2f", median(drift))) s, max \(String(format: "%.2f", drift.max() ?? 0)) s (one tick is 1 s)")
    }
}

/// A TCP listener on 127.0.0.1 that never accepts: connects succeed, nothing ever answers.
final class SilentListener: @unchecked Sendable {
    let fd: Int32
    let port: Int
    init() throws {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = 0
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        let ok = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, len) } } == 0 && listen(fd, 128) == 0
        guard ok else { throw ExitWith(message: "bench: cannot listen on 127.0.0.1") }
        _ = withUnsafeMutablePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &len) } }
        self.fd = fd
        port = Int(UInt16(bigEndian: addr.sin_port))
    }
    func close() { Glibc.close(fd) }
}
