import FridayCore
import FridayEngine
import FridayTesting
import Foundation
import XCTest

/// `friday stats` against a set of logs whose figures were counted by hand.
final class StatsTests: XCTestCase {
    let bin = fridayBinary()

    /// Monday 2026-11-23 00:00 UTC.
    static let monday = Timestamp(seconds: 1_795_392_000)

    /// One log: started at `start` (hours after Monday 00:00), a build of `build` seconds, then
    /// what `rest` adds, each event `after` seconds after the one before.
    func log(_ dir: String, id: String, service: String, start hours: Double, build: Double, _ rest: [(Double, EventPayload)]) throws {
        let (log, _) = try EventLog.open(path: "\(dir)/\(id).jsonl")
        defer { log.close() }
        var s = DeployState(), seq = 0
        var t = StatsTests.monday + hours * 3600
        func add(_ p: EventPayload, after: Double = 0) throws {
            t = t + after
            let e = DeployEvent(seq: seq, ts: t, deploy: id, payload: p)
            Reducer.reduce(&s, e)
            try log.append(e, state: s)
            seq += 1
        }
        try add(.deployStarted(service: service, from: VersionRef(name: "v1", commit: "a"), to: VersionRef(name: "v2", commit: "b"),
                               plan: .standard, stages: ["build"], by: "lee"))
        try add(.stageStarted(stage: "build"), after: 10)
        try add(.stageFinished(stage: "build", status: .succeeded, seconds: build), after: build)
        for (after, p) in rest { try add(p, after: after) }
    }

    func step(_ i: Int) -> EventPayload { .stepStarted(index: i, weight: RolloutPlan.standard.steps[i].weight, pause: RolloutPlan.standard.steps[i].pause) }

    func testFiguresMatchAHandCountedSetOfLogs() throws {
        let dir = NSTemporaryDirectory() + "friday-stats-\(getpid())"
        try? FileManager.default.removeItem(atPath: dir)
        try FileManager.default.createDirectory(atPath: dir + "/more", withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        // checkout, Monday 10:00: build 60 s, promoted 600 s after the build ended. Lead time 660 s.
        try log(dir, id: "c1", service: "checkout", start: 10, build: 60, [(1, step(0)), (600, .deployFinished(outcome: .promoted, by: "friday", reason: nil))])
        // checkout, Friday 16:00: reverted by the judge; decided (traffic.set) to confirmed 4 s. Restore 4 s.
        try log(dir, id: "c2", service: "checkout", start: 4 * 24 + 16, build: 30, [
            (1, step(0)), (100, .analysisVerdict(step: 0, verdict: .fail, summary: "errors", figures: [])),
            (0, .trafficSet(weights: [VersionWeight(version: "v1", percent: 100), VersionWeight(version: "v2", percent: 0)], cause: .revert(by: "judge", reason: "errors"))),
            (4, .deployFinished(outcome: .reverted, by: "judge", reason: "errors")),
        ])
        // search, Friday 17:00: reverted by a person (command to confirmed 10 s), retried, promoted.
        try log(dir, id: "s1", service: "search", start: 4 * 24 + 17, build: 20, [
            (1, step(0)), (50, .commandAccepted(action: .revert, by: "kim", reason: "p99")),
            (10, .deployFinished(outcome: .reverted, by: "kim", reason: "p99")),
            (5, .commandAccepted(action: .retry, by: "kim", reason: nil)), (1, step(0)),
            (300, .deployFinished(outcome: .promoted, by: "friday", reason: nil)),
        ])
        // search, Wednesday 09:00, in a subfolder: the pipeline failed (never reached traffic).
        try log(dir + "/more", id: "s2", service: "search", start: 2 * 24 + 9, build: 5, [
            (0, .stageStarted(stage: "release")), (3, .stageFinished(stage: "release", status: .failed, seconds: 3)),
            (0, .deployFinished(outcome: .failed, by: "friday", reason: "release failed")),
        ])
        // A file that is not a log is named on stderr and does not count.
        try "not json\n".write(toFile: dir + "/more/notes.jsonl", atomically: true, encoding: .utf8)

        let r = try runProcess(bin, ["stats", dir, "--json"])
        XCTAssertEqual(r.status, 0, r.err)
        XCTAssertTrue(r.err.contains("notes.jsonl"), r.err)
        let j = try JSONValue.parse(r.out)
        let o = try XCTUnwrap(j["overall"])
        // By hand: 4 deploys, Monday to Friday = 5 days, 0.8 a day.
        XCTAssertEqual(o["deploys"]?.intValue, 4)
        XCTAssertEqual(o["days"]?.intValue, 5)
        XCTAssertEqual(o["deploys_per_day"]?.doubleValue, 0.8)
        XCTAssertEqual(o["promoted"]?.intValue, 2)
        XCTAssertEqual(o["reverted"]?.intValue, 2)
        XCTAssertEqual(o["pipeline_failed"]?.intValue, 1)
        // 2 reverted of the 3 that reached traffic.
        XCTAssertEqual(o["change_failure_rate"]?.doubleValue, 0.667)
        // Lead times: c1 60 + 1 + 600 = 661 s; s1 20 + 1 + 50 + 10 + 5 + 1 + 300 = 387 s. Median 524.
        XCTAssertEqual(o["median_lead_time_seconds"]?.doubleValue, 524)
        // Restores: 4 s and 10 s. Median 7.
        XCTAssertEqual(o["median_time_to_restore_seconds"]?.doubleValue, 7)
        let services = try XCTUnwrap(j["by_service"]?.arrayValue)
        XCTAssertEqual(services.compactMap { $0["service"]?.stringValue }, ["checkout", "search"])
        XCTAssertEqual(services[0]["figures"]?["change_failure_rate"]?.doubleValue, 0.5)
        XCTAssertEqual(services[1]["figures"]?["change_failure_rate"]?.doubleValue, 1)
        XCTAssertEqual(services[1]["figures"]?["median_lead_time_seconds"]?.doubleValue, 387)
        let days = try XCTUnwrap(j["by_weekday"]?.arrayValue)
        XCTAssertEqual(days.count, 7)
        let friday = try XCTUnwrap(days.first { $0["weekday"]?.stringValue == "Friday" })
        XCTAssertEqual(friday["figures"]?["deploys"]?.intValue, 2)
        XCTAssertEqual(friday["figures"]?["reverted"]?.intValue, 2)
        XCTAssertEqual(friday["figures"]?["days"]?.intValue, 1)
        XCTAssertEqual(days.first { $0["weekday"]?.stringValue == "Tuesday" }?["figures"]?["deploys"]?.intValue, 0)
        XCTAssertEqual(j["per_day"]?.arrayValue?.compactMap { $0["day"]?.stringValue }, ["2026-11-23", "2026-11-25", "2026-11-27"])

        // The same as text for people.
        let t = try runProcess(bin, ["stats", dir])
        XCTAssertEqual(t.status, 0, t.err)
        XCTAssertTrue(t.out.hasPrefix("4 deploys over 5 days (UTC): 0.80 a day; 2 promoted, 2 reverted, 1 failed in the pipeline, 0 still running\n"), t.out)
        XCTAssertTrue(t.out.contains("lead time (build to 100%) median 8m44s · change failure rate 67% · time to restore median 7s"), t.out)
        XCTAssertTrue(t.out.contains("\nFriday   "), t.out)

        // Nothing there: a clear error, not an empty report.
        let none = try runProcess(bin, ["stats", dir + "/absent"])
        XCTAssertEqual(none.status, 1)
        XCTAssertTrue(none.err.contains("no such file or folder"), none.err)
    }
}
