import Foundation
import FridayCore

/// After a revert (by the judge or a person), undoes the deployed range in git: `git revert
/// --no-edit` commits on a new branch named after the deploy (`friday/revert-ID`, `-2` … if
/// taken), made in a temporary worktree so the user's checkout, its index and its files are
/// never touched. A conflict is aborted and reported with its files, leaving no branch and
/// no worktree behind. Nothing is pushed unless `[git] push = true`.
///
/// It runs off the engine (an engine sink starts it; the result is reported as
/// `git.reverted`), so git can never hold up the revert of the traffic; every git call is a
/// subprocess with a timeout.
public final class GitRevert: Sendable {
    let repo: String
    let from: String
    let to: String
    let deployID: String
    public let settings: GitSettings
    let web: String?
    let temporary: String
    private let report: @Sendable (EventPayload) async -> Void
    /// Asked before pushing: whether the deploy is still reverted (a retry since means the
    /// branch must not go out as the team's undo).
    private let stillReverted: @Sendable () async -> Bool
    private let job = Locked<Task<Void, Never>?>(nil)
    private let running = Locked(false)

    public init(repo: String, from: String, to: String, deployID: String, settings: GitSettings, web: String?,
                temporary: String = NSTemporaryDirectory(), stillReverted: @escaping @Sendable () async -> Bool = { true },
                report: @escaping @Sendable (EventPayload) async -> Void) {
        self.repo = repo; self.from = from; self.to = to; self.deployID = deployID; self.settings = settings; self.web = web
        self.temporary = temporary; self.report = report; self.stillReverted = stillReverted
    }

    /// An engine sink: a `deploy.finished` with outcome reverted starts the job.
    public func consider(_ e: DeployEvent) {
        if case .deployFinished(.reverted, _, _) = e.payload { start() }
    }

    /// Starts the job unless one is running (also used at start-up for a deploy that was
    /// reverted before the engine stopped and has no `git.reverted` yet).
    public func start() {
        guard !running.swap(true) else { return }
        let t = Task { [self] in
            let result = await self.run()
            await self.report(result)
            _ = self.running.swap(false)
        }
        job.withLock { $0 = t }
    }

    /// Waits (at most `seconds`) for a running job.
    public func drain(seconds: Double) async {
        await FridayIntegrations.drain(job.value, within: seconds)
    }

    /// Does the work and says what came of it.
    public func run() async -> EventPayload {
        let range = "\(from.prefix(12))..\(to.prefix(12))"
        func failed(_ why: String, branch: String? = nil, commits: [ChangeCommit] = [], conflicts: [String] = []) -> EventPayload {
            .gitReverted(range: range, branch: branch, commits: commits, conflicts: conflicts, pushed: nil, error: why)
        }
        let baseName = settings.base ?? to
        for c in [from, to, baseName] where !GitChange.isRevision(c) {
            return failed("\"\(TerminalText.neutralise(String(c.prefix(60))))\" is not a commit id or name friday passes to git")
        }
        let t = settings.timeout
        func git(_ args: [String], in dir: String? = nil) async -> Result<String, GitFailure> {
            // No editor, no signing prompt, and none of the checkout's hooks (a post-checkout or
            // pre-push hook of the user's would run under friday's timeout, unasked).
            await GitChange.git(["-C", dir ?? repo, "-c", "core.editor=true", "-c", "commit.gpgsign=false", "-c", "core.hooksPath=/dev/null"] + args, timeout: t)
        }
        // Commits need an author: the checkout's own, else friday's.
        var identity: [String] = []
        if case .failure = await git(["config", "user.email"]) { identity = ["-c", "user.name=friday", "-c", "user.email=friday@localhost"] }

        guard case let .success(count) = await git(["rev-list", "--count", "--first-parent", "\(from)..\(to)", "--"]) else {
            if case let .failure(why) = await git(["rev-list", "--count", "\(from)..\(to)", "--"]) { return failed("cannot read \(range): \(why)") }
            return failed("cannot read \(range)")
        }
        guard let n = Int(count.trimmingCharacters(in: .whitespacesAndNewlines)), n > 0 else { return failed("\(range) holds no commits: nothing to revert") }

        // A branch of its own, never one that exists.
        let stem = "friday/revert-" + GitRevert.branchPart(deployID)
        var branch = stem
        var k = 2
        while case .success = await git(["rev-parse", "--verify", "--quiet", "refs/heads/\(branch)"]) {
            guard k <= 50 else { return failed("branches \(stem) to \(stem)-50 all exist: delete some") }
            branch = "\(stem)-\(k)"; k += 1
        }
        let base: String
        switch await git(["rev-parse", "--verify", "\(baseName)^{commit}"]) {
        case let .success(out): base = out.trimmingCharacters(in: .whitespacesAndNewlines)
        case let .failure(why): return failed("the base \(baseName) is not a commit here: \(why)")
        }

        let dir = temporary + (temporary.hasSuffix("/") ? "" : "/") + "friday-revert-\(GitRevert.branchPart(deployID))-\(UInt32.random(in: 0...UInt32.max))"
        if case let .failure(why) = await git(["worktree", "add", "--quiet", "-b", branch, dir, base]) {
            return failed("cannot make a worktree for \(branch): \(why)")
        }
        func cleanUp(deleteBranch: Bool) async {
            // Only friday's own worktree is removed (no prune: the user's other worktrees stay
            // recorded even if their directory is away just now).
            _ = await git(["worktree", "remove", "--force", dir])
            try? FileManager.default.removeItem(atPath: dir)
            if deleteBranch { _ = await git(["branch", "-D", branch]) }
        }

        // Newest first; a merge is reverted against its first parent (the mainline), and the
        // commits it brought are not reverted twice.
        let reverted = await git(identity + ["revert", "--no-edit", "-m", "1", "--first-parent", "\(from)..\(to)"], in: dir)
        if case let .failure(why) = reverted {
            var conflicts: [String] = []
            if case let .success(list) = await git(["diff", "--name-only", "--diff-filter=U", "-z"], in: dir) {
                conflicts = list.split(separator: "\u{0}").prefix(200).map { TerminalText.neutralise(String($0)) }
            }
            _ = await git(["revert", "--abort"], in: dir)
            await cleanUp(deleteBranch: true)
            if conflicts.isEmpty { return failed("git revert failed: \(why)") }
            return failed(why.description, conflicts: conflicts)
        }
        var commits: [ChangeCommit] = []
        if case let .success(out) = await git(["log", "--no-color", "--format=%h%x00%H%x00%an%x00%s%x1e", "\(base)..\(branch)", "--"]) {
            commits = out.split(separator: "\u{1e}").map { $0.trimmingCharacters(in: .newlines) }.filter { !$0.isEmpty }
                .prefix(100).map { GitChange.commit($0, web: settings.push ? web : nil) }
        }
        await cleanUp(deleteBranch: false)
        guard settings.push else {
            return .gitReverted(range: range, branch: branch, commits: commits, conflicts: [], pushed: nil, error: nil)
        }
        guard await stillReverted() else {
            return .gitReverted(range: range, branch: branch, commits: commits, conflicts: [], pushed: nil,
                                error: "the deploy was retried before the push: the branch is kept here and not pushed")
        }
        switch await git(["push", "--quiet", settings.remote, "refs/heads/\(branch):refs/heads/\(branch)"]) {
        case .success:
            return .gitReverted(range: range, branch: branch, commits: commits, conflicts: [], pushed: settings.remote, error: nil)
        case let .failure(why):
            return .gitReverted(range: range, branch: branch, commits: commits, conflicts: [], pushed: nil,
                                error: "the branch is made here but pushing it to \(settings.remote) failed: \(why); push it by hand: git push \(settings.remote) \(branch)")
        }
    }

    /// A deploy id as a branch name part: git refuses `..`, a trailing `.lock` or `.`.
    static func branchPart(_ id: String) -> String {
        var s = id.replacingOccurrences(of: "..", with: "-")
        while s.hasSuffix(".lock") { s = String(s.dropLast(5)) }
        while s.hasSuffix(".") { s = String(s.dropLast()) }
        return s.isEmpty ? "deploy" : s
    }
}
