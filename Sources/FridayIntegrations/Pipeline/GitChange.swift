import Foundation
import FridayCore
import FridayEngine
import Synchronization

/// Tells the team what a deploy ships: once the deploy has started, lists `from..to` with
/// `git log` (a subprocess with NUL-separated fields, never `.git` parsed by hand) and
/// records `change.listed`: at most 20 commits (short hash, author, subject), the total,
/// and whether it is a big change. git runs on a Dispatch queue, never on the cooperative
/// pool, and is stopped after `timeout` seconds.
public final class GitChange: EventSource, Sendable {
    public static let listed = 20
    let repo: String
    let from: String
    let to: String
    let bigOver: Int
    let timeout: Double
    let web: String?
    private let asked = Locked(false)

    public init(repo: String, from: String, to: String, bigOver: Int, timeout: Double = 10, web: String? = nil) {
        self.repo = repo; self.from = from; self.to = to; self.bigOver = bigOver; self.timeout = timeout; self.web = web
    }

    public func poll(at time: Timestamp, state: DeployState) async -> [SourceOutput] {
        // Once per deploy: a resumed deploy whose log has the list does not ask again.
        guard state.phase != .idle, state.change == nil, !asked.swap(true) else { return [] }
        return [.event(await list())]
    }

    /// The `change.listed` event for the range.
    public func list() async -> EventPayload {
        let range = "\(from)..\(to)"
        for c in [from, to] where !GitChange.isRevision(c) {
            return .changeListed(range: range, total: 0, commits: [], big: false, error: "\"\(TerminalText.neutralise(String(c.prefix(60))))\" is not a commit id or tag friday passes to git")
        }
        let result = await GitChange.git(["-C", repo, "log", "--no-color", "--format=%h%x00%H%x00%an%x00%s%x1e", range, "--"], timeout: timeout)
        switch result {
        case let .failure(why):
            return .changeListed(range: range, total: 0, commits: [], big: false, error: why.description)
        case let .success(out):
            let records = out.split(separator: "\u{1e}", omittingEmptySubsequences: true)
                .map { $0.trimmingCharacters(in: .newlines) }.filter { !$0.isEmpty }
            let commits = records.prefix(GitChange.listed).map { GitChange.commit($0, web: web) }
            return .changeListed(range: "\(from.prefix(12))..\(to.prefix(12))", total: records.count, commits: Array(commits), big: records.count > bigOver, error: nil)
        }
    }

    /// One `%h NUL %H NUL %an NUL %s` record as a commit, linked under `web` if given.
    static func commit(_ record: String, web: String?) -> ChangeCommit {
        let f = record.split(separator: "\u{0}", maxSplits: 3, omittingEmptySubsequences: false).map(String.init)
        let full = f.count > 1 ? f[1] : ""
        return ChangeCommit(hash: f.first ?? "", author: f.count > 2 ? f[2] : "", subject: f.count > 3 ? String(f[3].prefix(300)) : "",
                            url: web.flatMap { w in full.isEmpty ? nil : GitSettings.link(w, hash: full) })
    }

    /// A commit id, a tag or a branch name: letters, digits, `._/-`, not starting with `-`.
    static func isRevision(_ s: String) -> Bool {
        !s.isEmpty && s.count <= 200 && !s.hasPrefix("-") && !s.contains("..")
            && s.unicodeScalars.allSatisfy { $0.isASCII && ($0.properties.isAlphabetic || $0.properties.numericType != nil || "._/-".unicodeScalars.contains($0)) }
    }

    /// Runs git with `args`; its standard output, or why not (the first line git said).
    static func git(_ args: [String], timeout: Double) async -> Result<String, GitFailure> {
        do {
            return try await Blocking.run { _ in
                let p = Process()
                p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
                p.arguments = ["git"] + args
                var env = ProcessInfo.processInfo.environment
                // Started from a git hook or script, friday must not inherit where git looks:
                // -C names the repository, nothing else may.
                for k in ["GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE", "GIT_OBJECT_DIRECTORY", "GIT_ALTERNATE_OBJECT_DIRECTORIES",
                          "GIT_NAMESPACE", "GIT_COMMON_DIR", "GIT_PREFIX", "GIT_CONFIG", "GIT_CONFIG_PARAMETERS", "GIT_CONFIG_COUNT"] {
                    env.removeValue(forKey: k)
                }
                env["GIT_TERMINAL_PROMPT"] = "0"
                env["GIT_PAGER"] = "cat"
                env["LC_ALL"] = "C"
                p.environment = env
                let out = Pipe(), err = Pipe()
                p.standardOutput = out
                p.standardError = err
                p.standardInput = FileHandle.nullDevice
                do { try p.run() } catch { return .failure(GitFailure("git could not be started: \(error)")) }
                let killer = DispatchWorkItem { if p.isRunning { p.terminate() } }
                DispatchQueue.global().asyncAfter(deadline: .now() + timeout, execute: killer)
                let errBox = Locked(Data())
                // A semaphore, not `Thread.isExecuting`: a thread not yet started is not executing either,
                // and git's message was lost when git failed before the reader ran (CI saw "exit status 128").
                let errRead = DispatchSemaphore(value: 0)
                let errReader = Thread { let d = err.fileHandleForReading.readDataToEndOfFile(); errBox.withLock { $0 = d }; errRead.signal() }
                errReader.start()
                let data = out.fileHandleForReading.readDataToEndOfFile()
                p.waitUntilExit()
                killer.cancel()
                errRead.wait()
                guard p.terminationStatus == 0 else {
                    let said = String(decoding: errBox.value.prefix(2000), as: UTF8.self).split(separator: "\n").first.map(String.init) ?? "exit status \(p.terminationStatus)"
                    return .failure(GitFailure(TerminalText.neutralise(said)))
                }
                return .success(String(decoding: data.prefix(8 << 20), as: UTF8.self))
            }
        } catch {
            return .failure(GitFailure("\(error)"))
        }
    }
}

public struct GitFailure: Error, CustomStringConvertible, Sendable {
    public var description: String
    init(_ d: String) { description = d }
}

/// A value behind a lock, shared by closures and tasks.
final class Locked<Value: Sendable>: Sendable {
    private let mutex: Synchronization.Mutex<Value>
    init(_ value: Value) { mutex = Synchronization.Mutex(value) }
    func withLock<R: Sendable>(_ body: (inout Value) -> R) -> R { mutex.withLock { body(&$0) } }
    var value: Value { mutex.withLock { $0 } }
    /// Sets `new` and returns what was there.
    func swap(_ new: Value) -> Value { mutex.withLock { v in let old = v; v = new; return old } }
}
