import Foundation
import FridayCore

/// Builds event streams for tests: a deploy with a plan, then whatever the test needs.
public struct EventFixture {
    public private(set) var events: [DeployEvent] = []
    public var deploy = "test-deploy"
    public var t = Timestamp(seconds: 1_795_795_200)

    public init() {}

    /// Appends an event one second after the previous one.
    public mutating func add(_ p: EventPayload, after seconds: Double = 1) {
        if !events.isEmpty { t = t + seconds }
        events.append(DeployEvent(seq: events.count, ts: t, deploy: deploy, payload: p))
    }

    /// The state the events fold to.
    public var state: DeployState {
        var s = DeployState()
        for e in events { Reducer.reduce(&s, e) }
        return s
    }

    /// A started deploy with two finished stages and the standard plan at step `step` (nil: in the pipeline).
    public static func rolling(step: Int?, plan: RolloutPlan = .standard) -> EventFixture {
        var f = EventFixture()
        f.add(.deployStarted(service: "checkout", from: VersionRef(name: "v1", commit: "a"), to: VersionRef(name: "v2", commit: "b"),
                             plan: plan, stages: ["build", "release"], by: "lee"))
        f.add(.stageStarted(stage: "build"))
        f.add(.stageFinished(stage: "build", status: .succeeded, seconds: 1))
        guard let step else { return f }
        f.add(.stageStarted(stage: "release"))
        f.add(.stageFinished(stage: "release", status: .succeeded, seconds: 1))
        for i in 0...step {
            let w = plan.steps[i].weight
            f.add(.trafficObserved(weights: [VersionWeight(version: "v1", percent: 100 - w), VersionWeight(version: "v2", percent: w)]), after: 0)
            f.add(.stepStarted(index: i, weight: w, pause: plan.steps[i].pause), after: 0)
        }
        return f
    }
}

/// `count` consecutive TCP ports on 127.0.0.1 that nothing listens on now, from 20000–32000:
/// below Linux's ephemeral range (32768–60999), so no outgoing connection of this machine can
/// be holding one when a server of the test binds it. Each is checked by binding it.
public func freePorts(_ count: Int = 1) -> Int {
    for _ in 0..<200 {
        let base = Int.random(in: 20_000...(32_000 - count))
        if (base..<(base + count)).allSatisfy(portIsFree) { return base }
    }
    return Int.random(in: 20_000...(32_000 - count))
}

private func portIsFree(_ port: Int) -> Bool {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard fd >= 0 else { return false }
    defer { close(fd) }
    var addr = sockaddr_in()
    addr.sin_family = sa_family_t(AF_INET)
    addr.sin_port = in_port_t(UInt16(port).bigEndian)
    addr.sin_addr.s_addr = inet_addr("127.0.0.1")
    let bound = withUnsafePointer(to: &addr) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
    }
    return bound == 0
}
