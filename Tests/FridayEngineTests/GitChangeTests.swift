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
        let change = GitChange(repo: repo, from: "v1", to: to, bigOver: 25)
        let p = await change.list()
        guard case let .changeListed(range, total, commits, big, error) = p else { return XCTFail("\(p)") }
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
        XCTAssertTrue(lines.contains("\(commits[0].hash) upgrade fetching posts (Ana)"), "\(lines)")
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
        let hostile = await GitChange(repo: repo, from: "--output=/tmp/x", to: "main", bigOver: 25).list()
        guard case let .changeListed(_, _, _, _, e2) = hostile else { return XCTFail() }
        XCTAssertTrue(e2?.contains("is not a commit id or tag") ?? false, e2 ?? "")
        let notRepo = await GitChange(repo: "/nonexistent", from: "v1", to: "main", bigOver: 25).list()
        guard case let .changeListed(_, _, _, _, e3) = notRepo else { return XCTFail() }
        XCTAssertNotNil(e3)
    }
}
