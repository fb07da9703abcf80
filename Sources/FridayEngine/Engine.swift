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
    /// The last seq published (on disk, and handed to subscribers).
    private var publishedUpTo = -1
    private var subscribers: [Int: AsyncStream<DeployEvent>.Continuation] = [:]
    private var nextSubscriberID = 0
    private var sinks: [@Sendable (DeployEvent) -> Void] = []
    private var lastTick: Timestamp?
    private var judged: (step: Int, verdict: Verdict)?
    /// With several candidates: each one's last recorded verdict in the step.
    private var candidateJudged: [String: (step: Int, verdict: Verdict)] = [:]
    /// Benchmark mode: the step and conclusion last reported.
    private var benchmarkSaid: (step: Int, key: String)?
    private var queueTail: Task<Void, Never>?
    /// Recorded but not yet published (waiting for the log's sync).
    private var held: [DeployEvent] = []
    /// Counts weight changes, so a read-back that started before one is not taken as drift.
    private var routerGeneration = 0
    private var routerCall: Task<[VersionWeight], any Error>?
    private var routerCallCause: TrafficCause?
    /// The most a metrics fetch may take before it counts as unavailable.
    public nonisolated let metricsDeadline: Double
    private let log: EventLog?
    private let onFatal: (@Sendable (String) -> Void)?
    /// Why the engine stopped (the log could not be written); nil while it runs.
    public private(set) var fatal: String?
    /// Deliveries dropped because a subscriber's buffer was full.
    public private(set) var droppedDeliveries = 0

    public init(deployID: String, clock: any EngineClock, router: any TrafficRouter, metrics: (any MetricsSource)?,
                sources: [any EventSource], judge: CanaryJudge? = CanaryJudge(), log: EventLog? = nil,
                onFatal: (@Sendable (String) -> Void)? = nil, metricsDeadline: Double = 3) {
        self.metricsDeadline = metricsDeadline
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

    /// Starts from a state read back from the event log (any log with at least one event,
    /// `deploy.started` or not, so sequence numbers go on from the last one).
    public func restore(_ recovered: DeployState) {
        state = recovered
        nextSeq = recovered.lastSeq + 1
        if let last = recovered.lastEventAt { lastTick = last }
    }

    /// After a restart: records how long the engine was down (pause timers did not run),
    /// finishes the move the log says was under way (a revert stays a revert), and checks
    /// the router against the log. A finished deploy is never touched.
    public func resumeAfterRestart() async {
        await serially { e in await e.resumeNow() }
    }

    private func resumeNow() async {
        guard state.phase != .idle, !state.isFinished, let last = state.lastEventAt else { return }
        let now = commandTime()
        record(.engineRestarted(downSeconds: min(InputRange.longSeconds.upperBound, max(0, now - last))), at: now)
        // A fail verdict on disk that was not yet acted on (the process died between the
        // verdict and its revert) is a revert decided: the first thing a restart does,
        // whatever the metrics say next (down, silent, or healthy again).
        if state.pending == nil, await actOnRecordedFail(at: now) { return }
        if state.pending != nil {
            await execute(RolloutLogic.due(in: state, now: now), at: now)
            return
        }
        guard state.phase == .rolling else { return }
        let wanted = state.wanted
        let current: [VersionWeight]?
        do { current = try await router.readBack(expected: wanted) } catch {
            noteReadFailure(error, at: now)
            return
        }
        if let current, Set(current) == Set(wanted) {
            if Set(state.observed) != Set(current) { record(.trafficObserved(weights: current), at: now) }
            return
        }
        if let current, router.keepsWeightsAcrossRestart {
            // Someone (or a restarted router) changed the split while friday was down.
            noteDrift(current, at: now, when: "while friday was down")
            return
        }
        _ = await applyWeights(wanted, cause: .restore, at: now, purpose: "setting the logged weights again after the restart")
    }

    // MARK: input

    /// Validates and carries out a command; a refusal is recorded as `command.rejected`
    /// unless `logRefusal` is false (a client that gets the refusal in its reply: a mistaken
    /// CLI verb is not a line in everyone's team log, as a mistaken key is not).
    @discardableResult
    public func send(_ command: Command, logRefusal: Bool = true) async -> CommandDecision {
        yieldPendingStep(to: command)
        return await serially { e in await e.handle(command, at: e.commandTime(), logRefusal: logRefusal) }
    }

    /// Queues a command and returns at once, keeping the order of calls (keys from the
    /// screen go through here, so pause-then-promote is never carried out the other way
    /// round). A revert or pause still cancels a step change waiting for the router.
    public func submit(_ command: Command) {
        yieldPendingStep(to: command)
        _ = enqueue { e in await e.handle(command, at: e.commandTime()) }
    }

    /// A revert or pause is decided at once: a step change still waiting for the router gives way.
    private func yieldPendingStep(to command: Command) {
        if command.action == .revert || command.action == .pause, case .step? = routerCallCause { routerCall?.cancel() }
    }

    /// Records an event from outside (an external CI, a teammate's client) at the current time.
    @discardableResult
    public func ingest(_ payload: EventPayload) async -> DeployEvent {
        await serially { e in e.record(payload, at: e.commandTime()) }
    }

    /// Records an event from outside that `check` builds from the current state, in the
    /// queue's order (so no other event comes between the check and the record), or says why
    /// not. The state is lent to `check`, not copied.
    public func ingest(checking check: @escaping @Sendable (DeployState) -> Result<EventPayload, IngestRefusal>) async -> Result<DeployEvent, IngestRefusal> {
        let r = await serially { e in
            switch check(e.state) {
            case let .success(p): return Result<DeployEvent, IngestRefusal>.success(e.record(p, at: e.commandTime()))
            case let .failure(why): return .failure(why)
            }
        }
        // Acknowledged only once on disk: a log that failed under it is a refusal.
        if case let .success(ev) = r, ev.seq > publishedUpTo { return .failure(IngestRefusal("the engine stopped: \(fatal ?? "not recorded")")) }
        return r
    }

    /// Records many events from outside in one queue operation (one sync of the log for
    /// the lot): `check(i, state)` builds the i-th from the state as it is after the ones
    /// before it, or says why not; then `summary` (given the refusals) may add one event
    /// saying what was refused. Returns the refusals by index.
    public func ingest(batch count: Int, checking check: @escaping @Sendable (Int, DeployState) -> Result<EventPayload, IngestRefusal>,
                       summary: @escaping @Sendable ([IndexedRefusal]) -> EventPayload?) async -> [IndexedRefusal] {
        let (refusals, recorded) = await serially { e in
            var refused: [IndexedRefusal] = []
            var recorded: [(index: Int, seq: Int)] = []
            let t = e.commandTime()
            for i in 0..<count {
                switch check(i, e.state) {
                case let .success(p): recorded.append((i, e.record(p, at: t).seq))
                case let .failure(why): refused.append(IndexedRefusal(index: i, refusal: why))
                }
            }
            if let p = summary(refused) { e.record(p, at: t) }
            return (refused, recorded)
        }
        // What the log could not keep is refused, not counted as recorded.
        guard let fatal else { return refusals }
        let lost = recorded.filter { $0.seq > publishedUpTo }.map { IndexedRefusal(index: $0.index, refusal: IngestRefusal("the engine stopped: \(fatal)")) }
        return (refusals + lost).sorted { $0.index < $1.index }
    }

    /// Moves the deploy to time `t`: sources, due transitions, metrics, the judge.
    ///
    /// The metrics fetch and the router read-back run off the queue (each bounded by a
    /// deadline), so a command sent meanwhile is decided and carried out at once.
    public func advance(to t: Timestamp) async {
        let go = await serially { e in await e.tick(t) }
        guard let go else { return }
        async let samples = fetchMetrics(go.state, at: t)
        async let back = readRouter(go.state)
        let (m, r) = await (samples, back)
        await serially { e in await e.afterFetch(t, metrics: m, readBack: r, generation: go.generation) }
    }

    /// Drives `advance` from the clock once per `interval` simulated seconds until cancelled.
    public func run(interval: Double = 1) async {
        var next = Timestamp(seconds: (clock.now().seconds / interval).rounded(.down) * interval)
        while !Task.isCancelled {
            do { try await clock.sleep(until: next) } catch { return }
            await advance(to: next)
            next = next + interval
            // A tick that took longer than the interval (a slow peer) is not caught up in a burst.
            let now = clock.now()
            if now.seconds > next.seconds + interval { next = Timestamp(seconds: (now.seconds / interval).rounded(.down) * interval) }
        }
    }

    // MARK: internals

    private func serially<T: Sendable>(_ op: @escaping @Sendable (isolated Engine) async -> T) async -> T {
        await enqueue(op).value
    }

    /// Puts `op` at the end of the one ordered queue and returns at once.
    private func enqueue<T: Sendable>(_ op: @escaping @Sendable (isolated Engine) async -> T) -> Task<T, Never> {
        let previous = queueTail
        let task = Task { () -> T in
            await previous?.value
            let result = await op(self)
            self.publishHeld()
            return result
        }
        queueTail = Task { _ = await task.value }
        return task
    }

    private func commandTime() -> Timestamp {
        let now = clock.now()
        if let last = state.lastEventAt, last > now { return last }
        return now
    }

    private func handle(_ command: Command, at t: Timestamp, logRefusal: Bool = true) async -> CommandDecision {
        if let fatal { return .rejected("the engine stopped: \(fatal)") }
        let first = nextSeq
        let decision = RolloutLogic.decide(command, in: state)
        switch decision {
        case let .rejected(why):
            // Nothing recorded: the sender has the refusal in its reply.
            if !logRefusal { return decision }
            record(.commandRejected(action: command.action, by: command.by, why: why), at: t)
        case let .accepted(intents):
            await execute(intents, at: t)
        }
        // A command whose first line (its acceptance) could not be written or synced is not
        // acknowledged: an acknowledgement would promise what the disk may not hold. Once that
        // line is on disk and published the command stands, even if the log fails after it.
        if let fatal, publishedUpTo < first { return .rejected("the engine stopped before this was recorded: \(fatal)") }
        return decision
    }

    /// What a tick hands to the fetches that run off the queue.
    struct Fetch: Sendable {
        var state: DeployState
        var generation: Int
    }

    private func tick(_ t: Timestamp) async -> Fetch? {
        if fatal != nil { return nil }
        for source in sources {
            for output in await source.poll(at: t, state: state) {
                switch output {
                case let .event(p): record(p, at: t)
                case let .command(c): _ = await handle(c, at: t)
                }
            }
        }
        var due = RolloutLogic.due(in: state, now: t)
        if state.pending == nil, case .rolling = state.phase, case .startStep = due.first, let judge, let step = state.stepIndex, state.isMultiway {
            // Several candidates: the step moves on when every candidate passes; a failing one is
            // taken out alone; without a pass for all it waits for evidence, then is held.
            let results = judge.evaluateCandidates(state, now: t)
            if var end = CanaryJudge.combined(results) {
                if let problem = state.metricsProblem, end.result.verdict != .fail {
                    end.result.verdict = .inconclusive
                    end.result.summary = "metrics unavailable at the step's end: \(problem)"
                }
                if end.result.verdict != .pass {
                    due = []
                    let extended = state.extendedFor(at: t) ?? 0
                    if end.result.verdict == .fail {
                        await judgedCandidate(end.version, end.result, step: step, judge: judge, at: t)
                    } else if extended >= judge.maxExtension || state.metricsProblem != nil {
                        await judgedCandidate(end.version, end.result, step: step, judge: judge, at: t)
                    } else if candidateJudged[end.version]?.step != step || candidateJudged[end.version]?.verdict != .inconclusive {
                        candidateJudged[end.version] = (step, .inconclusive)
                        record(.candidateVerdict(version: end.version, step: step, verdict: .inconclusive, summary: end.result.summary, figures: end.result.figures), at: t)
                    }
                } else {
                    for (v, r) in results where candidateJudged[v]?.step != step || candidateJudged[v]?.verdict != .pass {
                        candidateJudged[v] = (step, .pass)
                        record(.candidateVerdict(version: v, step: step, verdict: .pass, summary: r.summary, figures: r.figures), at: t)
                    }
                }
            }
        } else if state.pending == nil, case .rolling = state.phase, case .startStep = due.first, let judge, let step = state.stepIndex,
           var end = judge.evaluate(state, now: t) {
            // The pause ran out: the step moves on only on a pass. Without one it waits for
            // evidence (up to maxExtension), then is held for a human, saying what it needs.
            if let problem = state.metricsProblem, end.verdict != .fail {
                // A step does not pass, or wait, on data the judge could not see.
                end.verdict = .inconclusive
                end.summary = "metrics unavailable at the step's end: \(problem)"
            }
            if end.verdict != .pass {
                due = []
                let extended = state.extendedFor(at: t) ?? 0
                if end.verdict == .fail {
                    await judged(end, step: step, judge: judge, at: t)
                } else if extended >= judge.maxExtension || state.metricsProblem != nil {
                    await judged(end, step: step, judge: judge, at: t)
                } else if judged?.step != step || judged?.verdict != .inconclusive {
                    judged = (step, .inconclusive)
                    record(.analysisVerdict(step: step, verdict: .inconclusive, summary: end.summary, figures: end.figures), at: t)
                }
            } else if judged?.step != step || judged?.verdict != .pass {
                judged = (step, .pass)
                record(.analysisVerdict(step: step, verdict: .pass, summary: end.summary, figures: end.figures), at: t)
            }
        }
        await execute(due, at: t)
        let wholeSecond = lastTick.map { Int($0.seconds.rounded(.down)) != Int(t.seconds.rounded(.down)) } ?? true
        lastTick = t
        guard wholeSecond, state.phase != .idle, state.phase != .pipeline, fatal == nil else { return nil }
        return Fetch(state: state, generation: routerGeneration)
    }

    /// Samples the metrics source, bounded by `metricsDeadline` whatever the source does.
    private nonisolated func fetchMetrics(_ s: DeployState, at t: Timestamp) async -> Result<[MetricsSample], FetchFailure>? {
        guard let metrics else { return nil }
        let deadline = metricsDeadline
        return await withTaskGroup(of: Result<[MetricsSample], FetchFailure>?.self) { g in
            g.addTask {
                do { return .success(try await metrics.sample(at: t, state: s)) } catch {
                    return .failure(FetchFailure(message: "\(error)"))
                }
            }
            g.addTask {
                try? await Task.sleep(for: .seconds(deadline))
                return Task.isCancelled ? nil : .failure(FetchFailure(message: "\(metrics.providerName): no answer within \(format1(deadline)) s"))
            }
            let first = await g.next() ?? nil
            g.cancelAll()
            return first
        }
    }

    /// Reads the router back (drift), while a rollout is under way and no move is pending.
    private nonisolated func readRouter(_ s: DeployState) async -> Result<[VersionWeight]?, FetchFailure>? {
        guard s.phase == .rolling, s.pending == nil else { return nil }
        do { return .success(try await router.readBack(expected: s.wanted)) } catch {
            return .failure(FetchFailure(message: "\(error)"))
        }
    }

    /// Records what the fetches brought back, then judges.
    private func afterFetch(_ t: Timestamp, metrics m: Result<[MetricsSample], FetchFailure>?,
                            readBack r: Result<[VersionWeight]?, FetchFailure>?, generation: Int) async {
        if fatal != nil { return }
        // A read-back is compared only if no weights were set since it started.
        if let r, generation == routerGeneration, state.phase == .rolling, state.pending == nil {
            switch r {
            case let .success(back?):
                if state.routerProblem != nil { record(.routerRecovered(provider: router.name), at: t) }
                if Set(back) == Set(state.wanted) {
                    if Set(state.observed) != Set(back) { record(.trafficObserved(weights: back), at: t) } else { record(.trafficConfirmed, at: t) }
                } else if state.drift.map({ Set($0.observed) != Set(back) }) ?? true {
                    noteDrift(back, at: t, when: nil)
                } else {
                    record(.trafficConfirmed, at: t)
                }
            case .success(nil): break
            case let .failure(f): noteReadFailure(f, at: t)
            }
        }
        if let m, let metrics {
            switch m {
            case let .success(samples):
                if let bad = samples.lazy.compactMap(MetricsSample.problem).first {
                    // Negative, NaN, infinite or absurd: named, never a sample.
                    if state.metricsProblem != bad { record(.metricsUnavailable(provider: metrics.providerName, error: bad), at: t) }
                } else {
                    if state.metricsProblem != nil { record(.metricsRecovered(provider: metrics.providerName), at: t) }
                    for s in samples { record(.metricsSample(s), at: t) }
                }
            case let .failure(f):
                // No sample, and said so: never taken as zero errors.
                if state.metricsProblem != f.message { record(.metricsUnavailable(provider: metrics.providerName, error: f.message), at: t) }
            }
        }
        await judgeNow(t)
    }

    /// The router reports weights the log does not explain: record both, and hold the rollout.
    private func noteDrift(_ back: [VersionWeight], at t: Timestamp, when: String?) {
        let wanted = state.wanted
        record(.trafficDrifted(wanted: wanted, observed: back), at: t)
        if state.paused == nil {
            let whenText = when.map { " \($0)" } ?? ""
            record(.deployPaused(by: "engine", reason: "weights changed outside friday\(whenText): \(router.name) reports \(weightsText(back)), friday set \(weightsText(wanted)); resume puts them back, r reverts"), at: t)
        }
    }

    private func noteReadFailure(_ error: any Error, at t: Timestamp) {
        let text = "\(router.name): \(error)"
        if state.routerProblem != text { record(.routerUnreachable(provider: router.name, error: "\(error)"), at: t) }
    }

    /// Records a verdict when it changes (pass or fail; "still sampling" is not news) and
    /// acts on a failure. The canary is judged whenever it takes traffic: paused, held or
    /// waiting for a human, a failing canary is reverted like any other.
    private func judgeNow(_ t: Timestamp) async {
        guard let judge, state.phase == .rolling, state.pending == nil, let step = state.stepIndex else { return }
        if state.plan.isBenchmark, let b = Benchmark.evaluate(state) {
            // Said when the conclusion changes; the screen shows the live figures.
            let key = b.conclusion
            if benchmarkSaid?.step != step || benchmarkSaid?.key != key {
                benchmarkSaid = (step, key)
                record(.analysisVerdict(step: step, verdict: b.verdict, summary: b.summary, figures: b.figures), at: t)
            }
        }
        if state.isMultiway {
            for (v, r) in judge.evaluateCandidates(state, now: t) where r.verdict != .inconclusive {
                if let j = candidateJudged[v], j.step == step, j.verdict == r.verdict { continue }
                await judgedCandidate(v, r, step: step, judge: judge, at: t)
                if state.pending != nil || state.isFinished || state.phase != .rolling { return }
            }
            return
        }
        guard let result = judge.evaluate(state, now: t) else { return }
        if result.verdict == .inconclusive { return }
        // Benchmark mode: the report is the verdict; only a failure is news.
        if state.plan.isBenchmark, result.verdict != .fail { return }
        if let j = judged, j.step == step, j.verdict == result.verdict { return }
        judged = (step, result.verdict)
        record(.analysisVerdict(step: step, verdict: result.verdict, summary: result.summary, figures: result.figures), at: t)
        await act(on: result, judge: judge, at: t)
    }

    /// Records a step-end verdict once and acts on it.
    private func judged(_ result: CanaryJudge.Result, step: Int, judge: CanaryJudge, at t: Timestamp) async {
        if judged?.step != step || judged?.verdict != result.verdict {
            judged = (step, result.verdict)
            record(.analysisVerdict(step: step, verdict: result.verdict, summary: result.summary, figures: result.figures), at: t)
        }
        await act(on: result, judge: judge, at: t)
    }

    /// Records one candidate's verdict once and acts on it: a failing candidate is taken out
    /// alone while another is still in rotation, else the deploy is reverted.
    private func judgedCandidate(_ version: String, _ result: CanaryJudge.Result, step: Int, judge: CanaryJudge, at t: Timestamp) async {
        if candidateJudged[version]?.step != step || candidateJudged[version]?.verdict != result.verdict {
            candidateJudged[version] = (step, result.verdict)
            record(.candidateVerdict(version: version, step: step, verdict: result.verdict, summary: result.summary, figures: result.figures), at: t)
        }
        if result.verdict == .fail, judge.onFail == .revert {
            if state.liveCandidates.count > 1, state.liveCandidates.contains(where: { $0.name == version }) {
                await execute([.revertCandidate(version: version, by: "judge", reason: result.summary)], at: t)
            } else {
                await execute([.revert(by: "judge", reason: result.summary)], at: t)
            }
            return
        }
        await act(on: result, judge: judge, at: t)
    }

    /// The current step's recorded fail verdicts that nothing has acted on yet, acted on as
    /// the judge would have: revert (or take the candidate out). Returns whether traffic was
    /// moved. With `on_fail = "pause"` a pause is not re-made here: the log cannot tell a
    /// pause lost in the crash from a person's resume after it, and a person's resume stands.
    private func actOnRecordedFail(at t: Timestamp) async -> Bool {
        guard let judge, judge.onFail == .revert, case .rolling = state.phase, !state.isReverting, let step = state.stepIndex else { return false }
        if state.isMultiway {
            let out = Set(state.candidatesOut ?? [])
            let failed = (state.candidateJudgements ?? [:]).filter { $0.value.step == step && $0.value.verdict == .fail && !out.contains($0.key) }
            guard let (version, j) = failed.sorted(by: { $0.key < $1.key }).first else { return false }
            candidateJudged[version] = (step, .fail)
            await judgedCandidate(version, CanaryJudge.Result(verdict: .fail, summary: j.summary, statistic: 0, figures: j.figures),
                                  step: step, judge: judge, at: t)
            return true
        }
        guard let j = state.judgement, j.step == step, j.verdict == .fail else { return false }
        judged = (step, .fail)
        await act(on: CanaryJudge.Result(verdict: .fail, summary: j.summary, statistic: 0, figures: j.figures), judge: judge, at: t)
        return true
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
            if fatal != nil { return }
            switch intent {
            case let .emit(p):
                record(p, at: t)
            case let .fail(reason):
                record(.deployFinished(outcome: .failed, by: "pipeline", reason: reason), at: t)
            case let .startStep(i):
                // A revert is terminal: no step sends traffic to the new version again.
                guard i >= 0, i < state.plan.steps.count, !state.isReverting else { continue }
                let step = state.plan.steps[i]
                let wanted = RolloutLogic.weights(in: state, step: i)
                let what = state.isMultiway ? weightsText(wanted) : "\(step.weight)%"
                guard await applyWeights(wanted, cause: .step(index: i), at: t, purpose: "step \(i + 1) (\(what))") else { return }
                guard !state.isReverting, state.pending == .step(index: i) else { return }
                judged = nil
                candidateJudged = [:]
                benchmarkSaid = nil
                record(.stepStarted(index: i, weight: step.weight, pause: step.pause), at: t)
                if i == state.plan.steps.count - 1, step.weight == 100 {
                    record(.deployFinished(outcome: .promoted, by: "rollout", reason: nil), at: t)
                }
            case let .revert(by, reason):
                guard !state.isFinished else { continue }
                let wanted = RolloutLogic.weights(in: state, newPercent: 0)
                guard await applyWeights(wanted, cause: .revert(by: by, reason: reason), at: t, purpose: "the revert") else { return }
                record(.deployFinished(outcome: .reverted, by: by, reason: reason), at: t)
            case let .revertCandidate(v, by, reason):
                guard !state.isFinished, state.isMultiway, state.isCandidate(v) else { continue }
                let wanted = RolloutLogic.weights(in: state, without: v)
                guard await applyWeights(wanted, cause: .revertCandidate(version: v, by: by, reason: reason), at: t, purpose: "taking \(v) out") else { return }
                record(.candidateReverted(version: v, by: by, reason: reason), at: t)
                // Held only because the router had not confirmed this move (not drift, not a
                // person): the move is done, so the hold ends with it, as a step's start ends it.
                if let p = state.paused, p.by == "engine", state.drift == nil { record(.deployResumed(by: "engine"), at: t) }
            case .restore:
                guard !state.isFinished, !state.wanted.isEmpty else { continue }
                _ = await applyWeights(state.wanted, cause: .restore, at: t, purpose: "putting the logged weights back")
            }
        }
    }

    /// Sets weights and confirms them; on failure records why and pauses the rollout.
    /// The intended weights and their cause are on disk before the router is touched; a
    /// retry of the same move adds no line.
    private func applyWeights(_ wanted: [VersionWeight], cause: TrafficCause, at t: Timestamp, purpose: String) async -> Bool {
        let revert: Bool = {
            switch cause {
            case .revert, .revertCandidate: return true
            default: return false
            }
        }()
        if Set(wanted) != Set(state.wanted) || (cause != .restore && state.pending != cause) {
            record(.trafficSet(weights: wanted, cause: cause), at: t)
        }
        if fatal != nil { return false }
        routerGeneration += 1
        let router = self.router
        let call = Task { try await router.setWeights(wanted) }
        routerCall = call
        routerCallCause = cause
        defer { routerCall = nil; routerCallCause = nil }
        do {
            let back = try await call.value
            if call.isCancelled, !revert { return false }
            let hadProblem = state.routerProblem != nil
            record(.trafficObserved(weights: back), at: t)
            if hadProblem { record(.routerRecovered(provider: router.name), at: t) }
            if Set(back) != Set(wanted) {
                if state.paused == nil { record(.deployPaused(by: "engine", reason: "router \(router.name) reports \(weightsText(back)) after \(purpose)"), at: t) }
                return false
            }
            return true
        } catch {
            if call.isCancelled, !revert { return false } // a revert or pause took over; it says so itself
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

    /// Assigns the next sequence number, folds the event in, writes it, and publishes it
    /// once it is on disk: durable events at once, batched ones (samples, stage output) at
    /// the end of the operation, after one sync. Nobody sees an event the log could lose.
    @discardableResult
    private func record(_ payload: EventPayload, at time: Timestamp) -> DeployEvent {
        // To the millisecond the log keeps, so the state in memory is the state read back.
        let t = Timestamp(seconds: (time.seconds * 1000).rounded() / 1000)
        let event = DeployEvent(seq: nextSeq, ts: t, deploy: deployID, payload: payload)
        guard fatal == nil else { return event }
        // Folded in place (a copy would cost a copy of every buffer per event).
        Reducer.reduce(&state, event)
        nextSeq += 1
        held.append(event)
        if let log {
            // On disk before anyone hears of it; a log that cannot be written stops the engine
            // and nothing more is published or acknowledged.
            do { try log.append(event, state: state) } catch {
                stop(error.description)
                return event
            }
            if EventLog.isDurable(event) { publishHeld(synced: true) }
        } else {
            publishHeld(synced: true)
        }
        return event
    }

    /// Publishes what was recorded, syncing batched lines first.
    private func publishHeld(synced: Bool = false) {
        guard !held.isEmpty, fatal == nil else { return }
        if !synced, let log {
            do { try log.flush(sync: true) } catch {
                stop(error.description)
                return
            }
        }
        let events = held
        held.removeAll(keepingCapacity: true)
        if let last = events.last { publishedUpTo = last.seq }
        for event in events {
            for sink in sinks { sink(event) }
            for c in subscribers.values {
                if case .dropped = c.yield(event) { droppedDeliveries += 1 }
            }
        }
    }

    private func stop(_ message: String) {
        fatal = message
        held.removeAll()
        onFatal?(message)
    }
}

/// Why a fetch off the loop failed, as text for the log.
struct FetchFailure: Error, Sendable, Equatable { var message: String }

extension MetricsSample {
    /// Why a sample from outside cannot be used (negative, NaN, infinite, absurd), naming the value.
    public static func problem(_ s: MetricsSample) -> String? {
        if !InputRange.countPerWindow.contains(s.requests) { return "\(s.version): \(s.requests) requests in one window is out of range (0–1e9)" }
        if !InputRange.countPerWindow.contains(s.errors) || s.errors > s.requests { return "\(s.version): \(s.errors) errors for \(s.requests) requests is out of range" }
        if !s.p50.isFinite || !InputRange.latencyMs.contains(s.p50) { return "\(s.version): p50 \(s.p50) ms is out of range (0–3600000)" }
        if !s.p99.isFinite || !InputRange.latencyMs.contains(s.p99) { return "\(s.version): p99 \(s.p99) ms is out of range (0–3600000)" }
        if !s.window.isFinite || !InputRange.window.contains(s.window) { return "\(s.version): window \(s.window) s is out of range" }
        if let slow = s.slow, slow < 0 || slow > s.requests { return "\(s.version): \(slow) slow requests for \(s.requests) requests is out of range" }
        return nil
    }
}


/// Why an event from outside was not recorded.
public struct IngestRefusal: Error, Sendable, Equatable {
    public var reason: String
    public init(_ reason: String) { self.reason = reason }
}

/// One refusal of a batch, by the index of what was refused.
public struct IndexedRefusal: Sendable, Equatable {
    public var index: Int
    public var refusal: IngestRefusal
    public init(index: Int, refusal: IngestRefusal) { self.index = index; self.refusal = refusal }
}
