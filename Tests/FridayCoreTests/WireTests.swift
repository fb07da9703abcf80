import FridayCore
import FridayTesting
import XCTest

/// The attach protocol's messages: round trips, and every field of a client's line checked.
final class WireTests: XCTestCase {
    func testASnapshotWithJudgeBlocksRoundTripsExactly() throws {
        var s = DeployState()
        s.deployID = "d"; s.service = "checkout"; s.phase = .rolling; s.stepIndex = 1
        s.stepBlocks = (0..<500).map { i in
            JudgeBlock(at: Timestamp(seconds: 1_800_000_000 + Double(i) + 0.25), canaryRequests: i * 7, canaryErrors: i % 3,
                       baseRequests: i * 90, baseErrors: i % 11, canarySlow: i % 2 == 0 ? i : nil, baseSlow: i % 2 == 0 ? 2 * i : nil)
        }
        s.stepBlocks.append(JudgeBlock())
        s.log = [LogEntry(at: Timestamp(seconds: 5), kind: .chat, who: "a\u{1b}]0;x", text: "\"state\": not a key")]
        let line = Wire.ServerMessage.snapshot(s).line
        guard case let .snapshot(back) = try Wire.ServerMessage.decode(line) else { return XCTFail("not a snapshot") }
        XCTAssertEqual(back, s)
    }

    func testASnapshotOfSeveralCandidatesRoundTripsExactlyWithTheirBlocksAndLatency() throws {
        var s = DeployState()
        s.deployID = "three"; s.phase = .rolling; s.stepIndex = 0
        s.to = VersionRef(name: "v2-a", commit: "a")
        s.plan = RolloutPlan(steps: [RolloutStep(weight: 66, pause: .untilPromoted, weights: [VersionWeight(version: "v1", percent: 34), VersionWeight(version: "v2-a", percent: 33), VersionWeight(version: "v2-\"b\u{202e}", percent: 33)]),
                                     RolloutStep(weight: 100, pause: .seconds(0), weights: [VersionWeight(version: "v1", percent: 0), VersionWeight(version: "v2-a", percent: 50), VersionWeight(version: "v2-\"b\u{202e}", percent: 50)])],
                             moreCandidates: [VersionRef(name: "v2-\"b\u{202e}", commit: "b")])
        s.candidatesOut = ["v2-\"b\u{202e}"]
        s.candidateBlocks = ["v2-a": (0..<300).map { JudgeBlock(at: Timestamp(seconds: 1_800_000_000 + Double($0)), canaryRequests: $0, canaryErrors: $0 % 5, baseRequests: 3 * $0, baseErrors: $0 % 7, canarySlow: $0, baseSlow: 2 * $0) },
                             "v2-\"b\u{202e}": [JudgeBlock(at: nil, canaryRequests: 1, canaryErrors: 0, baseRequests: 2, baseErrors: 0)]]
        var stats = LatencyStats()
        for i in 0..<95 { stats.add(MetricsSample(version: "v1", requests: 10, errors: 0, p50: 40 + Double(i % 7), p99: 120 + Double(i % 5), window: 1)) }
        s.latencyStats = ["v1": stats]
        let line = Wire.ServerMessage.snapshot(s).line
        XCTAssertFalse(line.unicodeScalars.contains { $0.value == 0x202e }, "bidi controls are escaped")
        guard case let .snapshot(back) = try Wire.ServerMessage.decode(line) else { return XCTFail("not a snapshot") }
        XCTAssertEqual(back, s)
    }

    func testServerMessagesRoundTrip() throws {
        let w = Wire.Welcome(deploy: "d", who: "alice@10.0.0.1", role: .viewer, now: Timestamp(seconds: 7), speed: 2, label: "run", judge: CanaryJudge(), bell: false)
        let e = DeployEvent(seq: 3, ts: Timestamp(seconds: 9), deploy: "d", payload: .chatMessage(from: "b", text: "hi\u{85}\u{202e}"))
        for m in [Wire.ServerMessage.welcome(w), .event(e), .ack(id: 4), .refused(id: 5, reason: "no"), .closing(reason: "bye")] {
            XCTAssertEqual(try Wire.ServerMessage.decode(m.line), m)
        }
        // C1 and bidi controls in an event reach the wire as \u escapes, never raw.
        XCTAssertTrue(Wire.ServerMessage.event(e).line.contains("\\u0085\\u202e"), Wire.ServerMessage.event(e).line)
    }

    func testClientLinesAreCheckedFieldByField() throws {
        func reason(_ line: String) -> String {
            do { _ = try Wire.ClientMessage.decode(Array(line.utf8)); return "accepted" } catch { return error.message }
        }
        let hello = Wire.ClientMessage.hello(Wire.Hello(name: "alice", role: .operator, kind: .cli, token: "t"))
        XCTAssertEqual(try Wire.ClientMessage.decode(Array(hello.line.utf8)), hello)
        // A one-shot command gets no live events unless it asks; a dashboard gets them.
        XCTAssertFalse(Wire.Hello(name: "a", role: .operator, kind: .cli).events)
        XCTAssertTrue(Wire.Hello(name: "a", role: .viewer, kind: .dashboard).events)
        let watching = Wire.ClientMessage.hello(Wire.Hello(name: "a", role: .viewer, kind: .cli, events: true))
        XCTAssertEqual(try Wire.ClientMessage.decode(Array(watching.line.utf8)), watching)
        XCTAssertEqual(reason("{\"type\":\"hello\",\"version\":1,\"name\":\"a\",\"events\":\"yes\"}"), "hello: \"events\" must be true or false")
        // An ingest batch and its answer round-trip; a batch over the limit is refused.
        let batch = Wire.ClientMessage.ingestBatch(id: 3, events: [IngestItem(line: 2, type: "stage.output", data: .object([("stage", .string("build")), ("line", .string("ok"))]))],
                                                   refused: [LineRefusal(line: 1, reason: "not JSON")])
        XCTAssertEqual(try Wire.ClientMessage.decode(Array(batch.line.utf8)), batch)
        let answer = Wire.ServerMessage.ingested(id: 3, accepted: 1, refused: [LineRefusal(line: 4, reason: "no stage")])
        XCTAssertEqual(try Wire.ServerMessage.decode(answer.line), answer)
        let tooMany = "{\"type\":\"ingest\",\"id\":1,\"events\":[" + Array(repeating: "{\"line\":1,\"event\":{\"type\":\"stage.output\"}}", count: Wire.maxBatch + 1).joined(separator: ",") + "]}"
        XCTAssertEqual(reason(tooMany), "ingest: \"events\" must be a list of at most \(Wire.maxBatch)")
        XCTAssertEqual(reason("{\"type\":\"ingest\",\"id\":1,\"events\":[{\"event\":{\"type\":\"x\"}}]}"), "missing or bad \"line\" (a whole number, 0 to 2^53)")
        let cmd = Wire.ClientMessage.command(id: 9, action: .revert, text: "p99 doubled")
        XCTAssertEqual(try Wire.ClientMessage.decode(Array(cmd.line.utf8)), cmd)
        let stop = Wire.ClientMessage.stop(id: 1, traffic: .pause, reason: nil)
        XCTAssertEqual(try Wire.ClientMessage.decode(Array(stop.line.utf8)), stop)
        XCTAssertEqual(reason("[]"), "a message must be a JSON object")
        XCTAssertEqual(reason("{\"type\":\"hello\",\"name\":\"a\"}"), "hello: missing \"version\" (this server speaks 1)")
        XCTAssertEqual(reason("{\"type\":\"hello\",\"version\":1,\"name\":\"al ice\"}"), "hello: \"name\" must be 1 to 64 letters, digits, '.', '_' or '-'")
        XCTAssertEqual(reason("{\"type\":\"hello\",\"version\":1,\"name\":\"a\",\"role\":\"root\"}"), "hello: \"role\" must be viewer or operator")
        XCTAssertEqual(reason("{\"type\":\"command\",\"id\":1.5,\"action\":\"promote\"}"), "missing or bad \"id\" (a whole number, 0 to 2^53)")
        XCTAssertEqual(reason("{\"type\":\"command\",\"id\":1,\"action\":\"promote\",\"text\":5}"), "\"text\" must be a string")
        XCTAssertEqual(reason("{\"type\":\"stop\",\"id\":1,\"traffic\":\"nuke\"}"), "stop: \"traffic\" must be leave, pause or revert")
        XCTAssertEqual(reason("{\"type\":\"\\u001b]0;pwned\\u0007\"}"), "unknown \"type\" \"^[]0;pwned^G\" (hello, command, resync, stop or ingest)")
        XCTAssertTrue(reason(String(repeating: " ", count: Wire.maxClientLineBytes + 1)).hasPrefix("line longer than"))
        XCTAssertTrue(reason("{\"type\":\"command\",\"id\":1,\"action\":\"say\",\"text\":\"\(String(repeating: "x", count: 2001))\"}").contains("longer than 2000"))
    }

    func testTokensCompareWholeAndEmptyNeverMatches() {
        XCTAssertTrue(Wire.tokensMatch("abc", "abc"))
        XCTAssertFalse(Wire.tokensMatch("abd", "abc"))
        XCTAssertFalse(Wire.tokensMatch("ab", "abc"))
        XCTAssertFalse(Wire.tokensMatch("abcd", "abc"))
        XCTAssertFalse(Wire.tokensMatch(nil, "abc"))
        XCTAssertFalse(Wire.tokensMatch("", ""))
    }
}
