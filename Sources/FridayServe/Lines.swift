import NIOCore
import Synchronization

/// Splits a byte stream into lines (without the newline); a line longer than `limit`
/// closes the connection with `LineTooLong` rather than growing a buffer without end.
struct LineDecoder: ByteToMessageDecoder {
    typealias InboundOut = ByteBuffer
    let limit: Int
    /// How much of what is buffered has been searched for a newline already: a long line
    /// arriving in small pieces is scanned once, not once per piece.
    var scanned = 0

    init(limit: Int) { self.limit = limit }

    mutating func decode(context: ChannelHandlerContext, buffer: inout ByteBuffer) throws -> DecodingState {
        let view = buffer.readableBytesView
        let from = view.startIndex + min(scanned, view.count)
        if let i = view[from...].firstIndex(of: UInt8(ascii: "\n")) {
            scanned = 0
            let length = i - view.startIndex
            guard length <= limit else { throw LineTooLong(limit: limit) }
            var line = buffer.readSlice(length: length)!
            buffer.moveReaderIndex(forwardBy: 1)
            if line.readableBytesView.last == UInt8(ascii: "\r") { line = line.getSlice(at: line.readerIndex, length: line.readableBytes - 1)! }
            context.fireChannelRead(wrapInboundOut(line))
            return .continue
        }
        if buffer.readableBytes > limit { throw LineTooLong(limit: limit) }
        scanned = view.count
        return .needMoreData
    }

    mutating func decodeLast(context: ChannelHandlerContext, buffer: inout ByteBuffer, seenEOF: Bool) throws -> DecodingState {
        while try decode(context: context, buffer: &buffer) == .continue {}
        return .needMoreData
    }
}

struct LineTooLong: Error, CustomStringConvertible {
    let limit: Int
    var description: String { "a line longer than \(limit) bytes" }
}

/// What waits to be written to one client, bounded: events beyond `limit` are dropped and
/// replaced by one resync (the client gets a fresh snapshot once it reads again), replies
/// and the closing line are always kept. The engine's fan-out only ever appends here, so a
/// client that stops reading never slows the engine or the other clients.
final class Outbox: Sendable {
    /// A line to write (`seq` is the event's, nil for replies and notices), or a snapshot to
    /// take when the writer gets to it.
    enum Item: Sendable { case line(ByteBuffer, seq: Int?), resync }

    private struct State {
        var items = CircularBuffer<Item>(initialCapacity: 64)
        var events = 0
        var waiter: CheckedContinuation<Item?, Never>?
        var finished = false
        var dropped = 0
        var writingSince: ContinuousClock.Instant?
        var overflowed = false
    }

    /// Answers (not events) waiting for a client beyond this mean it sends without reading.
    static let replyLimit = 1024

    private let state = Mutex(State())
    let limit: Int

    init(limit: Int) { self.limit = limit }

    func offer(_ item: Item) {
        let wake: (CheckedContinuation<Item?, Never>, Item)? = state.withLock { s in
            guard !s.finished else { return nil }
            if case .line(_, .some) = item {
                if s.events >= limit {
                    // Behind by `limit` events: forget them, the client is sent the state instead.
                    s.dropped += s.events
                    s.items = CircularBuffer(s.items.filter {
                        switch $0 { case .line(_, .some), .resync: return false; default: return true }
                    })
                    s.events = 0
                    s.items.append(.resync)
                } else {
                    s.events += 1
                    s.items.append(item)
                }
            } else if case .resync = item, s.items.contains(where: { if case .resync = $0 { return true }; return false }) {
                // One snapshot queued is enough: a client asking again and again costs one.
                return nil
            } else {
                if s.items.count - s.events >= Outbox.replyLimit { s.overflowed = true; return nil }
                s.items.append(item)
            }
            guard let w = s.waiter, let first = take(&s) else { return nil }
            s.waiter = nil
            return (w, first)
        }
        if let (w, i) = wake { w.resume(returning: i) }
    }

    private func take(_ s: inout State) -> Item? {
        guard let first = s.items.popFirst() else { return nil }
        if case .line(_, .some) = first { s.events -= 1 }
        return first
    }

    /// Up to `max` items already waiting, without waiting for more (the writer sends them
    /// with the one it waited for, in one write and one flush).
    func takeAvailable(max: Int) -> [Item] {
        state.withLock { s in
            var out: [Item] = []
            while out.count < max, let i = take(&s) { out.append(i) }
            return out
        }
    }

    /// The next item, waiting for one; nil once finished and drained.
    func next() async -> Item? {
        if let now = state.withLock({ s -> Item?? in
            if let i = take(&s) { return .some(i) }
            return s.finished ? .some(nil) : nil
        }) { return now }
        return await withCheckedContinuation { c in
            let ready: Item?? = state.withLock { s in
                if let i = take(&s) { return .some(i) }
                if s.finished { return .some(nil) }
                s.waiter = c
                return nil
            }
            if let ready { c.resume(returning: ready) }
        }
    }

    /// No more items are taken; what is queued is still written.
    func finish() {
        let w = state.withLock { s -> CheckedContinuation<Item?, Never>? in
            s.finished = true
            let w = s.waiter
            s.waiter = nil
            return w
        }
        w?.resume(returning: nil)
    }

    var dropped: Int { state.withLock { $0.dropped } }
    var overflowed: Bool { state.withLock { $0.overflowed } }

    func writing(_ on: Bool) { state.withLock { $0.writingSince = on ? ContinuousClock.now : nil } }

    /// How long the current write has waited for the client to read.
    var stalledFor: Duration? { state.withLock { s in s.writingSince.map { ContinuousClock.now - $0 } } }
}


/// A value behind a lock that closures and tasks can share (a `Mutex` is not copyable, so
/// it cannot be captured by an escaping closure on its own).
public final class Locked<Value: Sendable>: Sendable {
    private let mutex: Mutex<Value>
    public init(_ value: Value) { mutex = Mutex(value) }
    public func withLock<R: Sendable>(_ body: (inout Value) -> R) -> R { mutex.withLock { body(&$0) } }
    public var value: Value { mutex.withLock { $0 } }
}
