import FridayCore
import FridayEngine
import FridayIntegrations
import XCTest

/// The simulator's small counts are drawn exactly: a healthy canary's error rate matches the
/// old version's within binomial bounds at every step, and its share of requests is the
/// step's weight. (Before: a rounded normal draw gave a healthy canary at 5% with 0.1%
/// errors 1.22 times the old version's rate, and at 1% of 20 req/s a third more requests.)
final class SimulatorTruthTests: XCTestCase {
    func counts(rps: Double, errorRate: Double, weight: Int, seconds: Int) async throws -> (canary: (n: Int, k: Int), base: (n: Int, k: Int)) {
        var settings = SimulationSettings(scenario: .good, seed: 5)
        settings.requestsPerSecond = rps
        settings.baseErrorRate = errorRate
        let traffic = SimulatedTraffic(settings: settings)
        var s = DeployState()
        s.from = settings.from; s.to = settings.to
        s.phase = .rolling
        s.stepIndex = 0
        s.observed = [VersionWeight(version: settings.from.name, percent: 100 - weight), VersionWeight(version: settings.to.name, percent: weight)]
        var c = (n: 0, k: 0), b = (n: 0, k: 0)
        for t in 0..<seconds {
            for m in try await traffic.sample(at: Timestamp(seconds: Double(t)), state: s) {
                if m.version == settings.to.name { c.n += m.requests; c.k += m.errors } else { b.n += m.requests; b.k += m.errors }
            }
        }
        return (c, b)
    }

    func testAHealthyCanarysErrorRateMatchesTheOldVersionsAtEveryStep() async throws {
        for weight in [1, 5, 25, 50] {
            let (c, b) = try await counts(rps: 5000, errorRate: 0.001, weight: weight, seconds: 4000)
            let pc = Double(c.k) / Double(c.n), pb = Double(b.k) / Double(b.n)
            let p = Double(c.k + b.k) / Double(c.n + b.n)
            let se = (p * (1 - p) * (1 / Double(c.n) + 1 / Double(b.n))).squareRoot()
            XCTAssertLessThan(abs(pc - pb), 4 * se, "at \(weight)%: canary \(pc) vs old \(pb) (4 standard errors: \(4 * se))")
            // The canary's share of requests is the weight.
            let share = Double(c.n) / Double(c.n + b.n)
            let shareSE = (Double(weight) / 100 * (1 - Double(weight) / 100) / Double(c.n + b.n)).squareRoot()
            XCTAssertLessThan(abs(share - Double(weight) / 100), 4 * shareSE + 1e-4, "at \(weight)%: share \(share)")
        }
    }

    func testSmallCountsAtLowTrafficAreUnbiased() async throws {
        // 1% of 20 req/s: 0.2 canary requests a second, 0.4% errors.
        let (c, b) = try await counts(rps: 20, errorRate: 0.004, weight: 1, seconds: 200_000)
        let expected = 0.2 * 200_000
        XCTAssertLessThan(abs(Double(c.n) - expected), 4 * expected.squareRoot(), "canary requests \(c.n), expected \(expected)")
        let pc = Double(c.k) / Double(c.n), pb = Double(b.k) / Double(b.n)
        let se = (0.004 * 0.996 * (1 / Double(c.n) + 1 / Double(b.n))).squareRoot()
        XCTAssertLessThan(abs(pc - pb), 4 * se, "canary \(pc) vs old \(pb)")
    }

    /// An error rate below 1e-16 (in the documented 0–0.5) made log(1 − p) zero and the
    /// waiting time infinite: its Int conversion trapped the simulator.
    func testATinyErrorRateDoesNotTrap() async throws {
        var rng = SeededGenerator(seed: 3)
        XCTAssertEqual(exactBinomial(&rng, 1_000_000, 1e-17), 0)
        XCTAssertEqual(rng.binomial(1000, Double.leastNonzeroMagnitude), 0)
        let (c, _) = try await counts(rps: 5000, errorRate: 1e-17, weight: 5, seconds: 10)
        XCTAssertGreaterThan(c.n, 0)
    }
}
