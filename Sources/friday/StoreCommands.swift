import ArgumentParser
import Foundation
import FridayCore
import FridayEngine
import FridayServe
import FridayStore

/// The store's address for a command: `--store`, else `$FRIDAY_STORE`, else the user
/// config's `[store] url`.
func storeAddress(_ option: String?, required: Bool = true) throws -> StoreAddress? {
    let env = ProcessInfo.processInfo.environment
    guard let text = option ?? env["FRIDAY_STORE"].flatMap({ $0.isEmpty ? nil : $0 }) else {
        if let configured = try UserSettings.storeAddress() { return configured }
        if required { throw ExitWith(message: "no store given: pass --store postgres://USER@HOST:PORT/DATABASE, set FRIDAY_STORE, or put [store] url = … in \(TerminalText.neutralise(UserSettings.path()))") }
        return nil
    }
    do { return try StoreAddress(parsing: text, environment: env) } catch {
        throw ExitWith(message: "--store: \(error.message)")
    }
}

/// A store error as the message a person sees; other errors as they are.
func storeFailure(_ error: any Error) -> any Error {
    if let e = error as? StoreError { return ExitWith(message: e.message) }
    return error
}

/// This machine's name, for who holds a lock and which host an engine runs on.
func hostName() -> String {
    var bytes = [CChar](repeating: 0, count: 256)
    gethostname(&bytes, 255)
    let name = String(decoding: bytes.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    return name.isEmpty ? "localhost" : name
}

/// Who is typing, for a lock taken or broken by hand.
func userName() -> String {
    let env = ProcessInfo.processInfo.environment
    return env["FRIDAY_NAME"].flatMap { $0.isEmpty ? nil : $0 } ?? osUserName()
}

/// The person running this command, as the system knows them: `$USER`, else `$LOGNAME`, else
/// the account of this process's user id (`getpwuid`: containers, cron and CI often set
/// neither variable), else `uid-N`. Never "you": an action's author in the permanent record
/// is a person or an account, not the screen's word for whoever reads it.
func osUserName() -> String {
    let env = ProcessInfo.processInfo.environment
    for key in ["USER", "LOGNAME"] { if let v = env[key], !v.isEmpty { return v } }
    if let pw = getpwuid(getuid()), let name = pw.pointee.pw_name {
        let s = String(cString: name)
        if !s.isEmpty { return s }
    }
    return "uid-\(getuid())"
}

/// `friday store migrate|status`.
struct StoreCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "store",
        abstract: "The shared PostgreSQL history: migrate its schema, or show what it holds.",
        subcommands: [StoreMigrate.self, StoreStatus.self, StorePush.self])
}

struct StoreMigrate: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "migrate", abstract: "Bring the store's schema to this friday's version (safe to run again, and from two machines at once).")
    @Option(help: "postgres://USER@HOST:PORT/DATABASE (default: $FRIDAY_STORE; the password may come from $PGPASSWORD).") var store: String?

    func run() async throws {
        try await withStore(try storeAddress(self.store)!) { store in
            let before = try await store.version()
            let applied = try await store.migrate()
            if applied.isEmpty {
                Plain.out("\(store.address.redacted): schema version \(before), up to date")
            } else {
                for a in applied { Plain.out("\(store.address.redacted): applied migration \(a.version) (\(a.what))") }
                Plain.out("schema version \(before) → \(Store.schemaVersion)")
            }
        }
    }
}

struct StoreStatus: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "status", abstract: "The store's schema version, its deploys and the locks held.")
    @Option(help: "postgres://USER@HOST:PORT/DATABASE (default: $FRIDAY_STORE).") var store: String?

    func run() async throws {
        try await withStore(try storeAddress(self.store)!) { store in
            try await store.checkSchema()
            let rows = try await store.summaries()
            let locks = try await store.locks()
            Plain.out("\(store.address.redacted): schema version \(Store.schemaVersion), \(rows.count) deploy\(rows.count == 1 ? "" : "s"), \(locks.count) lock\(locks.count == 1 ? "" : "s") held")
            for r in rows { Plain.out("  \(r.deploy)  \(r.service) on \(r.host)  \(r.state)  seq \(r.lastSeq)") }
            for l in locks { Plain.out("  " + l.sentence) }
        }
    }
}

/// `friday store push LOG…`: copies what the store lacks of finished or stopped deploys'
/// logs (an engine that ended while the store was down; logs from before the store).
struct StorePush: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "push", abstract: "Copy to the store what it lacks of these event logs (idempotent: nothing is written twice).")
    @Argument(help: "Event logs.", completion: .file(extensions: ["jsonl"])) var logs: [String]
    @Option(help: "postgres://USER@HOST:PORT/DATABASE (default: $FRIDAY_STORE).") var store: String?

    func run() async throws {
        let address = try storeAddress(self.store)!
        try await withStore(address) { store in
            try await store.checkSchema()
            for path in logs {
                guard let pushed = try await pushLog(path, to: store) else { Plain.err("friday store push: \(TerminalText.neutralise(path)): no events"); continue }
                Plain.out("\(TerminalText.neutralise(path)): deploy \(TerminalText.neutralise(pushed.deploy)): \(pushed.copied) event(s) copied, \(pushed.stored) stored"
                          + (pushed.unlocked ? "; its lock on \(TerminalText.neutralise(pushed.service)) given back (the deploy is over)" : ""))
            }
        }
    }
}

/// Copies what the store lacks of a log no engine is writing (nil: the log has no events);
/// a finished deploy's lock is given back, as its engine would have done had the store
/// answered when it stopped.
func pushLog(_ path: String, to store: Store) async throws -> (deploy: String, service: String, copied: Int, stored: Int, unlocked: Bool)? {
    // A log an engine is writing is copied by that engine, from what it has synced;
    // read here it could hand the store a line a crash would take back. The shared
    // lock is held for the whole push, so no engine starts on this log meanwhile.
    let held = open(path, O_RDONLY | O_CLOEXEC)
    guard held >= 0 else { throw ExitWith(message: "\(TerminalText.neutralise(path)): cannot open: \(String(cString: strerror(errno)))") }
    defer { close(held) }
    if flock(held, LOCK_SH | LOCK_NB) != 0 {
        throw ExitWith(message: "\(TerminalText.neutralise(path)): an engine is running this deploy and copies its log to the store itself; push is for logs no engine is writing")
    }
    let events: [DeployEvent]
    do throws(LogError) { events = try EventLog.readEvents(path: path).events } catch { throw ExitWith(message: error.description) }
    guard let last = events.last else { return nil }
    let before = try await store.storedUpTo(last.deploy)
    let problem = Locked<String?>(nil)
    let outbox = StoreOutbox(store: store, logPath: path, deploy: last.deploy, host: hostName(), report: { m in problem.withLock { $0 = $0 ?? m } })
    outbox.published(upTo: last.seq)
    // Cancelled from the start: it ships up to what was published, then ends.
    let ship = Task { await outbox.run() }
    ship.cancel()
    await ship.value
    guard outbox.storedUpTo == last.seq else {
        throw ExitWith(message: "\(TerminalText.neutralise(path)): \(TerminalText.neutralise(problem.value ?? "the store did not take every event"))")
    }
    var state = DeployState()
    for e in events { Reducer.reduce(&state, e) }
    var unlocked = false
    if state.isFinished, !state.service.isEmpty {
        unlocked = (try? await store.unlock(service: state.service, deploy: state.deployID, who: "friday", host: hostName(),
                                            reason: "deploy \(state.outcome?.rawValue ?? "ended"); its engine stopped while the store was down")) != nil
    }
    return (last.deploy, state.service, last.seq - before, last.seq + 1, unlocked)
}

/// `friday lock SERVICE --reason …`: holds a service's deploys by hand (a freeze); with no
/// service, lists the locks held.
struct LockCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "lock", abstract: "Lock a service's deploys by hand (a freeze), or list the locks held.")
    @Argument(help: "The service (as in deploy.service).") var service: String?
    @Option(help: "Why (shown to whoever is refused).") var reason: String?
    @Option(help: "postgres://USER@HOST:PORT/DATABASE (default: $FRIDAY_STORE).") var store: String?

    func run() async throws {
        try await withStore(try storeAddress(self.store)!) { store in
            try await store.checkSchema()
            guard let service else {
                let locks = try await store.locks()
                Plain.out(locks.isEmpty ? "no deploy locks held" : locks.map(\.sentence).joined(separator: "\n"))
                return
            }
            guard let reason, !reason.trimmingCharacters(in: .whitespaces).isEmpty else { throw ExitWith(message: "say why with --reason: it is shown to whoever is refused") }
            if let held = try await store.lock(service: service, deploy: nil, holder: userName(), host: hostName(), versions: "", reason: reason) {
                throw ExitWith(message: "not locked: \(held.sentence)")
            }
            Plain.out("\(service) is locked: deploys of it are refused until friday unlock \(service) --reason …")
        }
    }
}

struct UnlockCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "unlock", abstract: "Release a service's deploy lock (taken by hand, or held by a deploy whose engine is gone).")
    @Argument(help: "The service.") var service: String
    @Option(help: "Why (kept in the store's lock log).") var reason: String
    @Option(help: "postgres://USER@HOST:PORT/DATABASE (default: $FRIDAY_STORE).") var store: String?

    func validate() throws {
        guard !reason.trimmingCharacters(in: .whitespaces).isEmpty else { throw ValidationError("--reason must say why") }
    }

    func run() async throws {
        try await withStore(try storeAddress(self.store)!) { store in
            try await store.checkSchema()
            guard let held = try await store.unlock(service: service, deploy: nil, who: userName(), host: hostName(), reason: reason) else {
                throw ExitWith(message: "\(service) is not locked")
            }
            Plain.out("released: \(held.sentence)")
            if held.deploy != nil { Plain.out("  if that deploy's engine still runs, it is not stopped by this: friday stop \(held.deploy!)") }
        }
    }
}

/// Opens the store for one command: `body` runs with it, its pool is closed whatever
/// happens, and a store error becomes the message a person sees.
func withStore<T>(_ address: StoreAddress, _ body: (Store) async throws -> T) async throws -> T {
    let store = Store(address)
    let value: T
    do { value = try await body(store) } catch {
        await store.close()
        throw storeFailure(error)
    }
    await store.close()
    return value
}

/// A deploy's events from the store, in order; a line that does not read is an error naming it.
func storedEvents(of deploy: String, store address: StoreAddress) async throws -> [DeployEvent] {
    try await withStore(address) { store in
        try await store.checkSchema()
        return try await storedEvents(of: deploy, in: store)
    }
}

func storedEvents(of deploy: String, in store: Store) async throws -> [DeployEvent] {
    let lines = try await store.lines(of: deploy)
    guard !lines.isEmpty else { throw ExitWith(message: "the store \(store.address.redacted) holds no deploy \(TerminalText.neutralise(deploy))") }
    return try lines.map { l in
        do { return try EventLog.event(fromLine: Array(l.line.utf8)) } catch {
            throw ExitWith(message: "deploy \(TerminalText.neutralise(deploy)) seq \(l.seq) in the store cannot be read: \(error): \(TerminalText.neutralise(String(l.line.prefix(200))))")
        }
    }
}

/// Every deploy's events from the store, over one pool (each read with its own deadline).
func allStoredEvents(store address: StoreAddress) async throws -> [(deploy: String, events: [DeployEvent])] {
    try await withStore(address) { store in
        try await store.checkSchema()
        var out: [(deploy: String, events: [DeployEvent])] = []
        for id in try await store.deployIDs() { out.append((id, try await storedEvents(of: id, in: store))) }
        return out
    }
}
