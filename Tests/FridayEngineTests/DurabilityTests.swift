import FridayCore
import FridayEngine
import FridayIntegrations
import FridayTesting
import Foundation
import Synchronization
import XCTest

/// The log's writes and syncs, seen through the injected file system: every write and every
/// sync per descriptor, and, on demand, a sync that fails with EIO.
final class WatchedFileSystem: LogFileSystem {
    struct Books: Sendable {
        var written: [Int32: [UInt8]] = [:]
        /// Bytes of each descriptor that were on disk at its last successful sync.
        var synced: [Int32: Int] = [:]
        /// Newlines among each descriptor's synced bytes.
        var syncedNewlines: [Int32: Int] = [:]
        var dataSyncs = 0
        var fullSyncs = 0
        /// After this many successful `fdatasync` calls, each one fails with EIO.
        var failDataSyncAfter = Int.max

        mutating func markSynced(_ fd: Int32) {
            let bytes = written[fd] ?? []
            let from = synced[fd] ?? 0
            syncedNewlines[fd, default: 0] += bytes[from...].reduce(0) { $0 + ($1 == 0x0A ? 1 : 0) }
            synced[fd] = bytes.count
        }
    }
    let books = Mutex(Books())


    func write(_ fd: Int32, _ bytes: UnsafeRawBufferPointer) -> Int {
        let n = Glibc.write(fd, bytes.baseAddress, bytes.count)
        if n > 0 { books.withLock { $0.written[fd, default: []].append(contentsOf: bytes[0..<n]) } }
        return n
    }
    func dataSync(_ fd: Int32) -> Int32 {
        let fail = books.withLock { b -> Bool in
            if b.dataSyncs >= b.failDataSyncAfter { return true }
            b.dataSyncs += 1
            b.markSynced(fd)
            return false
        }
        if fail { errno = EIO; return -1 }
        return fdatasync(fd)
    }
    func fullSync(_ fd: Int32) -> Int32 {
        books.withLock { b in b.fullSyncs += 1; b.markSynced(fd) }
        return fsync(fd)
    }
    /// Complete lines of the log (the descriptor `fdatasync` is called on) that were synced.
    func syncedLines() -> Int {
        books.withLock { b in
            guard let fd = b.synced.keys.max(by: { (b.written[$0]?.count ?? 0) < (b.written[$1]?.count ?? 0) }) else { return 0 }
            return b.syncedNewlines[fd] ?? 0
        }
    }
}

final class DurabilityTests: XCTestCase {
    var dir: String!
    let base = SimulationSettings.fridayAfternoon

    override func setUpWithError() throws {
        dir = NSTemporaryDirectory() + "friday-durability-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    }
    override func tearDownWithError() throws { try? FileManager.default.removeItem(atPath: dir) }

    func engine(_ log: EventLog, scenario: Scenario = .good, clock: ManualClock, fatal: LinesBox? = nil) -> Engine {
        let settings = SimulationSettings(scenario: scenario, seed: 5)
        return Engine(deployID: "d", clock: clock, router: SimulatedRouter(), metrics: SimulatedTraffic(settings: settings),
                      sources: [SimulatedDeploy(settings: settings)], log: log, onFatal: { fatal?.append($0) })
    }

    /// Every event is on disk (its line synced) before any subscriber hears of it, and each
    /// durable event costs exactly one `fdatasync` of its own; batched events (samples, stage
    /// output) share one per operation. A missing or misplaced sync fails this test.
    func testEveryEventIsSyncedBeforeAnyoneHearsOfItAndEachDurableOneHasItsOwnSync() async throws {
        let fs = WatchedFileSystem()
        let (log, _) = try EventLog.open(path: dir + "/d.jsonl", fileSystem: fs)
        let clock = ManualClock(base)
        let e = engine(log, clock: clock)
        struct Seen: Sendable { var problems: [String] = []; var durable = 0; var groups = Set<Int>(); var lastDurableSync = 0 }
        let seen = Mutex(Seen())
        await e.addSink { ev in
            let syncs = fs.books.withLock { $0.dataSyncs }
            let lines = fs.syncedLines()
            seen.withLock { s in
                // The log began empty, so event `seq` is line `seq` (0-based).
                if ev.seq >= lines { s.problems.append("\(ev.seq) \(ev.payload.type) published before its line was synced") }
                s.groups.insert(syncs)
                if EventLog.isDurable(ev) {
                    s.durable += 1
                    if syncs <= s.lastDurableSync { s.problems.append("\(ev.seq) \(ev.payload.type) shares a sync with the durable event before it") }
                    s.lastDurableSync = syncs
                }
            }
        }
        for t in 0...400 {
            clock.set(base + Double(t))
            await e.advance(to: base + Double(t))
            if t == 100 { _ = await e.send(Command(.say, by: "lee", text: "synced?")) }
        }
        log.close()
        let s = seen.withLock { $0 }
        XCTAssertEqual(s.problems, [])
        let syncs = fs.books.withLock { $0.dataSyncs }
        XCTAssertGreaterThan(s.durable, 20, "the deploy ran its steps")
        // Every sync is one that something published waited for (plus the one at close).
        XCTAssertEqual(syncs, s.groups.count + 1, "no sync that nothing waited for")
        XCTAssertLessThanOrEqual(syncs - s.durable, 402, "batched samples add at most one sync per second of the deploy")
        print("sync calls: \(syncs) fdatasync for \(s.durable) durable events (1 each) and \(syncs - s.durable - 1) batches of samples over 401 s, 1 at close")
    }

    /// A disk that refuses to sync (EIO from fdatasync, not a write error): the engine stops,
    /// publishes nothing that is not on disk, and refuses commands with the reason.
    func testASyncThatFailsStopsTheEngineAndNothingUnsyncedIsAcknowledged() async throws {
        let fs = WatchedFileSystem()
        let (log, _) = try EventLog.open(path: dir + "/d.jsonl", fileSystem: fs)
        let clock = ManualClock(base)
        let fatal = LinesBox()
        let e = engine(log, clock: clock, fatal: fatal)
        let heard = Mutex<[Int]>([])
        await e.addSink { ev in if EventLog.isDurable(ev) { heard.withLock { $0.append(ev.seq) } } }
        for t in 0...30 { clock.set(base + Double(t)); await e.advance(to: base + Double(t)) }
        let before = heard.withLock { $0 }
        XCTAssertGreaterThan(before.count, 3)
        fs.books.withLock { $0.failDataSyncAfter = $0.dataSyncs }
        let decision = await e.send(Command(.say, by: "lee", text: "is this on disk?"))
        for t in 31...60 { clock.set(base + Double(t)); await e.advance(to: base + Double(t)) }
        let reason = await e.fatal
        XCTAssertEqual(reason, dir + "/d.jsonl: cannot sync to disk: Input/output error")
        XCTAssertEqual(fatal.lines, [reason!])
        XCTAssertNotNil(decision.refusal, "the command whose line could not be synced is not acknowledged")
        XCTAssertEqual(heard.withLock { $0 }, before, "nothing was published after the failed sync")
        let later = await e.send(Command(.promote, by: "lee"))
        XCTAssertEqual(later.refusal, "the engine stopped: \(reason!)")
        log.close()
    }

    /// Runs a logged deploy with a snapshot every `every` events; returns the log's path.
    func recorded(_ name: String, every: Int = 50, seconds: Int = 300) async throws -> String {
        let path = dir + "/" + name
        let (log, _) = try EventLog.open(path: path, snapshotEvery: every)
        let clock = ManualClock(base)
        let e = engine(log, clock: clock)
        for t in 0...seconds {
            clock.set(base + Double(t)); await e.advance(to: base + Double(t))
            if t % 40 == 0 { _ = await e.send(Command(.say, by: "lee", text: "note \(t)")) }
        }
        log.close()
        return path
    }

    func snapshotOffset(_ path: String) throws -> Int {
        let data = try XCTUnwrap(FileManager.default.contents(atPath: EventLog.snapshotPath(path)))
        let json = try XCTUnwrap(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        return try XCTUnwrap(json["offset"] as? Int)
    }

    func foldAll(_ path: String) throws -> DeployState {
        let (events, problem) = try EventLog.readEvents(path: path)
        XCTAssertNil(problem)
        var s = DeployState()
        for e in events { Reducer.reduce(&s, e) }
        return s
    }

    func testASnapshotOfALongerLogIsStaleAndTheWholeLogIsRead() async throws {
        let path = try await recorded("cut.jsonl")
        let offset = try snapshotOffset(path)
        // Cut the log the way the corrupt-line message advises (head -n), before the snapshot.
        let lines = try String(contentsOfFile: path, encoding: .utf8).split(separator: "\n")
        var kept = 0, cut = 0
        for l in lines { if kept + l.utf8.count + 1 > offset - 2000 { break }; kept += l.utf8.count + 1; cut += 1 }
        try (lines.prefix(cut).joined(separator: "\n") + "\n").write(toFile: path, atomically: false, encoding: .utf8)
        let (log, rec) = try EventLog.open(path: path)
        log.close()
        XCTAssertFalse(rec.usedSnapshot)
        XCTAssertEqual(rec.snapshotProblem?.hasPrefix("the snapshot is of a longer log (byte \(offset)"), true, rec.snapshotProblem ?? "nil")
        XCTAssertEqual(rec.state.lastSeq, cut - 1)
        XCTAssertEqual(rec.state, try foldAll(path))
    }

    func testASnapshotWhoseLogChangedBeforeItsOffsetIsNotUsed() async throws {
        let path = try await recorded("edited.jsonl")
        let offset = try snapshotOffset(path)
        // Rewrite one chat line before the offset as a different line that still checks (its
        // CRC recomputed, same length): only the snapshot's CRC of the prefix can tell.
        let text = try String(contentsOfFile: path, encoding: .utf8)
        var lines = text.split(separator: "\n").map(String.init)
        let i = try XCTUnwrap(lines.firstIndex { $0.contains("\"note 40\"") })
        XCTAssertLessThan(lines.prefix(i + 1).reduce(0) { $0 + $1.utf8.count + 1 }, offset)
        var e = try EventLog.event(fromLine: Array(lines[i].utf8))
        e.payload = .chatMessage(from: "lee", text: "NOTE 40")
        lines[i] = EventLog.line(for: e)
        try (lines.joined(separator: "\n") + "\n").write(toFile: path, atomically: false, encoding: .utf8)
        let (log, rec) = try EventLog.open(path: path)
        log.close()
        XCTAssertFalse(rec.usedSnapshot)
        XCTAssertEqual(rec.snapshotProblem?.contains("is not what the snapshot saw"), true, rec.snapshotProblem ?? "nil")
        XCTAssertTrue(rec.state.log.contains { $0.text.contains("NOTE 40") }, "the state is the log's, not the snapshot's")
        XCTAssertEqual(rec.state, try foldAll(path))
    }

    func testADamagedLineBeforeTheSnapshotIsReportedAtStartAndNothingIsChanged() async throws {
        let path = try await recorded("flipped.jsonl")
        let offset = try snapshotOffset(path)
        var bytes = try XCTUnwrap(FileManager.default.contents(atPath: path))
        // One byte flipped in a line's JSON well before the snapshot's offset: the `v` of
        // `{"v":1,…` at the start of the line holding the middle byte (never the CRC's hex,
        // where a changed letter case could still read as the same number).
        let lineStart = (bytes[..<(offset / 2)].lastIndex(of: 0x0A) ?? -1) + 1
        let at = lineStart + 2
        XCTAssertEqual(bytes[at], UInt8(ascii: "v"))
        bytes[at] ^= 0x20
        try bytes.write(to: URL(fileURLWithPath: path))
        let lineNo = bytes.prefix(at).filter { $0 == 0x0A }.count + 1
        XCTAssertThrowsError(try EventLog.open(path: path)) { error in
            let e = error as! LogError
            XCTAssertEqual(e.line, lineNo, e.description)
            XCTAssertTrue(e.message.contains("corrupt line in the middle of the log"), e.description)
        }
        XCTAssertEqual(FileManager.default.contents(atPath: path), bytes, "nothing was changed")
    }

    func testADamagedLastLineCoveredByTheSnapshotIsDamageNotATornWrite() async throws {
        let path = try await recorded("lastline.jsonl")
        let offset = try snapshotOffset(path)
        // Keep the log up to the snapshot's offset only, then damage its last line.
        var bytes = try XCTUnwrap(FileManager.default.contents(atPath: path)).prefix(offset)
        bytes[offset - 10] ^= 0x01
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        XCTAssertThrowsError(try EventLog.open(path: path)) { error in
            XCTAssertTrue((error as! LogError).message.contains("damaged after it was written, not torn"), "\(error)")
        }
        XCTAssertEqual(FileManager.default.contents(atPath: path), Data(bytes), "nothing was cut")
        XCTAssertFalse(FileManager.default.fileExists(atPath: EventLog.brokenPath(path)))
    }

    func testASnapshotThatMatchesIsUsedAndTheStateIsTheFullFolds() async throws {
        let path = try await recorded("ok.jsonl")
        let (log, rec) = try EventLog.open(path: path)
        log.close()
        XCTAssertTrue(rec.usedSnapshot)
        XCTAssertNil(rec.snapshotProblem)
        XCTAssertEqual(rec.state, try foldAll(path))
    }

    /// CRC-32 carried across pieces equals the CRC of the whole, byte at a time or 8 at once.
    func testCRCCarriedAcrossWritesEqualsTheWholes() {
        var rng = SeededGenerator(seed: 9)
        for _ in 0..<200 {
            let bytes = (0..<Int(rng.next() % 300)).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
            let cut = bytes.isEmpty ? 0 : Int(rng.next() % UInt64(bytes.count))
            let whole = CRC32.checksum(bytes)
            XCTAssertEqual(CRC32.update(CRC32.checksum(bytes[..<cut]), bytes[cut...]), whole)
            XCTAssertEqual(CRC32.checksum(AnySequenceCollection(bytes)), whole, "the byte-at-a-time path")
        }
    }
}

/// A collection without contiguous storage, to take CRC32's byte-at-a-time path.
struct AnySequenceCollection: Collection {
    let base: [UInt8]
    init(_ b: [UInt8]) { base = b }
    var startIndex: Int { 0 }
    var endIndex: Int { base.count }
    func index(after i: Int) -> Int { i + 1 }
    subscript(i: Int) -> UInt8 { base[i] }
}
