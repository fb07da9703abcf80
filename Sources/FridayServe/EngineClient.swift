import Foundation
import FridayCore
import NIOCore
import NIOPosix
import Synchronization

/// Where a served engine listens.
public enum ServeAddress: Sendable, Equatable, CustomStringConvertible {
    case unix(String)
    case tcp(host: String, port: Int)

    public var description: String {
        switch self {
        case let .unix(p): return p
        case let .tcp(h, p): return "\(h):\(p)"
        }
    }
}

/// A connection to a served engine: hello, welcome and snapshot first, then messages.
///
/// `send` keeps the order of calls; `command` waits for the engine's answer to one command.
/// The messages stream ends when the connection does (the engine stopped, or the network).
public final class EngineClient: Sendable {
    public enum Failure: Error, CustomStringConvertible, Sendable {
        /// Nothing answers there (no engine runs for that deploy).
        case unreachable(String)
        /// The engine answered and said no (bad hello, wrong token, stopping).
        case refused(String)
        public var description: String {
            switch self {
            case let .unreachable(m): return m
            case let .refused(m): return m
            }
        }
    }

    public enum Reply: Sendable, Equatable {
        case accepted, refused(String), lost(String)
        /// The answer to an `ingest` batch.
        case ingested(accepted: Int, refused: [LineRefusal])
    }

    public let welcome: Wire.Welcome
    public let snapshot: DeployState
    /// Events, later snapshots (after falling behind) and the closing line, in order.
    public let messages: AsyncStream<Wire.ServerMessage>
    /// Messages kept for a reader that has fallen behind, before the newest are dropped.
    public static let messageLimit = 16_384

    private let outgoing: AsyncStream<String>.Continuation
    private let answers: Answers
    private let nextID = Mutex(1)
    private let closing = Mutex(false)
    private let group: MultiThreadedEventLoopGroup
    private let channel: any Channel
    private let connection: Task<Void, Never>

    private init(welcome: Wire.Welcome, snapshot: DeployState, messages: AsyncStream<Wire.ServerMessage>, outgoing: AsyncStream<String>.Continuation,
                 answers: Answers, group: MultiThreadedEventLoopGroup, channel: any Channel, connection: Task<Void, Never>) {
        self.welcome = welcome; self.snapshot = snapshot; self.messages = messages; self.outgoing = outgoing; self.answers = answers
        self.group = group; self.channel = channel; self.connection = connection
    }

    /// The answers waited for, and why the connection closed: shared with the connection's
    /// task from the start, so a close before the client exists is still seen.
    final class Answers: Sendable {
        enum Slot: Sendable { case expected, waiting(CheckedContinuation<Reply, Never>), done(Reply) }
        let slots = Locked<[Int: Slot]>([:])
        let closedReason = Locked<String?>(nil)

        /// Notes that an answer for `id` will come (before its line is sent).
        func expect(_ id: Int) { slots.withLock { $0[id] = .expected } }

        /// Waits for `id`'s answer (it may already be there).
        func wait(_ id: Int) async -> Reply {
            await withCheckedContinuation { (c: CheckedContinuation<Reply, Never>) in
                let now: Reply? = slots.withLock { s in
                    switch s[id] {
                    case let .done(r)?: s[id] = nil; return r
                    case nil: return .lost("no such request")
                    default: s[id] = .waiting(c); return nil
                    }
                }
                if let now { c.resume(returning: now); return }
                // Closed meanwhile: whoever takes the slot out resumes it, exactly once.
                if let why = closedReason.value { take(id)?.resume(returning: .lost(why)) }
            }
        }

        private func take(_ id: Int) -> CheckedContinuation<Reply, Never>? {
            slots.withLock { s in
                guard case let .waiting(c)? = s[id] else { return nil }
                s[id] = nil
                return c
            }
        }

        func answer(_ id: Int, _ r: Reply) {
            let c: CheckedContinuation<Reply, Never>? = slots.withLock { s in
                switch s[id] {
                case let .waiting(c)?: s[id] = nil; return c
                case .expected?: s[id] = .done(r); return nil
                default: return nil
                }
            }
            c?.resume(returning: r)
        }

        func closed(_ reason: String) {
            closedReason.withLock { $0 = $0 ?? reason }
            let waiting: [CheckedContinuation<Reply, Never>] = slots.withLock { s in
                var out: [CheckedContinuation<Reply, Never>] = []
                for (id, slot) in s {
                    switch slot {
                    case let .waiting(c): out.append(c); s[id] = nil
                    case .expected: s[id] = .done(.lost(reason))
                    case .done: break
                    }
                }
                return out
            }
            for w in waiting { w.resume(returning: .lost(reason)) }
        }
    }

    /// Connects, says hello and waits (at most `timeout`) for the welcome and the snapshot.
    public static func connect(_ address: ServeAddress, hello: Wire.Hello, timeout: Duration = .seconds(10)) async throws(Failure) -> EngineClient {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let channel: NIOAsyncChannel<ByteBuffer, ByteBuffer>
        do {
            let boot = ClientBootstrap(group: group).connectTimeout(.seconds(3))
            let initialise: @Sendable (any Channel) -> EventLoopFuture<NIOAsyncChannel<ByteBuffer, ByteBuffer>> = { ch in
                ch.eventLoop.makeCompletedFuture {
                    try ch.pipeline.syncOperations.addHandler(ByteToMessageHandler(LineDecoder(limit: Wire.maxServerLineBytes)))
                    return try NIOAsyncChannel<ByteBuffer, ByteBuffer>(wrappingChannelSynchronously: ch)
                }
            }
            switch address {
            case let .unix(path): channel = try await boot.connect(unixDomainSocketPath: path, channelInitializer: initialise)
            case let .tcp(host, port): channel = try await boot.connect(host: host, port: port, channelInitializer: initialise)
            }
        } catch {
            try? await group.shutdownGracefully()
            // The system's words for why (no such socket, connection refused), not NIO's call names.
            let why = (error as? IOError).map { String(cString: strerror($0.errnoCode)).lowercased() } ?? "\(error)"
            throw .unreachable("no friday engine answers at \(address) (\(why)); start one with `friday run FILE` or `friday serve FILE`")
        }

        // Bounded: a reader slower than the socket loses the newest messages, not memory (the
        // soak's 50 in-process clients at 10,000 events/s grew to 3.4 GB unbounded). It sees
        // the gap in `seq` and asks for a resync, as the dashboard does.
        let (messages, deliver) = AsyncStream<Wire.ServerMessage>.makeStream(bufferingPolicy: .bufferingOldest(EngineClient.messageLimit))
        let (outLines, outgoing) = AsyncStream<String>.makeStream()
        let first = Locked<CheckedContinuation<Result<(Wire.Welcome, DeployState), Failure>, Never>?>(nil)
        let answers = Answers()
        let connection = Locked<Task<Void, Never>?>(nil)
        let reason = Locked("the engine closed the connection")
        let greeted = Locked(false)
        // Gone as soon as the hello is answered or refused: left to fire later, it closed the
        // channel on an event loop already shut down (NIO: "Cannot schedule tasks …").
        let watchdog = Locked<Task<Void, Never>?>(nil)
        let result: Result<(Wire.Welcome, DeployState), Failure> = await withCheckedContinuation { cont in
            first.withLock { $0 = cont }
            // An engine that accepts but never answers (stopped, wedged) is given up on.
            let nioChannel = channel.channel
            watchdog.withLock { $0 = Task {
                try? await Task.sleep(for: timeout)
                if !Task.isCancelled, !greeted.value {
                    reason.withLock { $0 = "no welcome from the engine within \(timeout.components.seconds) s" }
                    nioChannel.close(promise: nil)
                }
            } }
            let t = Task {
                do {
                    try await channel.executeThenClose { inbound, outbound in
                        try await withThrowingTaskGroup(of: Void.self) { g in
                            g.addTask {
                                try await outbound.write(EngineServer.buffer(Wire.ClientMessage.hello(hello).line))
                                for await line in outLines { try await outbound.write(EngineServer.buffer(line)) }
                                outbound.finish()
                            }
                            g.addTask {
                                var welcome: Wire.Welcome?
                                var ready = false
                                for try await buf in inbound {
                                    let msg: Wire.ServerMessage
                                    do { msg = try Wire.ServerMessage.decode(String(buffer: buf)) } catch { continue }
                                    if case let .closing(r) = msg { reason.withLock { $0 = r } }
                                    if !ready {
                                        switch msg {
                                        case let .welcome(w): welcome = w
                                        case let .snapshot(st):
                                            guard let w = welcome else { continue }
                                            ready = true
                                            greeted.withLock { $0 = true }
                                            first.withLock { f in f?.resume(returning: .success((w, st))); f = nil }
                                        case let .closing(r): throw Failure.refused(r)
                                        default: continue
                                        }
                                        continue
                                    }
                                    switch msg {
                                    case let .ack(id): answers.answer(id, .accepted)
                                    case let .ingested(id, n, refused): answers.answer(id, .ingested(accepted: n, refused: refused))
                                    case let .refused(id, r) where id > 0: answers.answer(id, .refused(r))
                                    default: deliver.yield(msg)
                                    }
                                }
                            }
                            _ = try await g.next()
                            g.cancelAll()
                        }
                    }
                } catch let f as Failure {
                    if case let .refused(r) = f { reason.withLock { $0 = r } }
                } catch {
                    if reason.value == "the engine closed the connection" {
                        reason.withLock { $0 = "the connection to the engine broke: \(error)" }
                    }
                }
                let why = reason.value
                first.withLock { f in f?.resume(returning: .failure(.refused(why))); f = nil }
                answers.closed(why)
                deliver.finish()
                outgoing.finish()
            }
            connection.withLock { $0 = t }
        }
        watchdog.value?.cancel()
        switch result {
        case let .failure(f):
            try? await channel.channel.close()
            await connection.value?.value
            try? await group.shutdownGracefully()
            throw f
        case let .success((w, s)):
            return EngineClient(welcome: w, snapshot: s, messages: messages, outgoing: outgoing, answers: answers, group: group,
                                channel: channel.channel, connection: connection.value!)
        }
    }

    /// Sends a message without waiting (in call order).
    public func send(_ m: Wire.ClientMessage) { outgoing.yield(m.line) }

    /// Sends a command and waits for the engine's answer.
    public func command(_ action: Action, text: String? = nil, candidate: String? = nil) async -> Reply {
        await answers.wait(submit { Wire.ClientMessage.command(id: $0, action: action, text: text, candidate: candidate) })
    }

    /// Sends one event from an outside CI at once (lines go out, and are applied, in call
    /// order) and returns the id to wait on with `reply(to:)`.
    public func submitIngest(type: String, data: JSONValue) -> Int {
        submit { Wire.ClientMessage.ingest(id: $0, type: type, data: data) }
    }

    /// Reports one event from an outside CI and waits for the engine's answer.
    public func ingest(type: String, data: JSONValue) async -> Reply {
        await reply(to: submitIngest(type: type, data: data))
    }

    /// Sends many lines of an outside CI's report in one message (and the lines refused
    /// here); the answer says how many were recorded and which were refused.
    public func submitIngest(batch events: [IngestItem], refused: [LineRefusal]) -> Int {
        submit { Wire.ClientMessage.ingestBatch(id: $0, events: events, refused: refused) }
    }

    /// The engine's answer to a request sent with `submitIngest`.
    public func reply(to id: Int) async -> Reply { await answers.wait(id) }

    /// Asks the engine to stop, doing `traffic` first.
    public func stop(traffic: Wire.StopTraffic, reason: String?) async -> Reply {
        await answers.wait(submit { Wire.ClientMessage.stop(id: $0, traffic: traffic, reason: reason) })
    }

    /// Numbers a request, notes that its answer will come, and sends it now.
    private func submit(_ make: (Int) -> Wire.ClientMessage) -> Int {
        let id = nextID.withLock { n in defer { n += 1 }; return n }
        answers.expect(id)
        if let why = answers.closedReason.value { answers.answer(id, .lost(why)); return id }
        outgoing.yield(make(id).line)
        return id
    }

    /// Closes the connection. Safe to call more than once, from more than one task: only the
    /// first closes the channel and shuts its event loop down (a second `channel.close()` would
    /// be scheduled on a loop already shut down, which NIO reports and will make a crash).
    public func close() async {
        let first = closing.withLock { c in defer { c = true }; return !c }
        guard first else { await connection.value; return }
        outgoing.finish()
        try? await channel.close()
        await connection.value
        try? await group.shutdownGracefully()
    }
}
