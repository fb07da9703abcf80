import FridayCore
import FridayEngine
import NIOPosix
import Synchronization

/// Copies a deploy's events from its durable local log to the store, in order, and catches
/// up after an outage. The local log stays the source of truth: the outbox reads the file,
/// and ships only events the engine has published (synced when durable), so the store never
/// holds an event a crash could take back from the log. A batch is one transaction; sent
/// again after a lost reply it writes nothing twice ((deploy, seq) is the key).
public final class StoreOutbox: Sendable {
    public let store: Store
    let logPath: String
    let deploy: String
    let host: String
    let batchLimit: Int
    let report: @Sendable (String) -> Void
    /// Called (off the engine's path) after a batch whose deploy ended as promoted or failed.
    let onFinished: @Sendable (DeployState) async -> Void

    private struct Shared {
        var published = -1
        var stored: Int?
        var wake: AsyncStream<Void>.Continuation?
        var outage: String?
        var batches = 0
    }
    private let shared = Mutex(Shared())
    private let wakeStream: AsyncStream<Void>

    public init(store: Store, logPath: String, deploy: String, host: String, batchLimit: Int = 1000,
                report: @escaping @Sendable (String) -> Void, onFinished: @escaping @Sendable (DeployState) async -> Void = { _ in }) {
        self.store = store; self.logPath = logPath; self.deploy = deploy; self.host = host
        self.batchLimit = max(1, batchLimit); self.report = report; self.onFinished = onFinished
        let (stream, cont) = AsyncStream<Void>.makeStream(bufferingPolicy: .bufferingNewest(1))
        wakeStream = stream
        shared.withLock { $0.wake = cont }
    }

    /// The engine has published every event up to `seq` (from its subscription).
    public func published(upTo seq: Int) {
        let w = shared.withLock { s -> AsyncStream<Void>.Continuation? in
            guard seq > s.published else { return nil }
            s.published = seq
            return s.wake
        }
        w?.yield()
    }

    /// The highest seq the store has confirmed (nil before the first answer).
    public var storedUpTo: Int? { shared.withLock { $0.stored } }
    /// Why the store is not being written now, if it is not.
    public var outage: String? { shared.withLock { $0.outage } }

    /// Feeds `published(upTo:)` from the engine's events until cancelled.
    public func follow(_ engine: Engine) async {
        let start = await engine.snapshot().lastSeq
        published(upTo: start)
        let stream = await engine.subscribe(buffer: 1 << 14)
        for await e in stream { published(upTo: e.seq) }
    }

    /// Ships until cancelled, and then until what was published when cancelled is shipped
    /// or the store fails (a clean stop leaves the store caught up when it can).
    public func run() async {
        var reader = LogTail(path: logPath)
        var state = DeployState()
        var queue: [(event: DeployEvent, line: String)] = []
        var backoff = 0.25
        var finishedReported = false
        var it = wakeStream.makeAsyncIterator()
        while true {
            let cancelled = Task.isCancelled
            let target = shared.withLock { $0.published }
            do throws(StoreError) {
                var stored: Int
                if let s = shared.withLock({ $0.stored }) { stored = s } else {
                    stored = try await store.storedUpTo(deploy)
                    shared.withLock { $0.stored = stored }
                    // What was queued and is now known stored is not sent again.
                    queue.removeAll { $0.event.seq <= stored }
                }
                if stored < target {
                    // Read what the engine has published and the store lacks.
                    if queue.count < batchLimit {
                        let more = try await reader.read(upTo: target, max: batchLimit - queue.count)
                        for (e, line) in more {
                            Reducer.reduce(&state, e)
                            if e.seq > stored { queue.append((e, line)) }
                        }
                        // Lines the store already has (after a restart, or a push): read on.
                        if queue.isEmpty, !more.isEmpty { continue }
                    }
                    if !queue.isEmpty {
                        let batch = Array(queue.prefix(batchLimit))
                        // The queue never holds more than one batch, so `state` is the state
                        // after the batch's last event: the deploy's row matches its events.
                        var row = DeploySummary(state, host: host)
                        row.deploy = deploy
                        try await store.append(batch, summary: row)
                        queue.removeFirst(batch.count)
                        stored = batch.last!.event.seq
                        let wasDown = shared.withLock { s -> String? in
                            s.stored = stored; s.batches += 1
                            defer { s.outage = nil }
                            return s.outage
                        }
                        if wasDown != nil { report("the store \(store.address.redacted) answers again: catching up from seq \(batch.first!.event.seq)") }
                        backoff = 0.25
                        if !finishedReported, queue.isEmpty, let o = state.outcome, o == .promoted || o == .failed {
                            finishedReported = true
                            await onFinished(state)
                        }
                        continue
                    }
                }
                if cancelled { return }
            } catch {
                let first = shared.withLock { s -> Bool in
                    defer { s.outage = error.message; s.stored = nil }
                    return s.outage == nil
                }
                if first { report("\(error.message); the local log keeps every event and the store catches up when it answers") }
                if cancelled { return }
                try? await Task.sleep(for: .milliseconds(Int(backoff * 1000)))
                backoff = min(5, backoff * 2)
                continue
            }
            if (shared.withLock { $0.stored }) ?? -1 < target {
                // Published but not yet readable in full: look again shortly.
                try? await Task.sleep(for: .milliseconds(50))
                continue
            }
            // Caught up: wait for the engine to publish more (a cancel ends the wait too).
            _ = await it.next()
        }
    }
}

/// Reads a log file forward from where it last stopped, complete lines only, without
/// blocking the cooperative pool (reads run on NIO's thread pool).
struct LogTail {
    let path: String
    private var offset: Int64 = 0
    private var raw: [UInt8] = []
    /// Where the unread part of `raw` begins: lines are taken by moving it, and the buffer is
    /// compacted once per read from the file (removing each line from the front moved the
    /// whole megabyte after it: quadratic in the lines of a chunk).
    private var start = 0
    private var lineNumber = 0

    init(path: String) { self.path = path }

    /// Decoded events with seq ≤ `target`, at most `max`, each with its exact line.
    mutating func read(upTo target: Int, max: Int) async throws(StoreError) -> [(event: DeployEvent, line: String)] {
        var out: [(event: DeployEvent, line: String)] = []
        while out.count < max {
            if let nl = raw[start...].firstIndex(of: 0x0A) {
                let bytes = raw[start..<nl]
                let e: DeployEvent
                do { e = try EventLog.event(fromLine: bytes) } catch {
                    // What was read before the bad line is shipped first; the error comes next call.
                    if !out.isEmpty { return out }
                    throw StoreError("\(path) line \(lineNumber + 1) cannot be read (\(error.description)): the store copy stops before it")
                }
                guard e.seq <= target else { return out }
                out.append((e, String(decoding: bytes, as: UTF8.self)))
                start = nl + 1
                lineNumber += 1
                continue
            }
            if start > 0 { raw.removeSubrange(..<start); start = 0 }
            let chunk: [UInt8]
            do { chunk = try await Self.readChunk(path: path, at: offset) } catch {
                // Lines already taken from the buffer are not dropped by a failed read.
                if !out.isEmpty { return out }
                throw error
            }
            if chunk.isEmpty { return out }
            offset += Int64(chunk.count)
            raw += chunk
        }
        return out
    }

    static func readChunk(path: String, at offset: Int64) async throws(StoreError) -> [UInt8] {
        do {
            // Its own task: a cancelled outbox still finishes the copy it was asked to finish.
            return try await Task {
              try await NIOThreadPool.singleton.runIfActive {
                let fd = open(path, O_RDONLY | O_CLOEXEC)
                guard fd >= 0 else { throw StoreError("cannot open \(path) to copy it to the store: \(String(cString: strerror(errno)))") }
                defer { close(fd) }
                var failed: Int32 = 0
                let buf = [UInt8](unsafeUninitializedCapacity: 1 << 20) { b, count in
                    let n = pread(fd, b.baseAddress, b.count, off_t(offset))
                    if n < 0 { failed = errno; count = 0 } else { count = n }
                }
                guard failed == 0 else { throw StoreError("cannot read \(path) to copy it to the store: \(String(cString: strerror(failed)))") }
                return buf
              }
            }.value
        } catch let e as StoreError { throw e } catch { throw StoreError("cannot read \(path): \(error)") }
    }
}
