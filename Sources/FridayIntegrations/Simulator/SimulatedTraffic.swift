import Foundation
import FridayCore
import FridayEngine

/// Synthetic requests, errors and latency per version, from the router's confirmed weights.
///
/// Seeded: the same seed and the same sequence of calls give the same samples.
public final class SimulatedTraffic: MetricsSource, @unchecked Sendable {
    private let settings: SimulationSettings
    private let lock = Lock()
    private var rng: SeededGenerator

    public init(settings: SimulationSettings) {
        self.settings = settings
        self.rng = SeededGenerator(seed: settings.seed &* 0x9E37_79B9 &+ 7)
    }

    public func sample(at time: Timestamp, state: DeployState) async throws -> [MetricsSample] {
        lock.withLock { make(at: time, state: state) }
    }

    private func make(at time: Timestamp, state: DeployState) -> [MetricsSample] {
        var out: [MetricsSample] = []
        for w in state.observed where w.percent > 0 {
            // Several candidates: the scenario's story is about the last (it fails, or it is faster).
            let isNew = w.version == (settings.scenario.isMultiway ? state.candidates.last?.name ?? state.to.name : state.to.name)
            let mean = settings.requestsPerSecond * Double(w.percent) / 100
            // Poisson, drawn exactly for small means (a rounded normal overstated them).
            let requests = poisson(&rng, mean)
            var errorRate = settings.baseErrorRate
            var p50 = 38.0, p99 = 140.0
            var slowShare = 0.01 // above the old version's p99 (140 ms), by definition 1% of its requests
            if isNew, settings.scenario == .benchmark {
                // A refactor that is faster: p50 15% lower, p99 20% lower.
                p50 *= 0.85; p99 *= 0.8
                slowShare = SimulatedTraffic.shareAbove(p99Factor: 0.8)
            } else if isNew, let regression = regressionSeconds(state, time) {
                switch settings.scenario {
                case .badCanary, .threeWay: errorRate += min(0.08, 0.002 * regression)
                case .slowCanary:
                    let f = 1 + min(1.4, 0.05 * regression)
                    p50 *= 1 + (f - 1) / 3; p99 *= f
                    slowShare = SimulatedTraffic.shareAbove(p99Factor: f)
                default: break
                }
            }
            if isNew, let rate = settings.canaryErrorRate, let i = state.stepIndex, i >= settings.canaryErrorsFromStep,
               i > settings.canaryErrorsFromStep || time - (state.stepStartedAt ?? time) >= settings.canaryErrorsAfter {
                errorRate = rate
            }
            let errors = rng.binomial(requests, errorRate)
            let slow = rng.binomial(requests, slowShare)
            // Fewer requests make a noisier p99.
            let noise = 0.04 + 0.3 / max(1, Double(requests)).squareRoot()
            let p99v = max(p50 * 1.5, p99 * (1 + noise * rng.normal()))
            let p50v = max(1, p50 * (1 + 0.03 * rng.normal()))
            // Milliseconds to 3 decimals, as the event line keeps them, so a replay folds the same numbers.
            out.append(MetricsSample(version: w.version, requests: requests, errors: errors,
                                     p50: (p50v * 1000).rounded() / 1000, p99: (p99v * 1000).rounded() / 1000, window: 1, slow: slow))
        }
        return out
    }

    /// The share of requests above the old p99 when the p99 grows by `f`, for lognormal
    /// latencies with σ 0.5: 1 − Φ(2.326 − ln f / 0.5).
    static func shareAbove(p99Factor f: Double) -> Double {
        let z: Double = 2.326 - Foundation.log(max(0.01, f)) / 0.5
        return 0.5 * erfc(z / 2.0.squareRoot())
    }

    /// Seconds since the regression began (the 5% step), nil before it.
    private func regressionSeconds(_ s: DeployState, _ t: Timestamp) -> Double? {
        guard let i = s.stepIndex, i >= 1, let started = s.stepStartedAt else { return nil }
        // From the start of step 2 on; later steps keep the regression running.
        return max(0, t - started) + (i > 1 ? 60 : 0)
    }
}
