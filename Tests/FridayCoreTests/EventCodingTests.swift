import FridayCore
import XCTest

/// One of every payload (and of each variant), for round trips and the docs check.
let everyPayload: [EventPayload] = [
        .deployStarted(service: "checkout", from: VersionRef(name: "v1", commit: "abc"), to: VersionRef(name: "v2", commit: "def"),
                       plan: .standard, stages: ["build", "release"], by: "lee"),
        .stageStarted(stage: "build"),
        .stageOutput(stage: "build", line: "Step 1/6 : FROM \"distroless\"\t\u{1b}[31m 部署"),
        .stageFinished(stage: "build", status: .failed, seconds: 12.5),
        .stepStarted(index: 2, weight: 25, pause: .untilPromoted),
        .stepStarted(index: 1, weight: 5, pause: .seconds(45)),
        .trafficSet(weights: [VersionWeight(version: "v1", percent: 75), VersionWeight(version: "v2", percent: 25)], cause: nil),
        .trafficSet(weights: [VersionWeight(version: "v1", percent: 95), VersionWeight(version: "v2", percent: 5)], cause: .step(index: 1)),
        .trafficSet(weights: [VersionWeight(version: "v1", percent: 100), VersionWeight(version: "v2", percent: 0)], cause: .revert(by: "maya", reason: "5xx ↑")),
        .trafficSet(weights: [VersionWeight(version: "v1", percent: 100), VersionWeight(version: "v2", percent: 0)], cause: .revert(by: "judge", reason: nil)),
        .trafficSet(weights: [VersionWeight(version: "v1", percent: 90), VersionWeight(version: "v2", percent: 10)], cause: .restore),
        .trafficDrifted(wanted: [VersionWeight(version: "v1", percent: 90), VersionWeight(version: "v2", percent: 10)],
                        observed: [VersionWeight(version: "v1", percent: 50), VersionWeight(version: "v2", percent: 50)]),
        .trafficConfirmed,
        .engineRestarted(downSeconds: 12.5),
        .metricsUnavailable(provider: "prometheus", error: "no answer within 3.0 s"),
        .metricsRecovered(provider: "prometheus"),
        .logRecovered(setAside: 3, keptIn: "/tmp/d.jsonl.broken"),
        .trafficObserved(weights: [VersionWeight(version: "a", percent: 33), VersionWeight(version: "b", percent: 33), VersionWeight(version: "c", percent: 34)]),
        .metricsSample(MetricsSample(version: "v2", requests: 1000, errors: 12, p50: 38.125, p99: 140.5, window: 1)),
        .analysisVerdict(step: 1, verdict: .fail, summary: "too many errors", figures: [Figure(name: "canary error rate", value: 0.061, limit: 0.02), Figure(name: "x", value: 3)]),
        .commandAccepted(action: .revert, by: "maya", reason: "5xx"),
        .commandAccepted(action: .promote, by: "maya", reason: nil),
        .commandRejected(action: .promoteFull, by: "lee", why: "already promoted"),
        .deployPaused(by: "judge", reason: "error rate"),
        .deployResumed(by: "maya"),
        .deployFinished(outcome: .reverted, by: "maya", reason: "5xx"),
        .deployFinished(outcome: .promoted, by: "rollout", reason: nil),
        .chatMessage(from: "lee", text: "thanks all 🎉"),
        .presenceJoined(who: "maya", role: "sre"),
        .presenceLeft(who: "maya"),
        .routerUnreachable(provider: "haproxy", error: "connection refused"),
        .routerRecovered(provider: "haproxy"),
        .notifyFailed(error: "webhook failed after 4 tries (HTTP 500)"),
        .hookFinished(hook: "reverted", status: "exit status 2", seconds: 1.25, output: "paged\u{1b}[31m"),
        .changeListed(range: "a1..b2", total: 30, commits: [ChangeCommit(hash: "b2", author: "Ana", subject: "use uuids")], big: true, error: nil),
        .changeListed(range: "a1..zz", total: 0, commits: [], big: false, error: "bad revision 'zz'"),
        .commandAccepted(action: .cancel, by: "alice", reason: nil),
        .changeListed(range: "a1..b2", total: 1, commits: [ChangeCommit(hash: "b2", author: "Ana", subject: "x", url: "https://github.com/acme/checkout/commit/b2")], big: false, error: nil),
        .ingestRefused(count: 3, examples: ["line 7: not JSON", "line 9: no stage \"deploy\""]),
        .gitReverted(range: "a1..b2", branch: "friday/revert-checkout-v2.4.0", commits: [ChangeCommit(hash: "c3", author: "friday", subject: "Revert \"use uuids\"")],
                     conflicts: [], pushed: "origin", error: nil),
        .gitReverted(range: "a1..b2", branch: nil, commits: [], conflicts: ["config.txt"], pushed: nil, error: "error: could not revert b2... use uuids"),
]

final class EventCodingTests: XCTestCase {
    let allPayloads = everyPayload

    func testEveryPayloadRoundTripsThroughAJSONLine() throws {
        for (i, p) in allPayloads.enumerated() {
            let e = DeployEvent(seq: i, ts: Timestamp(seconds: 1_795_795_200.25), deploy: "d-1", payload: p)
            let line = e.jsonLine
            XCTAssertFalse(line.contains("\n"), "one line per event")
            XCTAssertTrue(line.hasPrefix("{\"v\":1,\"seq\":\(i),\"ts\":\"2026-11-27T16:00:00.250Z\",\"deploy\":\"d-1\",\"type\":\"\(p.type)\",\"data\":"), line)
            let back = try DeployEvent(jsonLine: line)
            XCTAssertEqual(back, e, line)
            XCTAssertEqual(back.jsonLine, line, "re-encoding gives the same bytes")
        }
    }

    func testBadLinesSayWhatIsWrong() {
        func message(_ line: String) -> String {
            do { _ = try DeployEvent(jsonLine: line); return "parsed" } catch { return error.message }
        }
        XCTAssertTrue(message("{\"v\":1,").hasPrefix("not JSON"), message("{\"v\":1,"))
        XCTAssertEqual(message("[1]"), "an event line must be a JSON object")
        XCTAssertTrue(message(#"{"v":2,"seq":0,"ts":"2026-11-27T16:00:00Z","deploy":"d","type":"chat.message","data":{}}"#).contains("format version 2"))
        XCTAssertTrue(message(#"{"v":1,"seq":0,"ts":"yesterday","deploy":"d","type":"chat.message","data":{}}"#).contains("bad \"ts\" \"yesterday\""))
        XCTAssertEqual(message(#"{"v":1,"seq":0,"ts":"2026-11-27T16:00:00Z","deploy":"d","type":"chat.mesage","data":{}}"#), "unknown event type \"chat.mesage\"")
        XCTAssertEqual(message(#"{"v":1,"seq":0,"ts":"2026-11-27T16:00:00Z","deploy":"d","type":"chat.message","data":{"from":"x"}}"#), "chat.message: missing \"text\"")
        XCTAssertEqual(message(#"{"v":1,"seq":0,"ts":"2026-11-27T16:00:00Z","deploy":"d","type":"step.started","data":{"index":0,"weight":140,"pause":1}}"#), "step.started: \"weight\" must be 0–100, got 140")
        XCTAssertTrue(message(#"{"v":1,"seq":0,"ts":"2026-11-27T16:00:00Z","deploy":"d","type":"command.accepted","data":{"action":"nuke","by":"x"}}"#).contains("expected one of promote, promote-full"))
    }

    func testTimestampsFormatAndParse() throws {
        let t = Timestamp(seconds: 1_795_795_200.5)
        XCTAssertEqual(t.rfc3339, "2026-11-27T16:00:00.500Z")
        XCTAssertEqual(Timestamp(rfc3339: "2026-11-27T16:00:00.500Z"), t)
        XCTAssertEqual(Timestamp(rfc3339: "2026-11-27T17:00:00+01:00")?.seconds, 1_795_795_200)
        XCTAssertEqual(Timestamp(seconds: 0).rfc3339, "1970-01-01T00:00:00.000Z")
        XCTAssertEqual(Timestamp(rfc3339: "2024-02-29T23:59:59Z")?.rfc3339, "2024-02-29T23:59:59.000Z")
        XCTAssertNil(Timestamp(rfc3339: "2026-13-01T00:00:00Z"))
        XCTAssertNil(Timestamp(rfc3339: "2026-11-27 16:00"))
        XCTAssertEqual(t.clockText, "16:00:00")
    }

    func testJSONParserHandlesEscapesAndRejectsJunk() throws {
        let v = try JSONValue.parse(#"{"a":"\u00e9\n\ud83c\udf89","b":[1,-2.5e2,true,null],"c":{}}"#)
        XCTAssertEqual(v["a"]?.stringValue, "é\n🎉")
        XCTAssertEqual(v["b"]?.arrayValue?[1].doubleValue, -250)
        XCTAssertThrowsError(try JSONValue.parse(#"{"a":1} x"#))
        XCTAssertThrowsError(try JSONValue.parse("\"raw\u{01}control\""))
        XCTAssertThrowsError(try JSONValue.parse(#"{"a" 1}"#)) { error in
            XCTAssertEqual((error as? JSONParseError)?.offset, 5)
        }
    }

    func testOutsideTextIsNeutralisedForTheTerminal() {
        XCTAssertEqual(TerminalText.neutralise("ok \u{1b}[2J\u{1b}]0;owned\u{07}"), "ok ^[[2J^[]0;owned^G")
        XCTAssertEqual(TerminalText.neutralise("a\tb\u{7f}c\u{9b}d"), "a b^?c?d")
        XCTAssertEqual(TerminalText.neutralise("rtl\u{202e}txt"), "rtl?txt", "a bidi override is shown, not obeyed")
        XCTAssertEqual(TerminalText.neutralise("部署 🎉 plain"), "部署 🎉 plain")
    }
}

/// docs/events.md: an example for every event type, each one a line friday reads.
final class EventDocsTests: XCTestCase {
    func testEveryTypeIsDocumentedWithAnExampleThatReads() throws {
        let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../../docs/events.md").standardized
        let doc = try String(contentsOf: url, encoding: .utf8)
        var types: [String] = []
        for line in doc.split(separator: "\n") where line.hasPrefix("    {\"v\":1") {
            let e = try DeployEvent(jsonLine: String(line.dropFirst(4)))
            types.append(e.payload.type)
            XCTAssertEqual(try DeployEvent(jsonLine: e.jsonLine), e)
        }
        let all = ["deploy.started", "stage.started", "stage.output", "stage.finished", "step.started", "traffic.set", "traffic.observed",
                   "traffic.drifted", "traffic.confirmed", "metrics.sample", "metrics.unavailable", "metrics.recovered", "analysis.verdict",
                   "command.accepted", "command.rejected", "deploy.paused", "deploy.resumed", "deploy.finished", "chat.message",
                   "presence.joined", "presence.left", "router.unreachable", "router.recovered", "engine.restarted", "log.recovered",
                   "notify.failed", "hook.finished", "change.listed", "ingest.refused", "git.reverted"]
        XCTAssertEqual(Set(types), Set(all))
        XCTAssertEqual(types.count, all.count)
        // Every payload the coding tests know is documented (a new type must be added to both).
        XCTAssertTrue(Set(everyPayload.map(\.type)).isSubset(of: Set(types)))
    }
}
