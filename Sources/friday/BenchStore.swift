import ArgumentParser
import Foundation
import FridayCore
import FridayEngine
import FridayStore
import Synchronization

/// `friday bench store`: the shared history's figures on a real PostgreSQL, through the
/// same outbox the engines use (read from a durable local log, batches of 1,000, one
/// transaction and one notification each):
///
/// - events per second into the store from 1 engine and from 10 at once (each its own pool,
///   as each engine is its own process);
/// - the delay from an event published by an engine to the notification on another
///   connection (what `friday board --store` on another machine would wait for);
/// - the catch-up after an outage: a backlog of `outage` seconds at `rate` events/s while
///   the engine goes on writing at that rate, until the store holds everything again.
///
/// It writes deploys named bench-… into the store: point it at a scratch database.
struct BenchStore: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "store", abstract: "Events/s into PostgreSQL from 1 and 10 engines, notify delay, catch-up after an outage (a scratch database: it writes deploys bench-…).")
    @Option(help: "postgres://USER@HOST:PORT/DATABASE (default: $FRIDAY_STORE).") var store: String?
    @Option(help: "Events per engine in the throughput runs (1,000 to 1,000,000).") var events = 50_000
    @Option(help: "Runs of each throughput case (1 to 20); the median is reported.") var repeats = 3
    @Option(help: "Events published one at a time for the notify delay (10 to 100,000).") var pings = 300
    @Option(help: "The outage to catch up on, in seconds (0 to 3600; 0 skips it).") var outage = 600
    @Option(help: "Events per second the engine writes, before and during the catch-up (1 to 100,000).") var rate = 1000

    func validate() throws {
        guard (1000...1_000_000).contains(events) else { throw ValidationError("--events must be 1000 to 1000000") }
        guard (1...20).contains(repeats) else { throw ValidationError("--repeats must be 1 to 20") }
        guard (10...100_000).contains(pings) else { throw ValidationError("--pings must be 10 to 100000") }
        guard (0...3600).contains(outage) else { throw ValidationError("--outage must be 0 to 3600 seconds") }
        guard (1...100_000).contains(rate) else { throw ValidationError("--rate must be 1 to 100000") }
    }

    func run() async throws {
        let address = try storeAddress(store)!
        let admin = Store(address)
        do { _ = try await admin.migrate() } catch { await admin.close(); throw storeFailure(error) }
        await admin.close()
        let dir = NSTemporaryDirectory() + "friday-bench-store-\(getpid())"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let runID = String(UInt32.random(in: 0...UInt32.max), radix: 16)
        print("store \(address.redacted), run \(runID)")

        for engines in [1, 10] {
            var rates: [Double] = []
            for r in 0..<repeats {
                let ids = (0..<engines).map { "bench-\(runID)-\(engines)x-\(r)-\($0)" }
                for id in ids { try BenchStore.writeLog(dir + "/\(id).jsonl", deploy: id, events: events) }
                let start = ContinuousClock.now
                let shipped = await withTaskGroup(of: Bool.self) { group in
                    for id in ids {
                        let path = dir + "/\(id).jsonl", last = events - 1
                        group.addTask { await BenchStore.ship(address, path: path, deploy: id, upTo: last) }
                    }
                    var all = true
                    for await ok in group { all = all && ok }
                    return all
                }
                let secs = seconds(ContinuousClock.now - start)
                guard shipped else { throw ExitWith(message: "the store did not take every event (run \(r), \(engines) engine(s))") }
                rates.append(Double(engines * events) / secs)
                for id in ids { try? FileManager.default.removeItem(atPath: dir + "/\(id).jsonl") }
            }
            print("into the store, \(engines) engine\(engines == 1 ? "" : "s") × \(events) events: median \(Int(median(rates))) events/s (runs: \(rates.map { String(Int($0)) }.joined(separator: ", ")))")
        }

        let delays = try await notifyDelays(address, dir: dir, deploy: "bench-\(runID)-notify")
        print(String(format: "event published → notification on another connection, %d events one at a time: median %.2f ms, p99 %.2f ms, max %.2f ms",
                     delays.count, median(delays), percentile(delays, 0.99), delays.max() ?? .nan))

        if outage > 0 {
            let (catchUp, backlog) = try await catchUp(address, dir: dir, deploy: "bench-\(runID)-outage")
            print(String(format: "catch-up after a %d s outage at %d events/s (%d events behind, the engine writing on): %.1f s (%.0f events/s shipped)",
                         outage, rate, backlog, catchUp, (Double(backlog) + catchUp * Double(rate)) / catchUp))
        }
    }

    /// A deploy's log as an engine writes it: a start, then metrics samples with a
    /// read-back now and then (the bulk of a real deploy's events).
    static func writeLog(_ path: String, deploy: String, events: Int, firstSeq: Int = 0) throws {
        var text = ""
        text.reserveCapacity(events * 260)
        for seq in firstSeq..<(firstSeq + events) { text += line(deploy: deploy, seq: seq) + "\n" }
        guard FileManager.default.createFile(atPath: path, contents: Data(text.utf8)) else { throw ExitWith(message: "cannot write \(path)") }
    }

    static func line(deploy: String, seq: Int) -> String {
        let ts = Timestamp(seconds: 1_780_000_000 + Double(seq) / 1000)
        let payload: EventPayload
        if seq == 0 {
            payload = .deployStarted(service: "bench", from: VersionRef(name: "v1", commit: "a1"), to: VersionRef(name: "v2", commit: "b2"),
                                     plan: .standard, stages: ["build"], by: "bench")
        } else if seq % 10 == 0 {
            payload = .trafficObserved(weights: [VersionWeight(version: "v1", percent: 95), VersionWeight(version: "v2", percent: 5)])
        } else {
            payload = .metricsSample(MetricsSample(version: seq % 2 == 0 ? "v1" : "v2", requests: 950 + seq % 97, errors: seq % 7, p50: 12.5, p99: 48.25, window: 1, slow: seq % 5))
        }
        return EventLog.line(for: DeployEvent(seq: seq, ts: ts, deploy: deploy, payload: payload))
    }

    /// Ships a log up to `last` as `friday store push` does; true when the store has it all.
    static func ship(_ address: StoreAddress, path: String, deploy: String, upTo last: Int) async -> Bool {
        let store = Store(address)
        let outbox = StoreOutbox(store: store, logPath: path, deploy: deploy, host: "bench", report: { _ in })
        outbox.published(upTo: last)
        let task = Task { await outbox.run() }
        task.cancel()
        await task.value
        await store.close()
        return outbox.storedUpTo == last
    }

    /// Publishes events one at a time to a running outbox and times each to its notification.
    func notifyDelays(_ address: StoreAddress, dir: String, deploy: String) async throws -> [Double] {
        let path = dir + "/\(deploy).jsonl"
        try BenchStore.writeLog(path, deploy: deploy, events: 1)
        let store = Store(address), listener = Store(address)
        let heard = AsyncStream<String>.makeStream()
        let ready = AsyncStream<Void>.makeStream()
        let listening = Task {
            do { try await listener.listen(listening: { ready.continuation.yield() }, heard: { heard.continuation.yield($0) }) } catch {
                Plain.err("friday bench store: \(TerminalText.neutralise("\(error)"))")
            }
            ready.continuation.finish()
            heard.continuation.finish()
        }
        var readyIt = ready.stream.makeAsyncIterator()
        guard await readyIt.next() != nil else { throw ExitWith(message: "could not listen on the store") }
        let outbox = StoreOutbox(store: store, logPath: path, deploy: deploy, host: "bench", report: { _ in })
        let shipping = Task { await outbox.run() }
        var it = heard.stream.makeAsyncIterator()
        outbox.published(upTo: 0)
        while let d = await it.next(), d != deploy {}
        let log = try FileHandle(forWritingTo: URL(fileURLWithPath: path))
        try log.seekToEnd()
        var delays: [Double] = [], rowDelays: [Double] = []
        for seq in 1...pings {
            try log.write(contentsOf: Data((BenchStore.line(deploy: deploy, seq: seq) + "\n").utf8))
            let start = ContinuousClock.now
            outbox.published(upTo: seq)
            while let d = await it.next(), d != deploy {}
            delays.append(seconds(ContinuousClock.now - start) * 1000)
            // What `friday board --store` then does: read the deploy's row.
            let row = try await listener.summaries(deploy: deploy).first
            guard row?.lastSeq == seq else { throw ExitWith(message: "the row of \(deploy) says seq \(row?.lastSeq ?? -1) after the notification of \(seq)") }
            rowDelays.append(seconds(ContinuousClock.now - start) * 1000)
            try? await Task.sleep(for: .milliseconds(5))
        }
        print(String(format: "event published → its row read by a board on another connection (notification + query), %d events: median %.2f ms, p99 %.2f ms, max %.2f ms",
                     rowDelays.count, median(rowDelays), percentile(rowDelays, 0.99), rowDelays.max() ?? .nan))
        try log.close()
        shipping.cancel()
        await shipping.value
        listening.cancel()
        await listening.value
        await store.close()
        await listener.close()
        return delays
    }

    /// A backlog of `outage × rate` events, then the outbox starting while a writer goes on
    /// at `rate`: the seconds until the store holds everything published.
    func catchUp(_ address: StoreAddress, dir: String, deploy: String) async throws -> (Double, Int) {
        let path = dir + "/\(deploy).jsonl"
        let backlog = outage * rate
        try BenchStore.writeLog(path, deploy: deploy, events: backlog)
        let store = Store(address)
        let outbox = StoreOutbox(store: store, logPath: path, deploy: deploy, host: "bench", report: { _ in })
        outbox.published(upTo: backlog - 1)
        let writer = BenchWriter(path: path, deploy: deploy, next: backlog, rate: rate, outbox: outbox)
        let start = ContinuousClock.now
        writer.start()
        let shipping = Task { await outbox.run() }
        while true {
            try? await Task.sleep(for: .milliseconds(20))
            if let s = outbox.storedUpTo, s >= writer.published - 1, s >= backlog - 1 { break }
            if ContinuousClock.now - start > .seconds(3600) { throw ExitWith(message: "no catch-up within an hour") }
        }
        let secs = seconds(ContinuousClock.now - start)
        writer.stop()
        shipping.cancel()
        await shipping.value
        await store.close()
        return (secs, backlog)
    }
}

/// Appends events to a log at a steady rate on a thread of its own (file writes stay off
/// the cooperative pool), publishing each batch to the outbox as the engine would.
final class BenchWriter: Sendable {
    let path: String, deploy: String, rate: Int
    let outbox: StoreOutbox
    private let state: Mutex<(next: Int, stop: Bool)>
    init(path: String, deploy: String, next: Int, rate: Int, outbox: StoreOutbox) {
        self.path = path; self.deploy = deploy; self.rate = rate; self.outbox = outbox
        state = Mutex((next, false))
    }
    /// One past the last seq published.
    var published: Int { state.withLock { $0.next } }
    func stop() { state.withLock { $0.stop = true } }
    func start() {
        let t = Thread { [self] in
            guard let log = FileHandle(forWritingAtPath: path) else { return }
            _ = try? log.seekToEnd()
            let begin = ContinuousClock.now
            var written = 0
            while !state.withLock({ $0.stop }) {
                // Every 10 ms, the events due by now.
                let due = Int(Double(rate) * seconds(ContinuousClock.now - begin))
                if due > written {
                    let first = state.withLock { $0.next }
                    var text = ""
                    for seq in first..<(first + due - written) { text += BenchStore.line(deploy: deploy, seq: seq) + "\n" }
                    try? log.write(contentsOf: Data(text.utf8))
                    let last = first + due - written - 1
                    state.withLock { $0.next = last + 1 }
                    outbox.published(upTo: last)
                    written = due
                }
                usleep(10_000)
            }
            try? log.close()
        }
        t.start()
    }
}

private func percentile(_ xs: [Double], _ p: Double) -> Double {
    let s = xs.sorted()
    guard !s.isEmpty else { return .nan }
    return s[min(s.count - 1, Int((Double(s.count - 1) * p).rounded()))]
}
