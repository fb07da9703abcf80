import Foundation
import FridayCore
import FridayEngine
import NIOCore
import NIOPosix
import Synchronization

/// Serves one engine to its clients (dashboards, CLI verbs, scripts) over a Unix socket
/// and, if asked, TCP. The protocol is in docs/protocol.md.
///
/// Promises: every client gets a snapshot, then every event in order (or, if it fell
/// behind by `queueLimit` events, a fresh snapshot in their place); a client that stops
/// reading is dropped after `stallLimit` and never slows the engine or the others; who a
/// client is, what it may do and where it came from are decided here, not by the client;
/// commands from every client go through the engine's one queue, so everyone sees one order.
public final class EngineServer: Sendable {
    public struct Options: Sendable {
        public var socketPath: String
        /// A group that may use the socket too (mode 0660); nil for 0600.
        public var socketGroup: String?
        public var tcpHost: String?
        public var tcpPort: Int?
        /// Needed on TCP; compared in constant time.
        public var token: String?
        public var speed: Double
        public var label: String
        public var bell: Bool = true
        /// The deploy's pipeline is reported from outside (`[pipeline] external = true`): operators may ingest stage events.
        public var acceptsIngest = false
        public var queueLimit: Int
        public var stallLimit: Duration
        public var helloLimit: Duration
        /// Where refused connections and dropped clients are written (the serve log).
        public var report: @Sendable (String) -> Void
        public init(socketPath: String, socketGroup: String? = nil, tcpHost: String? = nil, tcpPort: Int? = nil, token: String? = nil,
                    speed: Double = 1, label: String = "", queueLimit: Int = 8192, stallLimit: Duration = .seconds(30),
                    helloLimit: Duration = .seconds(5), report: @escaping @Sendable (String) -> Void = { _ in }) {
            self.socketPath = socketPath; self.socketGroup = socketGroup; self.tcpHost = tcpHost; self.tcpPort = tcpPort
            self.token = token; self.speed = speed; self.label = label; self.queueLimit = queueLimit
            self.stallLimit = stallLimit; self.helloLimit = helloLimit; self.report = report
        }
    }

    /// Why `waitForStop` returned.
    public enum StopRequest: Sendable, Equatable { case byClient(who: String, reason: String) }

    final class Client: Sendable {
        let id: Int
        let who: String
        let role: Wire.Role
        let kind: Wire.ClientKind
        let wantsEvents: Bool
        let outbox: Outbox
        let channel: any Channel
        init(id: Int, who: String, role: Wire.Role, kind: Wire.ClientKind, wantsEvents: Bool, outbox: Outbox, channel: any Channel) {
            self.id = id; self.who = who; self.role = role; self.kind = kind; self.wantsEvents = wantsEvents; self.outbox = outbox; self.channel = channel
        }
    }

    private struct State {
        var clients: [Int: Client] = [:]
        var nextID = 1
        var listeners: [any Channel] = []
        var stopping = false
        var stopWaiters: [CheckedContinuation<StopRequest?, Never>] = []
        var stopRequest: StopRequest?
        var waitsCancelled = false
        var connections = 0
        var refused = 0
        /// Refused CI lines not yet recorded: one `ingest.refused` at most every
        /// `refusalInterval`, so a CI that streams into a finished pipeline cannot flood the
        /// log and push the team log's real entries out.
        var pendingRefusals = 0
        var refusalExamples: [String] = []
        var lastRefusalRecord: ContinuousClock.Instant?
    }

    static let refusalInterval: Duration = .seconds(5)

    /// Counts `lines` refused; the event to record now, if one is due.
    /// `final`: at shutdown, what is held back is recorded whatever the interval (before,
    /// refusals in the last seconds before a stop were never counted: 11 of 13).
    private func noteRefusals(_ lines: [String], flushOnly: Bool = false, final: Bool = false) -> EventPayload? {
        state.withLock { s in
            s.pendingRefusals += lines.count
            for l in lines where s.refusalExamples.count < 3 { s.refusalExamples.append(String(l.prefix(200))) }
            guard s.pendingRefusals > 0 else { return nil }
            let now = ContinuousClock.now
            if !final, let last = s.lastRefusalRecord, now - last < Self.refusalInterval { return nil }
            if !final, flushOnly, s.lastRefusalRecord == nil { return nil }
            let p = EventPayload.ingestRefused(count: s.pendingRefusals, examples: s.refusalExamples)
            s.pendingRefusals = 0
            s.refusalExamples = []
            s.lastRefusalRecord = now
            return p
        }
    }

    public let engine: Engine
    public let options: Options
    private let group: MultiThreadedEventLoopGroup
    private let state = Mutex(State())
    private let tasks = Mutex<[Task<Void, Never>]>([])

    public init(engine: Engine, options: Options, threads: Int = 1) {
        self.engine = engine
        self.options = options
        self.group = MultiThreadedEventLoopGroup(numberOfThreads: threads)
    }

    /// Dashboards attached now (CLI clients not counted).
    public var attached: Int { state.withLock { s in s.clients.values.filter { $0.kind == .dashboard }.count } }
    public var clientCount: Int { state.withLock { $0.clients.count } }
    public var refusedCount: Int { state.withLock { $0.refused } }

    /// Binds the socket (and TCP if configured) and starts serving; returns the addresses.
    public func start() async throws -> [String] {
        var addresses: [String] = []
        // Before anyone can connect: dashboards the log still lists (the engine stopped
        // without recording their leaving: killed) are not attached to this engine; and the
        // fan-out subscribes, so a client that attaches in the first instant misses no event
        // between its snapshot and the fan-out (before, the fan-out subscribed after the
        // socket listened: a restarted serve gave early clients a seq gap, and logged
        // presence.left for people who had just joined again).
        for w in await engine.state.watchers where Wire.Role(rawValue: w.role) != nil {
            _ = await engine.ingest(.presenceLeft(who: w.who))
        }
        let events = await engine.subscribe(buffer: 1 << 16)
        // The socket is made with no access for others; a configured group is given it after.
        let old = umask(0o177)
        let unix: NIOAsyncChannel<NIOAsyncChannel<ByteBuffer, ByteBuffer>, Never>
        do {
            unix = try await bootstrap().bind(unixDomainSocketPath: options.socketPath, cleanupExistingSocketFile: true) { ch in
                Self.initialise(ch)
            }
        } catch {
            umask(old)
            throw error
        }
        umask(old)
        if let g = options.socketGroup {
            guard let grp = getgrnam(g) else { throw ServeError("group \(TerminalText.neutralise(g)) does not exist (serve.group)") }
            guard chown(options.socketPath, getuid(), grp.pointee.gr_gid) == 0, chmod(options.socketPath, 0o660) == 0 else {
                throw ServeError("could not give \(options.socketPath) to group \(g): \(String(cString: strerror(errno)))")
            }
        }
        addresses.append(options.socketPath)
        listen(unix, tcp: false)
        if let port = options.tcpPort {
            guard let token = options.token, !token.isEmpty else { throw ServeError("serve.tcp needs a token (serve.token_env names the variable that holds it)") }
            _ = token
            let host = options.tcpHost ?? "127.0.0.1"
            let tcp = try await bootstrap().bind(host: host, port: port) { ch in Self.initialise(ch) }
            let bound = tcp.channel.localAddress?.port ?? port
            addresses.append("\(host):\(bound)")
            listen(tcp, tcp: true)
        }
        let fanout = Task { await self.fanOut(events) }
        let watchdog = Task { await self.watch() }
        tasks.withLock { $0 += [fanout, watchdog] }
        return addresses
    }

    /// The TCP port actually bound (for port 0 in tests).
    public var tcpPort: Int? {
        state.withLock { s in s.listeners.dropFirst().first?.localAddress?.port }
    }

    private func bootstrap() -> ServerBootstrap {
        ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: 64)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.writeBufferWaterMark, value: .init(low: 32 * 1024, high: 256 * 1024))
    }

    private static func initialise(_ ch: any Channel) -> EventLoopFuture<NIOAsyncChannel<ByteBuffer, ByteBuffer>> {
        ch.eventLoop.makeCompletedFuture {
            try ch.pipeline.syncOperations.addHandler(ByteToMessageHandler(LineDecoder(limit: Wire.maxClientLineBytes)))
            return try NIOAsyncChannel<ByteBuffer, ByteBuffer>(wrappingChannelSynchronously: ch)
        }
    }

    private func listen(_ server: NIOAsyncChannel<NIOAsyncChannel<ByteBuffer, ByteBuffer>, Never>, tcp: Bool) {
        state.withLock { $0.listeners.append(server.channel) }
        let t = Task { () -> Void in
            try? await server.executeThenClose { inbound in
                try await withThrowingDiscardingTaskGroup { group in
                    for try await conn in inbound {
                        group.addTask { await self.serve(conn, tcp: tcp) }
                    }
                }
            }
        }
        tasks.withLock { $0.append(t) }
    }

    // MARK: one client

    private func serve(_ conn: NIOAsyncChannel<ByteBuffer, ByteBuffer>, tcp: Bool) async {
        let channel = conn.channel
        let peer = tcp ? (channel.remoteAddress?.ipAddress ?? "?") : "local"
        state.withLock { $0.connections += 1 }
        // A connection that says nothing is closed (it would hold a slot for ever).
        let greeted = Locked(false)
        let limit = options.helloLimit
        channel.eventLoop.scheduleTask(in: .nanoseconds(Int64(limit.components.seconds) * 1_000_000_000 + limit.components.attoseconds / 1_000_000_000)) {
            if !greeted.withLock({ $0 }) { channel.close(promise: nil) }
        }
        var client: Client?
        try? await conn.executeThenClose { inbound, outbound in
            var lines = inbound.makeAsyncIterator()
            guard let first = try await lines.next() else { return }
            let hello: Wire.Hello
            switch self.admit(first, tcp: tcp, peer: peer) {
            case let .failure(why):
                self.state.withLock { $0.refused += 1 }
                self.options.report("refused a client from \(peer): \(why.message)")
                try? await outbound.write(Self.buffer(Wire.ServerMessage.closing(reason: why.message).line))
                return
            case let .success(h): hello = h
            }
            greeted.withLock { $0 = true }
            guard let c = self.register(hello, tcp: tcp, peer: peer, channel: channel) else {
                try? await outbound.write(Self.buffer(Wire.ServerMessage.closing(reason: "the engine is stopping").line))
                return
            }
            client = c
            if c.kind == .dashboard { _ = await self.engine.ingest(.presenceJoined(who: c.who, role: c.role.rawValue)) }
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask {
                    // The writer ends when the outbox is finished (client gone, server closing) or the socket breaks.
                    try? await self.write(c, to: outbound)
                    channel.close(promise: nil)
                }
                defer { c.outbox.finish() }
                while let line = try await lines.next() {
                    await self.handle(line, from: c)
                }
                c.outbox.finish()
                group.cancelAll()
            }
        }
        if let c = client {
            c.outbox.finish()
            state.withLock { _ = $0.clients.removeValue(forKey: c.id) }
            if c.kind == .dashboard, !state.withLock({ $0.stopping }) { _ = await engine.ingest(.presenceLeft(who: c.who)) }
        }
    }

    private func admit(_ line: ByteBuffer, tcp: Bool, peer: String) -> Result<Wire.Hello, WireError> {
        let msg: Wire.ClientMessage
        do { msg = try Wire.ClientMessage.decode(line.readableBytesView) } catch { return .failure(WireError("bad hello: \(error.message)")) }
        guard case let .hello(h) = msg else { return .failure(WireError("the first message must be a hello (see docs/protocol.md)")) }
        guard h.version == Wire.version else { return .failure(WireError("protocol version \(h.version) is not spoken here (this engine speaks \(Wire.version)); use a friday of the same version")) }
        if tcp {
            guard let wanted = options.token, Wire.tokensMatch(h.token, wanted) else {
                return .failure(WireError(h.token == nil ? "a token is needed over TCP (FRIDAY_TOKEN)" : "wrong token"))
            }
        }
        return .success(h)
    }

    private func register(_ h: Wire.Hello, tcp: Bool, peer: String, channel: any Channel) -> Client? {
        state.withLock { s in
            guard !s.stopping else { return nil }
            var base = h.name
            if tcp { base += "@" + peer }
            if h.kind == .cli { base += " (cli)" }
            var who = base
            var n = 2
            while s.clients.values.contains(where: { $0.who == who }) { who = "\(base)-\(n)"; n += 1 }
            let c = Client(id: s.nextID, who: who, role: h.role, kind: h.kind, wantsEvents: h.events, outbox: Outbox(limit: options.queueLimit), channel: channel)
            s.nextID += 1
            // The welcome and the snapshot are queued before the fan-out can reach the client:
            // nothing comes before them.
            let welcome = Wire.Welcome(deploy: engine.deployID, who: c.who, role: c.role, now: engine.clock.now(),
                                       speed: options.speed, label: options.label, judge: engine.judge, bell: options.bell)
            c.outbox.offer(.line(Self.buffer(Wire.ServerMessage.welcome(welcome).line), seq: nil))
            c.outbox.offer(.resync)
            s.clients[c.id] = c
            return c
        }
    }

    private func write(_ c: Client, to out: NIOAsyncChannelOutboundWriter<ByteBuffer>) async throws {
        // The snapshot is taken when the writer gets to it, so it can hold events the fan-out
        // has queued behind it: those are not sent again. A client gets each event once.
        var sentUpTo = -1
        var bufs: [ByteBuffer] = []
        while let first = await c.outbox.next() {
            // What else is already waiting goes out with it, copied into one buffer: one write
            // and one flush for up to 256 lines. Not a system call per event, and not a trip
            // through the channel's pipeline per event either (at 10,000 events/s and 50
            // clients the event loop spent most of its time on per-buffer bookkeeping).
            bufs.removeAll(keepingCapacity: true)
            await append(first, to: &bufs, sentUpTo: &sentUpTo)
            for item in c.outbox.takeAvailable(max: 255) { await append(item, to: &bufs, sentUpTo: &sentUpTo) }
            guard !bufs.isEmpty else { continue }
            c.outbox.writing(true)
            try await out.write(Self.joined(bufs))
            c.outbox.writing(false)
        }
        out.finish()
    }

    /// What one queued item puts on the wire: its line (nothing if a snapshot already sent
    /// holds its event), or a snapshot taken now.
    private func append(_ item: Outbox.Item, to bufs: inout [ByteBuffer], sentUpTo: inout Int) async {
        switch item {
        case let .line(b, seq):
            if let seq, seq <= sentUpTo { return }
            bufs.append(b)
        case .resync:
            let snap = await engine.snapshot()
            sentUpTo = snap.lastSeq
            bufs.append(Self.buffer(Wire.ServerMessage.snapshot(snap).line))
        }
    }

    /// The lines in one buffer (one of them is returned as it is).
    static func joined(_ bufs: [ByteBuffer]) -> ByteBuffer {
        if bufs.count == 1 { return bufs[0] }
        var out = ByteBufferAllocator().buffer(capacity: bufs.reduce(0) { $0 + $1.readableBytes })
        for b in bufs { out.writeImmutableBuffer(b) }
        return out
    }

    /// Why `c` may not report pipeline events here, if it may not.
    private func ingestRefusal(for c: Client) -> String? {
        if c.role != .operator { return "\(c.who) is a viewer: only an operator reports pipeline events" }
        if !options.acceptsIngest { return "this deploy runs its own pipeline: an outside CI reports stages only with [pipeline] external = true" }
        return nil
    }

    private func handle(_ line: ByteBuffer, from c: Client) async {
        let reply: Wire.ServerMessage
        var stopAfterReply: StopRequest?
        do {
            switch try Wire.ClientMessage.decode(line.readableBytesView) {
            case .hello:
                reply = .refused(id: 0, reason: "already said hello")
            case .resync:
                c.outbox.offer(.resync)
                return
            case let .command(id, action, text, candidate):
                if !c.role.allows(action) {
                    reply = .refused(id: id, reason: "\(c.who) is a viewer: viewers watch and chat; attach with --role operator to \(action.rawValue)")
                } else if action == .revert, (text ?? "").trimmingCharacters(in: .whitespacesAndNewlines).isEmpty {
                    // As docs/protocol.md says: the reason goes to the team log and the notifications.
                    reply = .refused(id: id, reason: "a revert needs a reason (text): it goes to the team log and the notifications")
                } else {
                    // The refusal goes back in the reply only (to the footer or the shell of
                    // the person who sent it), not into everyone's team log.
                    switch await engine.send(Command(action, by: c.who, text: text, candidate: candidate), logRefusal: false) {
                    case .accepted: reply = .ack(id: id)
                    case let .rejected(why): reply = .refused(id: id, reason: why)
                    }
                }
            case let .ingest(id, type, data):
                if let why = ingestRefusal(for: c) {
                    reply = .refused(id: id, reason: why)
                    break
                }
                let result = await engine.ingest(checking: { state in
                    do throws(WireError) { return .success(try IngestRules.payload(type: type, data: data, in: state)) } catch { return .failure(IngestRefusal(error.message)) }
                })
                if case let .failure(why) = result, let p = noteRefusals([why.reason]) { _ = await engine.ingest(p) }
                switch result {
                case .success: reply = .ack(id: id)
                case let .failure(why): reply = .refused(id: id, reason: why.reason)
                }
            case let .ingestBatch(id, events, clientRefused):
                if let why = ingestRefusal(for: c) {
                    reply = .refused(id: id, reason: why)
                    break
                }
                // One queue operation and one log sync for the whole batch; the lines refused
                // (here or by the client) are counted in one `ingest.refused` event.
                let refusals = await engine.ingest(batch: events.count, checking: { i, state in
                    do throws(WireError) { return .success(try IngestRules.payload(type: events[i].type, data: events[i].data, in: state)) } catch {
                        return .failure(IngestRefusal(error.message))
                    }
                }, summary: { refused in
                    let all = (clientRefused + refused.map { LineRefusal(line: events[$0.index].line, reason: $0.refusal.reason) }).sorted { $0.line < $1.line }
                    guard !all.isEmpty else { return nil }
                    return self.noteRefusals(all.map { "line \($0.line): \($0.reason)" })
                })
                let lines = refusals.map { LineRefusal(line: events[$0.index].line, reason: $0.refusal.reason) }
                reply = .ingested(id: id, accepted: events.count - refusals.count, refused: lines)
            case let .stop(id, traffic, reason):
                guard c.role == .operator else {
                    reply = .refused(id: id, reason: "\(c.who) is a viewer: only an operator stops the engine")
                    break
                }
                if traffic == .revert, (reason ?? "").trimmingCharacters(in: .whitespaces).isEmpty {
                    reply = .refused(id: id, reason: "a revert needs a reason for the team log")
                    break
                }
                let why = reason ?? "engine stopped"
                var refusal: String?
                switch traffic {
                case .leave: break
                case .pause:
                    let now = await engine.snapshot()
                    if !now.isFinished && now.paused == nil {
                        if case let .rejected(w) = await engine.send(Command(.pause, by: c.who, text: why)) { refusal = w }
                    }
                case .revert:
                    if !(await engine.state.isFinished) {
                        if case let .rejected(w) = await engine.send(Command(.revert, by: c.who, text: why)) { refusal = w }
                    }
                }
                if let refusal {
                    reply = .refused(id: id, reason: "not stopped: the \(traffic.rawValue) was refused: \(refusal)")
                } else {
                    reply = .ack(id: id)
                    // Asked only once the ack is in the client's outbox: a stop that began first
                    // finished the outbox, and the client heard "closing" instead of its answer.
                    stopAfterReply = .byClient(who: c.who, reason: "\(why) (traffic: \(traffic.rawValue))")
                }
            }
        } catch {
            // The id, when it can be read, so the client's wait ends with the reason.
            let id = (try? JSONValue.parse(bytes: line.readableBytesView))?["id"]?.intValue.flatMap { $0 >= 0 ? $0 : nil } ?? 0
            reply = .refused(id: id, reason: "bad message: \(error.message)")
        }
        c.outbox.offer(.line(Self.buffer(reply.line), seq: nil))
        if let stopAfterReply { requestStop(stopAfterReply) }
    }

    // MARK: fan-out, watchdog, stopping

    /// One subscription to the engine; each event is encoded once and queued for every client.
    private func fanOut(_ stream: AsyncStream<DeployEvent>) async {
        for await e in stream {
            let clients = state.withLock { $0.clients.values.filter(\.wantsEvents) }
            // Encoded once for everyone, and not at all with nobody listening.
            guard !clients.isEmpty else { continue }
            let buf = Self.buffer(Wire.ServerMessage.eventLine(e))
            for c in clients { c.outbox.offer(.line(buf, seq: e.seq)) }
        }
    }

    /// Drops clients whose socket has not taken a write for `stallLimit`.
    private func watch() async {
        while !Task.isCancelled {
            try? await Task.sleep(for: .milliseconds(500))
            // Refused CI lines held back by the interval are recorded once it has passed.
            if let p = noteRefusals([], flushOnly: true) { _ = await engine.ingest(p) }
            let clients = state.withLock { Array($0.clients.values) }
            for c in clients {
                if c.outbox.overflowed {
                    options.report("dropped \(c.who): more than \(Outbox.replyLimit) answers waiting (it sends without reading)")
                    c.channel.close(promise: nil)
                } else if let stalled = c.outbox.stalledFor, stalled > options.stallLimit {
                    options.report("dropped \(c.who): it has not read for \(stalled.components.seconds) s")
                    c.channel.close(promise: nil)
                }
            }
        }
    }

    private func requestStop(_ r: StopRequest) {
        let waiters = state.withLock { s -> [CheckedContinuation<StopRequest?, Never>] in
            if s.stopRequest == nil { s.stopRequest = r }
            defer { s.stopWaiters = [] }
            return s.stopWaiters
        }
        for w in waiters { w.resume(returning: r) }
    }

    /// Returns when a client asks the engine to stop (or `shutdown` begins: nil).
    public func waitForStop() async -> StopRequest? {
        await withCheckedContinuation { c in
            let now: StopRequest?? = state.withLock { s in
                if let r = s.stopRequest { return .some(r) }
                if s.stopping || s.waitsCancelled { return .some(nil) }
                s.stopWaiters.append(c)
                return nil
            }
            if let now { c.resume(returning: now) }
        }
    }

    /// Ends every `waitForStop` (with nil): a continuation does not end on cancellation by itself.
    public func cancelWaits() {
        let waiters = state.withLock { s in s.waitsCancelled = true; defer { s.stopWaiters = [] }; return s.stopWaiters }
        for w in waiters { w.resume(returning: nil) }
    }

    /// Tells every client why, closes every connection and the listeners, removes the socket.
    public func shutdown(reason: String) async {
        let (already, clients, listeners, waiters) = state.withLock { s in
            let already = s.stopping
            s.stopping = true
            defer { s.stopWaiters = [] }
            return (already, Array(s.clients.values), s.listeners, s.stopWaiters)
        }
        for w in waiters { w.resume(returning: nil) }
        // A second shutdown has nothing left to do (and the event loops are already gone).
        if already { return }
        for l in listeners { try? await l.close() }
        // CI lines refused and held back by the interval are counted before the end.
        if let p = noteRefusals([], final: true) { _ = await engine.ingest(p) }
        // The log says who was watching when the engine stopped, and that they are gone.
        for c in clients where c.kind == .dashboard { _ = await engine.ingest(.presenceLeft(who: c.who)) }
        for c in clients {
            c.outbox.offer(.line(Self.buffer(Wire.ServerMessage.closing(reason: reason).line), seq: nil))
            c.outbox.finish()
        }
        // Give the writers a moment to send the closing line, then close what is left.
        for _ in 0..<40 where clientCount > 0 { try? await Task.sleep(for: .milliseconds(50)) }
        for c in state.withLock({ Array($0.clients.values) }) { try? await c.channel.close() }
        // Every connection's task ends before the event loops do: one still closing its
        // channel after them made NIO say "Cannot schedule tasks on an EventLoop that has
        // already shut down" (5 of 23 SIGTERM stops), which it says will crash one day.
        let running = tasks.withLock { $0 }
        for t in running { t.cancel() }
        _ = await withDeadline(.seconds(3)) { for t in running { await t.value } }
        unlink(options.socketPath)
        try? await group.shutdownGracefully()
    }

    static func buffer(_ line: String) -> ByteBuffer {
        var b = ByteBufferAllocator().buffer(capacity: line.utf8.count + 1)
        b.writeString(line)
        b.writeInteger(UInt8(ascii: "\n"))
        return b
    }
}

public struct ServeError: Error, CustomStringConvertible, Sendable {
    public var description: String
    public init(_ d: String) { description = d }
}
