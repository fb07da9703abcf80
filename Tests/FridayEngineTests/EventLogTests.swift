import FridayCore
import FridayEngine
import FridayIntegrations
import FridayTesting
import Foundation
import XCTest

final class EventLogTests: XCTestCase {
    var dir: String!

    override func setUpWithError() throws {
        dir = NSTemporaryDirectory() + "friday-log-tests-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws { try? FileManager.default.removeItem(atPath: dir) }

    let base = SimulationSettings.fridayAfternoon

    /// Runs a logged simulated deploy for `seconds`; returns the engine's final state.
    func runLogged(_ path: String, scenario: Scenario = .good, seconds: Double, from: Double = 0, snapshotEvery: Int = 10_000,
                   until: (@Sendable (DeployState) -> Bool)? = nil) async throws -> DeployState {
        let (log, rec) = try EventLog.open(path: path, snapshotEvery: snapshotEvery)
        let settings = SimulationSettings(scenario: scenario, seed: 3)
        let clock = ManualClock(base + from)
        let engine = Engine(deployID: "d", clock: clock, router: SimulatedRouter(), metrics: SimulatedTraffic(settings: settings),
                            sources: [SimulatedDeploy(settings: settings)], log: log)
        if rec.state.phase != .idle {
            await engine.restore(rec.state)
            await engine.resumeAfterRestart()
        }
        var t = from
        while t <= from + seconds {
            clock.set(base + t)
            await engine.advance(to: base + t)
            if let until, until(await engine.state) { break }
            t += 1
        }
        log.close()
        return await engine.state
    }

    func testLinesCarryAChecksumAndReadBack() throws {
        let e = DeployEvent(seq: 0, ts: base, deploy: "d", payload: .chatMessage(from: "lee", text: "hi \"there\""))
        let line = EventLog.line(for: e)
        XCTAssertTrue(line.hasPrefix(e.jsonLine.dropLast() + ",\"crc\":\""), line)
        XCTAssertEqual(try EventLog.event(fromLine: Array(line.utf8)), e)
        var changed = Array(line.utf8)
        changed[changed.firstIndex(of: UInt8(ascii: "h"))!] = UInt8(ascii: "H")
        XCTAssertThrowsError(try EventLog.event(fromLine: changed)) { XCTAssertTrue(($0 as! EventDecodingError).message.hasPrefix("checksum mismatch")) }
    }

    func testReplayReproducesTheLiveState() async throws {
        let path = dir + "/a.jsonl"
        let live = try await runLogged(path, seconds: 400)
        XCTAssertEqual(live.outcome, .promoted)
        let (events, problem) = try EventLog.readEvents(path: path)
        XCTAssertNil(problem)
        var replayed = DeployState()
        for e in events { Reducer.reduce(&replayed, e) }
        XCTAssertEqual(replayed, live)
        let (_, rec) = try EventLog.open(path: path)
        XCTAssertEqual(rec.state, live)
        XCTAssertEqual(rec.eventsRead, events.count)
    }

    func testSnapshotsGiveTheSameStateWithoutFoldingEveryLine() async throws {
        let path = dir + "/s.jsonl"
        let live = try await runLogged(path, seconds: 300, snapshotEvery: 100)
        let (_, withSnap) = try EventLog.open(path: path)
        XCTAssertTrue(withSnap.usedSnapshot)
        XCTAssertLessThan(withSnap.eventsRead, 100)
        XCTAssertEqual(withSnap.state, live)
        try FileManager.default.removeItem(atPath: EventLog.snapshotPath(path))
        let (_, without) = try EventLog.open(path: path)
        XCTAssertFalse(without.usedSnapshot)
        XCTAssertEqual(without.state, live)
    }

    func testATornTailIsCutAndKeptAside() async throws {
        let path = dir + "/t.jsonl"
        _ = try await runLogged(path, seconds: 120)
        let whole = try Data(contentsOf: URL(fileURLWithPath: path))
        let lines = whole.split(separator: 0x0A)
        // Cut in the middle of the last line, as a crash during a write would.
        let cut = whole.count - lines.last!.count / 2 - 1
        try whole.prefix(cut).write(to: URL(fileURLWithPath: path))
        let (log, rec) = try EventLog.open(path: path)
        log.close()
        XCTAssertEqual(rec.setAside, 1)
        XCTAssertEqual(rec.eventsRead, lines.count - 1)
        XCTAssertEqual(rec.brokenPath, path + ".broken")
        let broken = try String(contentsOfFile: path + ".broken", encoding: .utf8)
        XCTAssertTrue(String(decoding: lines.last!, as: UTF8.self).hasPrefix(broken.trimmingCharacters(in: .newlines)))
        // The log now ends at the last good line, and appending goes on from there.
        let (events, problem) = try EventLog.readEvents(path: path)
        XCTAssertNil(problem)
        XCTAssertEqual(events.count, lines.count - 1)
        let resumed = try await runLogged(path, seconds: 300, from: 121)
        XCTAssertEqual(resumed.outcome, .promoted)
        XCTAssertTrue(resumed.log.contains { $0.text.hasPrefix("friday restarted after") })
    }

    func testACorruptLineInTheMiddleIsReportedNotSkipped() async throws {
        let path = dir + "/c.jsonl"
        _ = try await runLogged(path, seconds: 60)
        var text = try String(contentsOfFile: path, encoding: .utf8)
        let target = text.range(of: "\"seq\":10,")!
        text.replaceSubrange(target, with: "\"seq\":99,")
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        let before = try Data(contentsOf: URL(fileURLWithPath: path))
        XCTAssertThrowsError(try EventLog.open(path: path)) { error in
            let e = error as! LogError
            XCTAssertEqual(e.line, 11)
            XCTAssertTrue(e.message.hasPrefix("corrupt line in the middle of the log (checksum mismatch"), e.message)
            XCTAssertTrue(e.description.hasPrefix(path + ":11: "))
        }
        XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: path)), before, "nothing was changed")
        let (events, problem) = try EventLog.readEvents(path: path)
        XCTAssertEqual(events.count, 10)
        XCTAssertEqual(problem?.line, 11)
    }

    func testADeployKilledDuringAPauseResumesWithTheRightStepAndTimeLeft() async throws {
        let path = dir + "/r.jsonl"
        // Run until 10 s into the 45 s pause of step 2 (5%), then stop as if killed.
        let before = try await runLogged(path, seconds: 400, until: { s in
            s.stepIndex == 1 && s.stepStartedAt != nil && s.lastEventAt! - s.stepStartedAt! >= 10
        })
        XCTAssertEqual(before.stepIndex, 1)
        let left = before.pauseRemaining(at: before.lastEventAt!)!
        XCTAssertEqual(left, 35, accuracy: 0.001)
        let stoppedAt = before.lastEventAt! - base
        // Down for 10 minutes: the pause does not run while nobody watches it.
        let after = try await runLogged(path, seconds: 0, from: stoppedAt + 600)
        XCTAssertEqual(after.stepIndex, 1)
        XCTAssertEqual(after.canaryPercent, 5, "router reconciled to the step's weight")
        XCTAssertEqual(after.pauseRemaining(at: after.lastEventAt!)!, left, accuracy: 0.001)
        XCTAssertEqual(after.log.last { $0.who == "engine" }?.text, "friday restarted after 10m00s down; the pause goes on with 35s left")
        // And it moves on 35 s later.
        let later = try await runLogged(path, seconds: 40, from: stoppedAt + 601, until: { $0.stepIndex == 2 })
        XCTAssertEqual(later.stepIndex, 2)
        XCTAssertEqual(later.stepStartedAt! - base, stoppedAt + 600 + 35, accuracy: 1.001)
    }

    func testASyncErrorStopsTheEngineInsteadOfPretending() async throws {
        // /dev/full takes the open and refuses every write with ENOSPC.
        let (log, _) = try EventLog.open(path: "/dev/full")
        let settings = SimulationSettings(scenario: .good, seed: 1)
        let clock = ManualClock(base)
        let stopped = LinesBox()
        let engine = Engine(deployID: "d", clock: clock, router: SimulatedRouter(), metrics: SimulatedTraffic(settings: settings),
                            sources: [SimulatedDeploy(settings: settings)], log: log, onFatal: { stopped.append($0) })
        let heard = LinesBox()
        await engine.addSink { heard.append($0.jsonLine) }
        await engine.advance(to: base)
        let fatal = await engine.fatal
        XCTAssertEqual(fatal, "/dev/full: cannot write: No space left on device; nothing after byte 0 is recorded")
        XCTAssertEqual(stopped.lines, [fatal!])
        XCTAssertEqual(heard.lines, [], "nothing is published that is not on disk")
        let decision = await engine.send(Command(.say, by: "lee", text: "hello?"))
        XCTAssertEqual(decision.refusal, "the engine stopped: \(fatal!)")
    }

    func testAnEngineKilledAtRandomMomentsLosesNoAcknowledgedLine() throws {
        let bin = fridayBinary()
        var rng = SeededGenerator(seed: 42)
        var tornSeen = 0
        for round in 0..<12 {
            let path = dir + "/k\(round).jsonl"
            let out = dir + "/k\(round).out"
            // A writer that prints `ack SEQ` once each durable line is synced.
            let pid = try spawn(bin, ["bench", "log", "--events", "5000000", "--pattern", "2000", "--durable-every", "7", "--ack", "--path", path], stdout: out)
            // Once it is writing, kill it at a random moment.
            let deadline = Date().addingTimeInterval(30)
            while Date() < deadline, ((try? FileManager.default.attributesOfItem(atPath: out)[.size] as? Int) ?? 0) == 0 { usleep(10_000) }
            usleep(UInt32(rng.next() % 400_000))
            kill(pid, SIGKILL)
            var status: Int32 = 0
            waitpid(pid, &status, 0)
            let acked = (try? String(contentsOfFile: out, encoding: .utf8))?.split(separator: "\n").compactMap { Int($0.dropFirst(4)) } ?? []
            let (log, rec) = try EventLog.open(path: path)
            log.close()
            if rec.setAside > 0 { tornSeen += 1 }
            XCTAssertGreaterThan(acked.count, 0, "round \(round): the writer got going")
            XCTAssertGreaterThanOrEqual(rec.state.lastSeq, acked.max() ?? -1, "round \(round): an acknowledged line was lost")
            let (events, problem) = try EventLog.readEvents(path: path)
            XCTAssertNil(problem, "round \(round): after recovery the log reads clean")
            XCTAssertEqual(events.count, rec.state.lastSeq + 1)
        }
        print("kill -9 rounds: 12, torn tails recovered: \(tornSeen)")
    }

    func spawn(_ path: String, _ args: [String], stdout: String) throws -> pid_t {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 1, stdout, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0)
        let argv = ([path] + args).map { strdup($0) } + [nil]
        defer { for a in argv { free(a) } }
        var pid: pid_t = 0
        guard posix_spawn(&pid, path, &actions, nil, argv, environ) == 0 else { throw TmuxError(message: "cannot start \(path)") }
        return pid
    }

    /// The standard check value of CRC-32 (IEEE 802.3, reflected, as zlib and PNG use it):
    /// a table or polynomial mistake would still round-trip within friday and never show.
    func testCRC32MatchesTheStandardCheckValue() {
        XCTAssertEqual(CRC32.checksum(Array("123456789".utf8)), 0xCBF4_3926)
        XCTAssertEqual(CRC32.hex(CRC32.checksum(Array("123456789".utf8))), "cbf43926")
        XCTAssertEqual(CRC32.checksum([UInt8]()), 0)
        XCTAssertEqual(CRC32.checksum(Array("The quick brown fox jumps over the lazy dog".utf8)), 0x414F_A339)
    }
}
