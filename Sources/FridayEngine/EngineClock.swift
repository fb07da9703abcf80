import FridayCore

/// The engine's only source of time. Injected so tests and headless runs are deterministic.
public protocol EngineClock: Sendable {
    func now() -> Timestamp
    /// Returns at (or after) `deadline`, or throws on cancellation.
    func sleep(until deadline: Timestamp) async throws
}

/// Wall-clock time from `base`, running `speed` times faster than real time.
public struct ScaledClock: EngineClock {
    public let base: Timestamp
    public let speed: Double
    private let start: ContinuousClock.Instant

    public init(base: Timestamp, speed: Double = 1) {
        self.base = base
        self.speed = max(0.01, speed)
        self.start = ContinuousClock.now
    }

    public func now() -> Timestamp {
        let e = ContinuousClock.now - start
        let secs = Double(e.components.seconds) + Double(e.components.attoseconds) * 1e-18
        return base + secs * speed
    }

    public func sleep(until deadline: Timestamp) async throws {
        let wait = (deadline - now()) / speed
        if wait > 0 { try await Task.sleep(for: .nanoseconds(Int64(wait * 1e9))) }
    }
}

/// Time that moves only when told to: for tests and for runs "as fast as possible".
public final class ManualClock: EngineClock, @unchecked Sendable {
    private let lock = Lock()
    private var current: Timestamp

    public init(_ start: Timestamp) { current = start }

    public func now() -> Timestamp { lock.withLock { current } }
    public func set(_ t: Timestamp) { lock.withLock { current = t } }
    public func advance(by seconds: Double) { lock.withLock { current = current + seconds } }
    /// Does not wait: a manual clock's owner drives the engine with `advance(to:)`.
    public func sleep(until deadline: Timestamp) async throws {
        try Task.checkCancellation()
        await Task.yield()
    }
}
