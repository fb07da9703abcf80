import FridayCore

/// The one writer: takes events from sources and commands from people, folds them into
/// the state, carries out their effects, and publishes every event in order.
///
/// Promises: events get consecutive sequence numbers; every subscriber sees them in that
/// order; a slow subscriber loses its oldest undelivered events (and sees the gap in `seq`,
/// so it can resync from `snapshot()`) but never stalls the engine or other subscribers;
/// commands and ticks are handled one at a time, so a double key press cannot skip a step.
public actor Engine {
    public nonisolated let deployID: String
    public nonisolated let clock: any EngineClock
    private let router: any TrafficRouter
    private let metrics: (any MetricsSource)?
    private let sources: [any EventSource]
    public nonisolated let judge: CanaryJudge?

    public private(set) var state = DeployState()
    private var nextSeq = 0
    private var subscribers: [Int: AsyncStream<DeployEvent>.Continuation] = [:]
    private var nextSubscriberID = 0
    private var sinks: [@Sendable (DeployEvent) -> Void] = []
    private var lastTick: Timestamp?
    private var judged: (step: Int, verdict: Verdict)?
    private var queueTail: Task<Void, Never>?
    private let log: EventLog?
    private let onFatal: (@Sendable (String) -> Void)?
    /// Why the engine stopped (the log could not be written); nil while it runs.
    public private(set) var fatal: String?
    /// Deliveries dropped because a subscriber's buffer was full.
    public private(set) var droppedDeliveries = 0

    public init(deployID: String, clock: any EngineClock, router: any TrafficRouter, metrics: (any MetricsSource)?,
                sources: [any EventSource], judge: CanaryJudge? = CanaryJudge(), log: EventLog? = nil,
                onFatal: (@Sendable (String) -> Void)? = nil) {
        self.log = log
        self.onFatal = onFatal
        self.deployID = deployID
        self.clock = clock
        self.router = router
        self.metrics = metrics
        self.sources = sources
        self.judge = judge
    }

    // MARK: subscribing

    /// A stream of every event from now on. `buffer` bounds what waits for a slow reader.
    public func subscribe(buffer: Int = 4096) -> AsyncStream<DeployEvent> {
        let id = nextSubscriberID
        nextSubscriberID += 1
        let (stream, continuation) = AsyncStream<DeployEvent>.makeStream(bufferingPolicy: .bufferingNewest(buffer))
        subscribers[id] = continuation
        continuation.onTermination = { [weak self] _ in
            guard let self else { return }
            Task { await self.unsubscribe(id) }
        }
        return stream
    }

    private func unsubscribe(_ id: Int) { subscribers[id] = nil }

    public var subscriberCount: Int { subscribers.count }

    /// A synchronous observer called for every event in order, before subscribers
    /// (the event log writer, the headless printer). It must be quick.
    public func addSink(_ sink: @escaping @Sendable (DeployEvent) -> Void) { sinks.append(sink) }

    /// The current state, for a subscriber that fell behind.
    public func snapshot() -> DeployState { state }

    /// Ends every subscription.
    public func finishSubscriptions() {
        for c in subscribers.values { c.finish() }
        subscribers = [:]
    }

    /// Starts from a state read back from the event log.
    public func restore(_ recovered: DeployState) {
        state = recovered
        nextSeq = recovered.lastSeq + 1
        if let last = recovered.lastEventAt { lastTick = last }
    }

    /// After a restart: records how long the engine was down (pause timers did not run),
    /// then makes the router's weights match the state's (the step's, or 0 after a revert).
    public func resumeAfterRestart() async {
        await serially { e in await e.resumeNow() }
    }

    private func resumeNow() async {
        guard state.phase != .idle, let last = state.lastEventAt else { return }
        let now = commandTime()
        record(.engineRestarted(downSeconds: max(0, now - last)), at: now)
        let wanted: [VersionWeight]
        switch state.phase {
        case .rolling: wanted = RolloutLogic.weights(in: state, newPercent: state.currentStep?.weight ?? 0)
        case .finished(.promoted): wanted = RolloutLogic.weights(in: state, newPercent: 100)
        case .finished: wanted = RolloutLogic.weights(in: state, newPercent: 0)
        default: return
        }
        let current = try? await router.currentWeights()
        if let current, Set(current) == Set(wanted) {
            if Set(state.observed) != Set(current) { record(.trafficObserved(weights: current), at: now) }
            return
        }
        _ = await applyWeights(wanted, at: now, purpose: "reconciling after the restart")
    }

    // MARK: input

    /// Validates and carries out a command; a refusal is recorded as `command.rejected`.
    @discardableResult
    public func send(_ command: Command) async -> CommandDecision {
        await serially { e in await e.handle(command, at: e.commandTime()) }
    }

    /// Records an event from outside (an external CI, a teammate's client) at the current time.
    @discardableResult
    public func ingest(_ payload: EventPayload) async -> DeployEvent {
        await serially { e in e.record(payload, at: e.commandTime()) }
    }

    /// Moves the deploy to time `t`: sources, due transitions, metrics, the judge.
    public func advance(to t: Timestamp) async {
        await serially { e in await e.tick(t) }
    }

    /// Drives `advance` from the clock once per `interval` simulated seconds until cancelled.
    public func run(interval: Double = 1) async {
        var next = Timestamp(seconds: (clock.now().seconds / interval).rounded(.down) * interval)
        while !Task.isCancelled {
            do { try await clock.sleep(until: next) } catch { return }
            await advance(to: next)
            next = next + interval
        }
    }

    // MARK: internals

    private func serially<T: Sendable>(_ op: @escaping @Sendable (isolated Engine) async -> T) async -> T {
        let previous = queueTail
        let task = Task { () -> T in
            await previous?.value
            return await op(self)
        }
        queueTail = Task { _ = await task.value }
        return await task.value
    }

    private func commandTime() -> Timestamp {
        let now = clock.now()
        if let last = state.lastEventAt, last > now { return last }
        return now
    }

    private func handle(_ command: Command, at t: Timestamp) async -> CommandDecision {
        if let fatal { return .rejected("the engine stopped: \(fatal)") }
        let decision = RolloutLogic.decide(command, in: state)
        switch decision {
        case let .rejected(why):
            record(.commandRejected(action: command.action, by: command.by, why: why), at: t)
        case let .accepted(intents):
            await execute(intents, at: t)
        }
        return decision
    }

    private func tick(_ t: Timestamp) async {
        if fatal != nil { return }
        for source in sources {
            for output in await source.poll(at: t, state: state) {
                switch output {
                case let .event(p): record(p, at: t)
                case let .command(c): _ = await handle(c, at: t)
                }
            }
        }
        await retryRouterIfNeeded(t)
        var due = RolloutLogic.due(in: state, now: t)
        if case .rolling = state.phase, case .startStep = due.first, let judge, let step = state.stepIndex,
           var end = judge.evaluate(state, stepEnded: true) {
            if let problem = state.metricsProblem {
                // A step does not pass on data the judge could not see.
                end = CanaryJudge.Result(verdict: .inconclusive, summary: "metrics unavailable at the step's end: \(problem)",
                                         statistic: end.statistic, figures: end.figures)
            }
            // The pause ran out: the step moves on only on a pass, and its verdict is recorded.
            if judged?.step != step || judged?.verdict != end.verdict {
                judged = (step, end.verdict)
                record(.analysisVerdict(step: step, verdict: end.verdict, summary: end.summary, figures: end.figures), at: t)
            }
            if end.verdict != .pass {
                due = []
                await act(on: end, judge: judge, at: t)
            }
        }
        await execute(due, at: t)
        let wholeSecond = lastTick.map { Int($0.seconds.rounded(.down)) != Int(t.seconds.rounded(.down)) } ?? true
        lastTick = t
        if wholeSecond, let metrics, state.phase != .idle, state.phase != .pipeline {
            do {
                let samples = try await metrics.sample(at: t, state: state)
                if state.metricsProblem != nil { record(.metricsRecovered(provider: metrics.providerName), at: t) }
                for s in samples { record(.metricsSample(s), at: t) }
            } catch {
                // No sample, and said so: never taken as zero errors.
                let message = "\(error)"
                if state.metricsProblem != message { record(.metricsUnavailable(provider: metrics.providerName, error: message), at: t) }
            }
            await judgeNow(t)
        }
    }

    /// A deploy paused because the router failed goes on by itself once the router answers:
    /// a pending revert is completed; otherwise the step's weights are set again and the
    /// rollout resumes (a pause that ran out meanwhile then moves to the next step).
    private func retryRouterIfNeeded(_ t: Timestamp) async {
        guard state.routerProblem != nil, state.paused?.by == "engine", case .rolling = state.phase else { return }
        guard (try? await router.currentWeights()) != nil else { return }
        let wantedCanary = state.wanted.first { $0.version == state.to.name }?.percent ?? 0
        if wantedCanary == 0 {
            await execute([.revert(by: "engine", reason: "completing the revert now that \(router.name) answers")], at: t)
            return
        }
        let weights = RolloutLogic.weights(in: state, newPercent: state.currentStep?.weight ?? 0)
        let ok = await applyWeights(weights, at: t, purpose: "setting step \((state.stepIndex ?? 0) + 1) again")
        if ok, state.routerProblem == nil { record(.deployResumed(by: "engine"), at: t) }
    }

    /// Records a verdict when it changes (pass or fail; "still sampling" is not news) and
    /// acts on a failure.
    private func judgeNow(_ t: Timestamp) async {
        guard let judge, state.paused == nil, let step = state.stepIndex,
              let result = judge.evaluate(state) else { return }
        if result.verdict == .inconclusive { return }
        if let j = judged, j.step == step, j.verdict == result.verdict { return }
        judged = (step, result.verdict)
        record(.analysisVerdict(step: step, verdict: result.verdict, summary: result.summary, figures: result.figures), at: t)
        await act(on: result, judge: judge, at: t)
    }

    /// A failed step reverts (or pauses, as configured); an inconclusive one pauses for a human.
    private func act(on result: CanaryJudge.Result, judge: CanaryJudge, at t: Timestamp) async {
        switch result.verdict {
        case .pass: return
        case .inconclusive:
            if state.paused == nil { record(.deployPaused(by: "judge", reason: result.summary), at: t) }
        case .fail:
            if judge.onFail == .revert {
                await execute([.revert(by: "judge", reason: result.summary)], at: t)
            } else if state.paused == nil {
                record(.deployPaused(by: "judge", reason: result.summary), at: t)
            }
        }
    }

    private func execute(_ intents: [RolloutIntent], at t: Timestamp) async {
        for intent in intents {
            switch intent {
            case let .emit(p):
                record(p, at: t)
            case let .fail(reason):
                record(.deployFinished(outcome: .failed, by: "pipeline", reason: reason), at: t)
            case let .startStep(i):
                guard i >= 0, i < state.plan.steps.count else { continue }
                let step = state.plan.steps[i]
                let wanted = RolloutLogic.weights(in: state, newPercent: step.weight)
                guard await applyWeights(wanted, at: t, purpose: "step \(i + 1) (\(step.weight)%)") else { return }
                judged = nil
                record(.stepStarted(index: i, weight: step.weight, pause: step.pause), at: t)
                if i == state.plan.steps.count - 1, step.weight == 100 {
                    record(.deployFinished(outcome: .promoted, by: "rollout", reason: nil), at: t)
                }
            case let .revert(by, reason):
                let wanted = RolloutLogic.weights(in: state, newPercent: 0)
                guard await applyWeights(wanted, at: t, purpose: "the revert") else { return }
                record(.deployFinished(outcome: .reverted, by: by, reason: reason), at: t)
            }
        }
    }

    /// Sets weights and confirms them; on failure records why and pauses the rollout.
    private func applyWeights(_ wanted: [VersionWeight], at t: Timestamp, purpose: String) async -> Bool {
        record(.trafficSet(weights: wanted), at: t)
        do {
            let back = try await router.setWeights(wanted)
            let hadProblem = state.routerProblem != nil
            record(.trafficObserved(weights: back), at: t)
            if hadProblem { record(.routerRecovered(provider: router.name), at: t) }
            if Set(back) != Set(wanted) {
                let got = back.map { "\($0.version) \($0.percent)%" }.joined(separator: ", ")
                if state.paused == nil { record(.deployPaused(by: "engine", reason: "router \(router.name) reports \(got) after \(purpose)"), at: t) }
                return false
            }
            return true
        } catch {
            // Said once per distinct problem: a retry that fails the same way adds no line.
            if state.routerProblem != "\(router.name): \(error)" {
                record(.routerUnreachable(provider: router.name, error: "\(error)"), at: t)
            }
            if state.paused == nil, !state.isFinished {
                record(.deployPaused(by: "engine", reason: "router \(router.name) did not confirm \(purpose): \(error)"), at: t)
            }
            return false
        }
    }

    /// Assigns the next sequence number, folds the event in and publishes it.
    @discardableResult
    private func record(_ payload: EventPayload, at t: Timestamp) -> DeployEvent {
        let event = DeployEvent(seq: nextSeq, ts: t, deploy: deployID, payload: payload)
        guard fatal == nil else { return event }
        // Folded in place (a copy would cost a copy of every buffer per event).
        Reducer.reduce(&state, event)
        nextSeq += 1
        if let log {
            // On disk before anyone hears of it; a log that cannot be written stops the engine
            // and nothing more is published or acknowledged.
            do { try log.append(event, state: state) } catch {
                fatal = error.description
                onFatal?(error.description)
                return event
            }
        }
        for sink in sinks { sink(event) }
        for c in subscribers.values {
            if case .dropped = c.yield(event) { droppedDeliveries += 1 }
        }
        return event
    }
}
