import FridayCore
import FridayTesting
import XCTest

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
                   "notify.failed", "hook.finished", "change.listed", "ingest.refused", "git.reverted", "candidate.reverted"]
        XCTAssertEqual(Set(types), Set(all))
        XCTAssertEqual(types.count, all.count)
        // Every payload the coding tests know is documented (a new type must be added to both).
        XCTAssertTrue(Set(everyPayload.map(\.type)).isSubset(of: Set(types)))
    }
}
