import FridayCore

/// Sets and reads back the traffic split. The engine never shows a weight the router did not confirm.
public protocol TrafficRouter: Sendable {
    /// A short name for messages (`simulator`, `haproxy@/run/haproxy.sock`).
    var name: String { get }
    /// Sets the weights and returns what the router reports afterwards.
    func setWeights(_ weights: [VersionWeight]) async throws -> [VersionWeight]
    /// What the router has now (nil if it cannot say), for reconciling after a restart.
    func currentWeights() async throws -> [VersionWeight]?
    /// What the router has now, read back every tick to see drift. A fleet returns the
    /// first instance that disagrees with `expected` (so one hand-edited instance is seen).
    func readBack(expected: [VersionWeight]) async throws -> [VersionWeight]?
    /// Whether the router keeps its weights when friday restarts (HAProxy, a flag file: yes;
    /// the in-process simulator: no, so a restart sets them again without calling it drift).
    var keepsWeightsAcrossRestart: Bool { get }
}

extension TrafficRouter {
    public func readBack(expected: [VersionWeight]) async throws -> [VersionWeight]? { try await currentWeights() }
    public var keepsWeightsAcrossRestart: Bool { true }
}

/// Per-version request, error and latency figures for the window ending at a time.
public protocol MetricsSource: Sendable {
    func sample(at time: Timestamp, state: DeployState) async throws -> [MetricsSample]
}

extension MetricsSource {
    /// A short name for messages.
    public var providerName: String { String(describing: type(of: self)) }
}

/// Something outside the engine that produces events or commands as time passes: the
/// simulator's pipeline and teammates, a stage runner, an external CI.
public protocol EventSource: Sendable {
    func poll(at time: Timestamp, state: DeployState) async -> [SourceOutput]
}

/// What a source hands the engine.
public enum SourceOutput: Sendable, Equatable {
    case event(EventPayload)
    case command(Command)
}

/// A router failure with what to do about it.
public struct RouterError: Error, Sendable, CustomStringConvertible {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}
