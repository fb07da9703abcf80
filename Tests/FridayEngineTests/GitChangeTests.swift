import FridayCore
import FridayEngine
import FridayIntegrations
import Foundation
import XCTest

/// What a deploy ships, listed from a real temporary git repository.
final class GitChangeTests: XCTestCase {
    var repo: String!

    override func setUpWithError() throws {
        repo = "/tmp/fg-\(getpid())-\(UInt16.random(in: 0...UInt16.max))"
        try FileManager.default.createDirectory(atPath: repo, withIntermediateDirectories: true)
        git("init", "-q", "-b", "main")
        commit("first", author: "Lee")
        git("tag", "v1")
    }

    override func tearDownWithError() throws { try? FileManager.default.removeItem(atPath: repo) }

    @discardableResult
    func git(_ args: String...) -> String {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = ["git", "-C", repo, "-c", "user.email=t@example.com", "-c", "user.name=Test", "-c", "commit.gpgsign=false"] + args
        let out = Pipe()
        p.standardOutput = out
        p.standardError = FileHandle.nullDevice
        try? p.run()
        let d = out.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return String(decoding: d, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
    }

    func commit(_ subject: String, author: String) {
        let f = repo + "/f.txt"
        let old = (try? String(contentsOfFile: f, encoding: .utf8)) ?? ""
        try? (old + subject + "\n").write(toFile: f, atomically: true, encoding: .utf8)
        git("add", "f.txt")
        git("commit", "-q", "--author", "\(author) <\(author.lowercased())@example.com>", "-m", subject)
    }

    func fold(_ p: EventPayload) -> DeployState {
        var s = DeployState()
        Reducer.reduce(&s, DeployEvent(seq: 0, ts: Timestamp(seconds: 1), deploy: "d", payload: p))
        return s
    }

    func testTheTeamLogListsTheCommitsTheDeployShips() async throws {
        commit("upgrade the API version", author: "Ana")
        commit("use uuids for posts \u{1b}]0;pwned\u{07}", author: "Bo")
        commit("upgrade fetching posts", author: "Ana")
        let to = git("rev-parse", "HEAD")
        let change = GitChange(repo: repo, from: "v1", to: to, bigOver: 25, web: "https://github.com/acme/checkout")
        let p = await change.list()
        guard case let .changeListed(range, total, commits, big, error) = p else { return XCTFail("\(p)") }
        XCTAssertEqual(commits.first?.url, "https://github.com/acme/checkout/commit/\(to)")
        XCTAssertNil(error)
        XCTAssertEqual(total, 3)
        XCTAssertFalse(big)
        XCTAssertEqual(range, "v1..\(to.prefix(12))")
        XCTAssertEqual(commits.map(\.subject), ["upgrade fetching posts", "use uuids for posts \u{1b}]0;pwned\u{07}", "upgrade the API version"])
        XCTAssertEqual(commits.map(\.author), ["Ana", "Bo", "Ana"])
        XCTAssertEqual(commits.first?.hash, git("rev-parse", "--short", "HEAD"))
        let s = fold(p)
        XCTAssertEqual(s.change?.total, 3)
        let lines = s.log.map(\.text)
        XCTAssertEqual(lines.first, "ships v1..\(to.prefix(12)): 3 commits")
        XCTAssertTrue(lines.contains("\(commits[0].hash) upgrade fetching posts (Ana) https://github.com/acme/checkout/commit/\(to)"), "\(lines)")
        // The event round-trips through a log line.
        let line = DeployEvent(seq: 0, ts: Timestamp(seconds: 1), deploy: "d", payload: p).jsonLine
        XCTAssertFalse(line.contains("\u{1b}"), "a raw ESC in the log line")
        XCTAssertEqual(try DeployEvent(jsonLine: line).payload, p)
    }

    func testABigChangeIsFlaggedAndTheListStopsAtTwenty() async throws {
        for i in 1...30 { commit("change \(i)", author: "Ana") }
        let p = await GitChange(repo: repo, from: "v1", to: "main", bigOver: 25).list()
        guard case let .changeListed(_, total, commits, big, _) = p else { return XCTFail("\(p)") }
        XCTAssertEqual(total, 30)
        XCTAssertEqual(commits.count, 20)
        XCTAssertTrue(big)
        let lines = fold(p).log.map(\.text)
        XCTAssertTrue(lines.contains("and 10 more"), "\(lines)")
        XCTAssertTrue(lines.contains { $0.hasPrefix("a big change: 30 commits in one deploy") }, "\(lines)")
    }

    func testAnUnknownCommitOrAHostileOneIsReportedNotRun() async throws {
        let p = await GitChange(repo: repo, from: "v1", to: "deadbeef", bigOver: 25).list()
        guard case let .changeListed(_, _, _, _, error) = p else { return XCTFail("\(p)") }
        XCTAssertTrue(error?.contains("deadbeef") ?? false, error ?? "no error")
        XCTAssertTrue(fold(p).log.first?.text.hasPrefix("cannot list the change v1..deadbeef") ?? false)
        // git's own message every time, not "exit status 128": its standard error was read by a
        // thread the listing did not wait for, and a thread not yet started looked finished.
        for _ in 0..<100 {
            guard case let .changeListed(_, _, _, _, again) = await GitChange(repo: repo, from: "v1", to: "deadbeef", bigOver: 25).list() else { return XCTFail() }
            XCTAssertTrue(again?.contains("deadbeef") ?? false, again ?? "no error")
        }
        let hostile = await GitChange(repo: repo, from: "--output=/tmp/x", to: "main", bigOver: 25).list()
        guard case let .changeListed(_, _, _, _, e2) = hostile else { return XCTFail() }
        XCTAssertTrue(e2?.contains("is not a commit id or tag") ?? false, e2 ?? "")
        let notRepo = await GitChange(repo: "/nonexistent", from: "v1", to: "main", bigOver: 25).list()
        guard case let .changeListed(_, _, _, _, e3) = notRepo else { return XCTFail() }
        XCTAssertNotNil(e3)
    }

    // MARK: revert in git

    func write(_ file: String, _ text: String, commit subject: String) {
        try? text.write(toFile: repo + "/" + file, atomically: true, encoding: .utf8)
        git("add", file)
        git("commit", "-q", "-m", subject)
    }

    func revert(from: String = "v1", to: String, push: Bool = false, remote: String = "origin", base: String? = nil, temporary: String? = nil,
                stillReverted: @escaping @Sendable () async -> Bool = { true }) async -> EventPayload {
        var settings = GitSettings()
        settings.base = base
        settings.revert = true
        settings.push = push
        settings.remote = remote
        let r = GitRevert(repo: repo, from: from, to: to, deployID: "checkout-v2.4.0", settings: settings, web: "https://git.example.com/acme/checkout",
                          temporary: temporary ?? repo + "-tmp", stillReverted: stillReverted, report: { _ in })
        try? FileManager.default.createDirectory(atPath: temporary ?? repo + "-tmp", withIntermediateDirectories: true)
        return await r.run()
    }

    func testARevertMakesRevertCommitsOnABranchOfItsOwnAndNeverTouchesTheCheckout() async throws {
        write("api.txt", "version=2\n", commit: "upgrade the API version")
        git("checkout", "-q", "-b", "feature")
        write("posts.txt", "ids=uuid\n", commit: "use uuids")
        git("checkout", "-q", "main")
        git("merge", "-q", "--no-ff", "feature", "-m", "merge: use uuids")
        let to = git("rev-parse", "HEAD")
        // Someone's work in progress in the checkout: it must stay exactly as it is.
        try "half-done\n".write(toFile: repo + "/f.txt", atomically: true, encoding: .utf8)
        try "new file\n".write(toFile: repo + "/notes.txt", atomically: true, encoding: .utf8)
        let before = (git("rev-parse", "HEAD"), git("symbolic-ref", "HEAD"), git("status", "--porcelain"), git("stash", "list"))

        let p = await revert(to: to)
        guard case let .gitReverted(range, branch, commits, conflicts, pushed, error) = p else { return XCTFail("\(p)") }
        XCTAssertNil(error)
        XCTAssertEqual(conflicts, [])
        XCTAssertNil(pushed, "nothing is pushed unless push = true")
        XCTAssertEqual(branch, "friday/revert-checkout-v2.4.0")
        XCTAssertEqual(range, "v1..\(to.prefix(12))")
        // Newest first; the merge is one revert (against the mainline), not one per commit it brought.
        XCTAssertEqual(commits.map(\.subject), ["Revert \"upgrade the API version\"", "Revert \"merge: use uuids\""])
        XCTAssertTrue(commits.allSatisfy { $0.url == nil }, "an unpushed branch has no web page")
        XCTAssertEqual(git("rev-parse", "--short", "friday/revert-checkout-v2.4.0"), commits[0].hash)
        // The branch undoes the deploy: its files are v1's.
        XCTAssertEqual(git("diff", "--stat", "v1", "friday/revert-checkout-v2.4.0"), "")
        // The checkout: same commit, same branch, same uncommitted work, no worktree left.
        let after = (git("rev-parse", "HEAD"), git("symbolic-ref", "HEAD"), git("status", "--porcelain"), git("stash", "list"))
        XCTAssertTrue(before == after, "\(before) then \(after)")
        XCTAssertEqual(try String(contentsOfFile: repo + "/f.txt", encoding: .utf8), "half-done\n")
        XCTAssertEqual(git("worktree", "list").split(separator: "\n").count, 1, git("worktree", "list"))
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: repo + "-tmp"), [])

        // The team log says it; the event round-trips through a log line.
        let s = fold(p)
        XCTAssertEqual(s.gitRevert, DeployState.GitRevert(branch: "friday/revert-checkout-v2.4.0", commits: 2, ok: true))
        XCTAssertEqual(s.log.first?.text, "reverted v1..\(to.prefix(12)) in git: 2 commits on branch friday/revert-checkout-v2.4.0 (not pushed)")
        let line = DeployEvent(seq: 0, ts: Timestamp(seconds: 1), deploy: "d", payload: p).jsonLine
        XCTAssertEqual(try DeployEvent(jsonLine: line).payload, p)

        // A second revert of the same deploy (after a retry) never reuses the branch.
        guard case let .gitReverted(_, second, _, _, _, e2) = await revert(to: to) else { return XCTFail() }
        XCTAssertNil(e2)
        XCTAssertEqual(second, "friday/revert-checkout-v2.4.0-2")
        try? FileManager.default.removeItem(atPath: repo + "-tmp")
    }

    func testAConflictIsReportedWithItsFilesAndLeavesNothingBehind() async throws {
        write("config.txt", "timeout=1\n", commit: "base config")
        git("tag", "-f", "v1")
        write("config.txt", "timeout=2\n", commit: "raise the timeout")
        let to = git("rev-parse", "HEAD")
        // main moved on after the deploy: the same line changed again.
        write("config.txt", "timeout=3\n", commit: "raise it again")
        let head = git("rev-parse", "HEAD")
        // From the deployed commit the revert is clean; from main (as a pull request would be) it conflicts.
        guard case let .gitReverted(_, clean, _, _, _, noError) = await revert(to: to) else { return XCTFail() }
        XCTAssertNil(noError)
        XCTAssertEqual(clean, "friday/revert-checkout-v2.4.0")
        git("branch", "-D", "friday/revert-checkout-v2.4.0")
        let p = await revert(to: to, base: "main")
        guard case let .gitReverted(_, branch, commits, conflicts, _, error) = p else { return XCTFail("\(p)") }
        XCTAssertEqual(conflicts, ["config.txt"])
        XCTAssertNil(branch)
        XCTAssertEqual(commits, [])
        XCTAssertTrue(error?.contains("could not revert") ?? false, error ?? "no error")
        XCTAssertEqual(git("branch", "--list", "friday/*"), "", "a half-made branch was left")
        XCTAssertEqual(git("worktree", "list").split(separator: "\n").count, 1)
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: repo + "-tmp"), [])
        XCTAssertEqual(git("rev-parse", "HEAD"), head)
        XCTAssertEqual(git("status", "--porcelain"), "")
        XCTAssertEqual(try String(contentsOfFile: repo + "/config.txt", encoding: .utf8), "timeout=3\n")
        let s = fold(p)
        XCTAssertEqual(s.gitRevert?.ok, false)
        XCTAssertTrue(s.log.first?.text.hasPrefix("git revert of v1..\(to.prefix(12)) stopped on a conflict in config.txt: nothing was committed and the checkout is untouched; revert by hand") ?? false,
                      s.log.first?.text ?? "")
        try? FileManager.default.removeItem(atPath: repo + "-tmp")
    }

    func testPushIsOnlyWhenAskedAndAFailedPushKeepsTheBranchAndSaysHow() async throws {
        let remote = repo + "-remote.git"
        defer { try? FileManager.default.removeItem(atPath: remote) }
        let bare = Process()
        bare.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        bare.arguments = ["git", "init", "-q", "--bare", remote]
        try bare.run(); bare.waitUntilExit()
        git("remote", "add", "origin", remote)
        write("api.txt", "version=2\n", commit: "upgrade the API version")
        let to = git("rev-parse", "HEAD")
        guard case let .gitReverted(_, branch, commits, _, pushed, error) = await revert(to: to, push: true) else { return XCTFail() }
        XCTAssertNil(error)
        XCTAssertEqual(pushed, "origin")
        let full = git("rev-parse", "friday/revert-checkout-v2.4.0")
        let onRemote = git("--git-dir", remote, "rev-parse", "friday/revert-checkout-v2.4.0")
        XCTAssertEqual(onRemote, full)
        XCTAssertEqual(commits.first?.url, "https://git.example.com/acme/checkout/commit/\(full)")
        XCTAssertEqual(branch, "friday/revert-checkout-v2.4.0")

        // Retried before the push: the branch stays here, nothing goes out.
        guard case let .gitReverted(_, b3, _, _, p3, e3) = await revert(to: to, push: true, stillReverted: { false }) else { return XCTFail() }
        XCTAssertNil(p3)
        XCTAssertEqual(b3, "friday/revert-checkout-v2.4.0-2")
        XCTAssertEqual(e3, "the deploy was retried before the push: the branch is kept here and not pushed")
        XCTAssertEqual(git("--git-dir", remote, "branch", "--list", "friday/revert-checkout-v2.4.0-2"), "")
        git("branch", "-D", "friday/revert-checkout-v2.4.0-2")

        git("remote", "add", "gone", repo + "-no-such-remote.git")
        guard case let .gitReverted(_, b2, c2, _, p2, e2) = await revert(to: to, push: true, remote: "gone") else { return XCTFail() }
        XCTAssertNil(p2)
        XCTAssertEqual(b2, "friday/revert-checkout-v2.4.0-2")
        XCTAssertEqual(c2.count, 1)
        XCTAssertTrue(e2?.contains("push it by hand: git push gone friday/revert-checkout-v2.4.0-2") ?? false, e2 ?? "")
        try? FileManager.default.removeItem(atPath: repo + "-tmp")
    }

    func testWebLinksAndTheirRange() {
        XCTAssertEqual(GitSettings.link("https://github.com/acme/checkout/", hash: "abc"), "https://github.com/acme/checkout/commit/abc")
        XCTAssertEqual(GitSettings.link("https://cgit.example.com/checkout/commit/?id={hash}", hash: "abc"), "https://cgit.example.com/checkout/commit/?id=abc")
        XCTAssertTrue(GitSettings.isWebLink("https://github.com/acme/checkout"))
        for bad in ["ftp://x", "https://a b", "https://x/\u{1b}]8;;", "javascript:alert(1)", "https://" + String(repeating: "a", count: 300)] {
            XCTAssertFalse(GitSettings.isWebLink(bad), bad)
        }
    }
}
