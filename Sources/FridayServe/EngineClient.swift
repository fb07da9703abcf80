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

    public enum Reply: Sendable, Equatable { case accepted, refused(String), lost(String) }

    public let welcome: Wire.Welcome
    public let snapshot: DeployState
    /// Events, later snapshots (after falling behind) and the closing line, in order.
    public let messages: AsyncStream<Wire.ServerMessage>

    private let outgoing: AsyncStream<String>.Continuation
    private let pending = Mutex<[Int: CheckedContinuation<Reply, Never>]>([:])
    private let nextID = Mutex(1)
    private let closedReason = Mutex<String?>(nil)
    private let group: MultiThreadedEventLoopGroup
    private let channel: any Channel
    private let connection: Task<Void, Never>

    private init(welcome: Wire.Welcome, snapshot: DeployState, messages: AsyncStream<Wire.ServerMessage>,
                 outgoing: AsyncStream<String>.Continuation, group: MultiThreadedEventLoopGroup, channel: any Channel, connection: Task<Void, Never>) {
        self.welcome = welcome; self.snapshot = snapshot; self.messages = messages; self.outgoing = outgoing; self.group = group
        self.channel = channel; self.connection = connection
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
            throw .unreachable("no friday engine answers at \(address) (\(error)); start one with `friday run FILE` or `friday serve FILE`")
        }

        let (messages, deliver) = AsyncStream<Wire.ServerMessage>.makeStream()
        let (outLines, outgoing) = AsyncStream<String>.makeStream()
        let first = Locked<CheckedContinuation<Result<(Wire.Welcome, DeployState), Failure>, Never>?>(nil)
        let holder = Locked<EngineClient?>(nil)
        let connection = Locked<Task<Void, Never>?>(nil)
        let result: Result<(Wire.Welcome, DeployState), Failure> = await withCheckedContinuation { cont in
            first.withLock { $0 = cont }
            let t = Task {
                let reason = Locked("the engine closed the connection")
                let greeted = Locked(false)
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
                                    case let .ack(id): holder.withLock { $0 }?.answer(id, .accepted)
                                    case let .refused(id, r) where id > 0: holder.withLock { $0 }?.answer(id, .refused(r))
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
                    if !greeted.withLock({ $0 }) || reason.withLock({ $0 }) == "the engine closed the connection" {
                        reason.withLock { $0 = "the connection to the engine broke: \(error)" }
                    }
                }
                let why = reason.withLock { $0 }
                first.withLock { f in f?.resume(returning: .failure(.refused(why))); f = nil }
                holder.withLock { $0 }?.closed(why)
                deliver.finish()
                outgoing.finish()
            }
            connection.withLock { $0 = t }
        }
        switch result {
        case let .failure(f):
            try? await channel.channel.close()
            await connection.value?.value
            try? await group.shutdownGracefully()
            throw f
        case let .success((w, s)):
            let client = EngineClient(welcome: w, snapshot: s, messages: messages, outgoing: outgoing, group: group,
                                      channel: channel.channel, connection: connection.value!)
            holder.withLock { $0 = client }
            return client
        }
    }

    /// Sends a message without waiting (in call order).
    public func send(_ m: Wire.ClientMessage) { outgoing.yield(m.line) }

    /// Sends a command and waits for the engine's answer.
    public func command(_ action: Action, text: String? = nil) async -> Reply {
        let id = nextID.withLock { n in defer { n += 1 }; return n }
        return await withCheckedContinuation { c in
            guard register(id, c) else { return }
            outgoing.yield(Wire.ClientMessage.command(id: id, action: action, text: text).line)
        }
    }

    /// Reports one event from an outside CI and waits for the engine's answer (requests may
    /// overlap: they are sent and applied in call order).
    public func ingest(type: String, data: JSONValue) async -> Reply {
        let id = nextID.withLock { n in defer { n += 1 }; return n }
        return await withCheckedContinuation { c in
            guard register(id, c) else { return }
            outgoing.yield(Wire.ClientMessage.ingest(id: id, type: type, data: data).line)
        }
    }

    /// Asks the engine to stop, doing `traffic` first.
    public func stop(traffic: Wire.StopTraffic, reason: String?) async -> Reply {
        let id = nextID.withLock { n in defer { n += 1 }; return n }
        return await withCheckedContinuation { c in
            guard register(id, c) else { return }
            outgoing.yield(Wire.ClientMessage.stop(id: id, traffic: traffic, reason: reason).line)
        }
    }

    /// Files the continuation for `id`'s answer; false (after resuming it) if the connection
    /// is already closed. Filed first, checked after: whoever takes it out of `pending`
    /// (this, `answer` or `closed`) resumes it, exactly once.
    private func register(_ id: Int, _ c: CheckedContinuation<Reply, Never>) -> Bool {
        pending.withLock { $0[id] = c }
        guard let why = closedReason.withLock({ $0 }) else { return true }
        pending.withLock { $0.removeValue(forKey: id) }?.resume(returning: .lost(why))
        return false
    }

    fileprivate func answer(_ id: Int, _ r: Reply) {
        pending.withLock { $0.removeValue(forKey: id) }?.resume(returning: r)
    }

    fileprivate func closed(_ reason: String) {
        closedReason.withLock { $0 = reason }
        let waiting = pending.withLock { p in defer { p = [:] }; return Array(p.values) }
        for w in waiting { w.resume(returning: .lost(reason)) }
    }

    /// Closes the connection.
    public func close() async {
        outgoing.finish()
        try? await channel.close()
        await connection.value
        try? await group.shutdownGracefully()
    }
}
