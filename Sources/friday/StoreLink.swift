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
    private let tasks = Mutex<[Task<Void, Never>]>([])

    private init(store: Store, outbox: StoreOutbox, service: String, deploy: String) {
        self.store = store; self.outbox = outbox; self.service = service; self.deploy = deploy
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
            if let held = try await store.lock(service: cfg.service, deploy: cfg.id, holder: cfg.by ?? userName(), host: host, versions: versions, reason: nil) {
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
        return StoreLink(store: store, outbox: outbox, service: cfg.service, deploy: cfg.id)
    }

    /// Starts copying `engine`'s events.
    func start(_ engine: Engine) {
        let outbox = self.outbox
        let follow = Task { await outbox.follow(engine) }
        let ship = Task { await outbox.run() }
        tasks.withLock { $0 = [follow, ship] }
    }

    /// Stops copying once what was published is stored (or after `seconds`, or at once if the
    /// store is down: the log keeps it); a finished deploy's lock is released.
    func stop(finished: DeployState?, seconds: Double = 5) async {
        let ts = tasks.withLock { t -> [Task<Void, Never>] in defer { t = [] }; return t }
        for t in ts { t.cancel() }
        if let ship = ts.last {
            let deadline = Task { try? await Task.sleep(for: .milliseconds(Int(seconds * 1000))) }
            await withTaskGroup(of: Void.self) { g in
                g.addTask { await ship.value }
                g.addTask { await deadline.value }
                _ = await g.next()
                g.cancelAll()
                deadline.cancel()
            }
        }
        if let s = finished, s.isFinished {
            _ = try? await store.unlock(service: service, deploy: deploy, who: "friday", host: hostName(), reason: "deploy \(s.outcome?.rawValue ?? "ended"), engine stopped")
        }
        await store.close()
    }
}
