import Foundation
import FridayCore
import FridayEngine
import FridayIntegrations
import FridayStore
import Synchronization

/// An engine's tie to the shared store: the service's deploy lock, taken before anything
/// moves, and the outbox that copies the log there.
final class StoreLink: Sendable {
    let store: Store
    let outbox: StoreOutbox
    let service: String
    let deploy: String
    let resumed: Bool
    let report: @Sendable (String) -> Void
    private struct Running { let engine: Engine; let follow: Task<Void, Never>; let ship: Task<Void, Never> }
    private let running = Mutex<Running?>(nil)

    private init(store: Store, outbox: StoreOutbox, service: String, deploy: String, resumed: Bool, report: @escaping @Sendable (String) -> Void) {
        self.store = store; self.outbox = outbox; self.service = service; self.deploy = deploy
        self.resumed = resumed; self.report = report
    }

    /// Takes the lock. A new deploy does not start without it (held elsewhere, or the store
    /// not answering); a deploy already under way goes on without it, said on stderr, since
    /// stopping its engine would leave its traffic split with nobody to revert it.
    static func open(_ cfg: DeployConfig, address: StoreAddress, resumed: Bool, logPath: String,
                     report: @escaping @Sendable (String) -> Void) async throws -> StoreLink {
        let store = Store(address)
        let host = hostName()
        let versions = "\(cfg.from.name) → \(cfg.to.name)"
        do {
            try await store.checkSchema()
            // A new deploy whose id the store already has would write its events into that
            // deploy's history (and re-enter its lock): refused.
            if !resumed, try await store.storedUpTo(cfg.id) >= 0 {
                await store.close()
                throw ExitWith(message: "not started: the store \(address.redacted) already holds deploy \(cfg.id) (run from another log or machine): give this deploy its own id (deploy.id), or resume it from its own log")
            }
            var held = try await store.lock(service: cfg.service, deploy: cfg.id, holder: cfg.by ?? userName(), host: host, versions: versions, reason: nil)
            // Held by a deploy of this machine that is over (its engine stopped while the
            // store was down, so the lock was never given back): its log is copied, its lock
            // given back, and this start takes the lock. Before, the service stayed locked.
            if let h = held, let other = h.deploy, other != cfg.id, h.host == host,
               let pushed = try? await StoreLink.finishLeftover(deploy: other, store: store) {
                report("the lock of \(TerminalText.neutralise(cfg.service)) was left by deploy \(TerminalText.neutralise(other)), which ended here while the store was down: "
                       + "\(pushed.copied) missing event(s) copied, its lock given back")
                held = try await store.lock(service: cfg.service, deploy: cfg.id, holder: cfg.by ?? userName(), host: host, versions: versions, reason: nil)
            }
            if let held {
                guard resumed else {
                    await store.close()
                    throw ExitWith(message: "not started: \(held.sentence). Wait for it to finish, or if it is stale: friday unlock \(cfg.service) --reason …")
                }
                report("warning: \(held.sentence); this deploy was already under way here and goes on")
            }
        } catch {
            guard let e = error as? StoreError else { throw error }
            guard resumed else {
                await store.close()
                throw ExitWith(message: "not started: \(e.message). With [store], a deploy takes its service's lock there before it moves any traffic")
            }
            report("warning: \(e.message); this deploy was already under way and goes on, its lock not checked")
        }
        let outbox = StoreOutbox(store: store, logPath: logPath, deploy: cfg.id, host: host, report: report, onFinished: { s in
            // Promoted or failed: nothing left to retry, the service is free.
            _ = try? await store.unlock(service: s.service, deploy: s.deployID, who: "friday", host: host, reason: "deploy \(s.outcome?.rawValue ?? "ended")")
        })
        return StoreLink(store: store, outbox: outbox, service: cfg.service, deploy: cfg.id, resumed: resumed, report: report)
    }

    /// A deploy of this machine whose local log says it is over, copied to the store and its
    /// lock given back; nil when its log is not here, is being written, or says it is not over.
    static func finishLeftover(deploy: String, store: Store) async throws -> (copied: Int, stored: Int)? {
        let path = defaultLogPath(forID: deploy)
        guard FileManager.default.fileExists(atPath: path) else { return nil }
        // (Reading the whole log: a finished deploy's log is read once, at a start that needs it.)
        guard let events = try? EventLog.readEvents(path: path).events else { return nil }
        var state = DeployState()
        for e in events { Reducer.reduce(&state, e) }
        guard state.isFinished, let pushed = try await pushLog(path, to: store), pushed.unlocked else { return nil }
        return (pushed.copied, pushed.stored)
    }

    /// Starts copying `engine`'s events.
    func start(_ engine: Engine) {
        let outbox = self.outbox
        let follow = Task { await outbox.follow(engine) }
        let ship = Task { await outbox.run() }
        running.withLock { $0 = Running(engine: engine, follow: follow, ship: ship) }
    }

    /// Stops copying once what was published is stored, or once the store fails (a refused
    /// connection ends it at once; one that never answers, after `seconds`): the log keeps
    /// what is not copied. A finished deploy's lock is released.
    func stop(finished: DeployState?, seconds: Double = 5) async {
        let r = running.withLock { r -> Running? in defer { r = nil }; return r }
        if let r {
            // The engine's own high-water mark, not the subscription's: the last events may
            // not have reached the follower yet, and the copy must not stop short of them.
            let last = await r.engine.snapshot().lastSeq
            outbox.published(upTo: last)
            r.follow.cancel()
            r.ship.cancel()
            let caughtUp = await StoreLink.waitFor(r.ship, seconds: seconds)
            if !caughtUp || (outbox.storedUpTo ?? -1) < last {
                let behind = last - (outbox.storedUpTo ?? -1)
                report("the store is \(behind) event(s) behind this log (\(outbox.outage ?? "not caught up within \(format1(seconds)) s")); the log keeps them, and the next start or friday store push copies them")
            }
        }
        if let s = finished, s.isFinished {
            _ = try? await store.unlock(service: service, deploy: deploy, who: "friday", host: hostName(), reason: "deploy \(s.outcome?.rawValue ?? "ended"), engine stopped")
        }
        await store.close()
    }

    /// The deploy did not start after all (its engine could not listen): the lock this start
    /// took is given back. A resumed deploy keeps its lock, since its traffic is still split.
    func abandon(why: String) async {
        let r = running.withLock { r -> Running? in defer { r = nil }; return r }
        r?.follow.cancel()
        r?.ship.cancel()
        if !resumed {
            _ = try? await store.unlock(service: service, deploy: deploy, who: "friday", host: hostName(), reason: "not started: \(why)")
        }
        await store.close()
    }

    /// True when `task` ended within `seconds`; false when the time ran out first (the task
    /// goes on by itself: awaiting an unstructured task's value cannot be cancelled).
    static func waitFor(_ task: Task<Void, Never>, seconds: Double) async -> Bool {
        await withDeadline(.milliseconds(Int(seconds * 1000))) { await task.value } != nil
    }
}
