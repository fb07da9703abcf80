import FridayCore
import FridayEngine

/// An in-process router that takes every weight it is given, unless told to fail.
public final class SimulatedRouter: TrafficRouter, @unchecked Sendable {
    public let name = "simulator"
    private let lock = Lock()
    private var weights: [VersionWeight] = []
    private var failure: String?

    public init() {}

    public var keepsWeightsAcrossRestart: Bool { false }

    /// Changes the weights behind the engine's back (a hand edit, in tests).
    public func setByHand(_ w: [VersionWeight]) { lock.withLock { weights = w } }

    public var current: [VersionWeight] { lock.withLock { weights } }

    /// Makes the next calls fail with `message` (nil to recover).
    public func setFailure(_ message: String?) { lock.withLock { failure = message } }

    public func currentWeights() async throws -> [VersionWeight]? {
        try lock.withLock {
            if let failure { throw RouterError(failure) }
            return weights
        }
    }

    public func setWeights(_ w: [VersionWeight]) async throws -> [VersionWeight] {
        try lock.withLock {
            if let failure { throw RouterError(failure) }
            weights = w
            return weights
        }
    }
}
