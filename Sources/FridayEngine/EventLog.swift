import Foundation
import FridayCore

/// The durable event log of one deploy: append-only JSON lines, one writer.
///
/// Each line is the event's JSON with a last field `"crc"`: the CRC-32 of the line as it
/// would be without that field, so `jq` reads the file as it is. Commands and state
/// transitions are written and `fsync`ed before `append` returns; metric samples and stage
/// output are gathered and written with the next durable event or every 100 of them, and
/// synced with the next durable event or at least once a second.
///
/// Opening reads the log back: a torn or corrupt tail (bad lines with no good line after
/// them) is cut off and kept as `NAME.broken`; a bad line followed by good ones is an error
/// that names the line, and nothing is changed. A snapshot of the state (`NAME.snapshot`,
/// every `snapshotEvery` events) lets a long log open without folding every line again; it
/// carries the CRC-32 of the log before its offset, so a stale snapshot or a line damaged
/// before the offset is found at start (the whole log is then read and checked).
/// Writes and syncs go through a `LogFileSystem`, so tests can count and fail them.
public final class EventLog: @unchecked Sendable {
    public let path: String
    public let snapshotEvery: Int
    private var fd: Int32
    private var pending: [UInt8] = []
    private var pendingCount = 0
    private var sinceSnapshot = 0
    private var unsynced = 0
    private var lastSync = ContinuousClock.now
    private var offset: Int
    /// The CRC-32 of every byte written so far (the file from its start to `offset`), kept in
    /// each snapshot so opening can tell that the log before the snapshot is what it saw.
    private var prefixCRC: UInt32
    private let fs: any LogFileSystem
    /// Set after a failed write or sync: the log refuses further appends.
    public private(set) var failure: LogError?

    /// What opening found.
    public struct Recovery: Sendable {
        /// The state folded from the log (from the snapshot, then the lines after it).
        public var state: DeployState
        /// Events read from lines (all of them without a snapshot, the tail with one).
        public var eventsRead: Int
        /// Lines cut off the end and kept in `brokenPath`.
        public var setAside: Int
        public var brokenPath: String?
        public var usedSnapshot: Bool
        /// Why a snapshot was there but not used (stale, or the log before it changed); the
        /// whole log was then read and checked.
        public var snapshotProblem: String?
    }

    public static func snapshotPath(_ path: String) -> String { path + ".snapshot" }
    /// Who holds the log's lock (pid, host, since when), written when the lock is taken.
    public static func lockInfoPath(_ path: String) -> String { path + ".lock" }

    static func writeLockInfo(_ path: String) {
        var hostBytes = [CChar](repeating: 0, count: 256)
        gethostname(&hostBytes, 255)
        let host = String(decoding: hostBytes.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        let since = Timestamp(seconds: Date().timeIntervalSince1970).rfc3339
        let text = "pid \(getpid()) on \(host) since \(since)\n"
        let fd = Glibc.open(lockInfoPath(path), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard fd >= 0 else { return }
        _ = text.withCString { Glibc.write(fd, $0, strlen($0)) }
        Glibc.close(fd)
    }
    public static func brokenPath(_ path: String) -> String { path + ".broken" }

    private init(path: String, fd: Int32, offset: Int, prefixCRC: UInt32, snapshotEvery: Int, fs: any LogFileSystem) {
        self.path = path; self.fd = fd; self.offset = offset; self.prefixCRC = prefixCRC; self.snapshotEvery = snapshotEvery; self.fs = fs
    }

    deinit { if fd >= 0 { Glibc.close(fd) } }

    // MARK: lines

    /// The line written for `event` (without the newline).
    public static func line(for event: DeployEvent) -> String {
        var json = event.jsonLine
        let crc = CRC32.checksum(json.utf8)
        json.removeLast() // "}"
        json += ",\"crc\":\"\(CRC32.hex(crc))\"}"
        return json
    }

    static let crcSuffixLength = 18 // ,"crc":"xxxxxxxx"}

    /// Checks a line's checksum and reads its event.
    public static func event(fromLine bytes: some Collection<UInt8>) throws(EventDecodingError) -> DeployEvent {
        let line = Array(bytes)
        let n = line.count
        guard n > crcSuffixLength + 2 else { throw EventDecodingError("too short to be an event line") }
        let suffix = line[(n - crcSuffixLength)...]
        guard suffix.starts(with: Array(",\"crc\":\"".utf8)), line[n - 2] == UInt8(ascii: "\""), line[n - 1] == UInt8(ascii: "}"),
              let stored = UInt32(String(decoding: line[(n - 10)..<(n - 2)], as: UTF8.self), radix: 16)
        else { throw EventDecodingError("no checksum at the end of the line") }
        var body = Array(line[0..<(n - crcSuffixLength)])
        body.append(UInt8(ascii: "}"))
        guard CRC32.checksum(body) == stored else { throw EventDecodingError("checksum mismatch: the line was changed or only partly written") }
        let value: JSONValue
        do { value = try JSONValue.parse(bytes: body) } catch { throw EventDecodingError("not JSON: \(error.description)") }
        return try DeployEvent(json: value)
    }

    // MARK: opening

    /// Opens (or creates) the log at `path`, reads it back and readies it for appending.
    /// `fileSystem` is where its writes and syncs go (the real calls unless a test counts them).
    public static func open(path: String, snapshotEvery: Int = 10_000,
                            fileSystem fs: any LogFileSystem = SystemFileSystem()) throws(LogError) -> (EventLog, Recovery) {
        let dir = (path as NSString).deletingLastPathComponent
        if !dir.isEmpty { try? FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true) }
        let existed = access(path, F_OK) == 0
        let fd = Glibc.open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw LogError(path: path, line: nil, message: "cannot open: \(String(cString: strerror(errno)))") }
        // One writer per log, for the engine's whole life: the lock goes with the descriptor.
        if flock(fd, LOCK_EX | LOCK_NB) != 0 {
            let code = errno
            Glibc.close(fd)
            if code == EWOULDBLOCK {
                let holder = (try? String(contentsOfFile: lockInfoPath(path), encoding: .utf8))?.trimmingCharacters(in: .whitespacesAndNewlines)
                throw LogError(path: path, line: nil, message: """
                    another friday is running this deploy (\(TerminalText.neutralise(holder.map { $0.isEmpty ? "holder unknown" : $0 } ?? "holder unknown"))): \
                    only one engine may write its log. Watch it from that terminal, or stop it (SIGTERM) and run again.
                    """)
            }
            throw LogError(path: path, line: nil, message: "cannot lock: \(String(cString: strerror(code)))")
        }
        var st0 = stat()
        // An empty regular file (a device such as /dev/full in the tests is left as it is).
        let empty = fstat(fd, &st0) == 0 && st0.st_size == 0 && (st0.st_mode & S_IFMT) == S_IFREG
        // A new log's snapshot, if one was left behind (the log removed by hand), is not its own.
        if !existed || empty { unlink(snapshotPath(path)) }
        // A new file is on disk only once its directory entry is: sync the directory too (also
        // for an empty one, which a crash may have left between its creation and that sync).
        if empty, fs.fullSync(fd) != 0 || !syncDirectory(of: path, fs: fs) {
            let why = String(cString: strerror(errno))
            Glibc.close(fd)
            throw LogError(path: path, line: nil, message: "cannot sync the new log to disk: \(why)")
        }
        writeLockInfo(path)
        var state = DeployState()
        var start = 0
        var expectedSeq = 0
        var usedSnapshot = false
        var snapshotProblem: String?
        var crcBefore: UInt32 = 0
        // Bytes before this offset were synced whole when the snapshot was written: a bad line
        // there is damage, never a torn write, and is not cut off.
        var protectedUpTo = 0
        // With a snapshot whose offset ends a line, and the log before that offset still the
        // bytes the snapshot saw (their CRC), only the lines after it are read.
        if let snap = Snapshot.load(path: snapshotPath(path)), snap.offset > 0 {
            var st = stat()
            let size = fstat(fd, &st) == 0 ? Int(st.st_size) : 0
            var byte: UInt8 = 0
            if snap.offset > size {
                snapshotProblem = "the snapshot is of a longer log (byte \(snap.offset); the log has \(size) bytes): it is stale"
            } else if pread(fd, &byte, 1, off_t(snap.offset - 1)) != 1 || byte != 0x0A {
                snapshotProblem = "the snapshot's offset (byte \(snap.offset)) does not end a line of this log: it is stale"
            } else {
                let crc: UInt32
                do { crc = try crcOfFile(fd: fd, path: path, upTo: snap.offset) } catch { Glibc.close(fd); throw error }
                if crc != snap.prefixCRC {
                    snapshotProblem = "the log before the snapshot's offset (byte \(snap.offset)) is not what the snapshot saw: a line there changed, or the log was replaced"
                    protectedUpTo = snap.offset
                } else {
                    state = snap.state
                    start = snap.offset
                    expectedSeq = snap.state.lastSeq + 1
                    usedSnapshot = true
                    crcBefore = crc
                }
            }
        }
        let data: [UInt8]
        do { data = try readAll(fd: fd, path: path, from: start) } catch { Glibc.close(fd); throw error }
        // Offsets below are within `data`, which begins at file offset `start`.
        let fileBase = start
        start = 0
        // Walk the lines after `start`.
        var lineStart = start
        var lineNumber = fileBase == 0 ? 1 : expectedSeq + 1
        var firstBad: (offset: Int, line: Int, why: String)?
        var goodAfterBad = 0
        var read = 0
        var events: [DeployEvent] = []
        events.reserveCapacity(1024)
        var i = start
        while lineStart < data.count {
            while i < data.count, data[i] != 0x0A { i += 1 }
            let complete = i < data.count
            let slice = data[lineStart..<i]
            var ok = false
            var why = complete ? "" : "the last line is incomplete (torn write)"
            if complete {
                do {
                    let e = try event(fromLine: slice)
                    if firstBad != nil {
                        ok = true // after a bad line, any line that checks counts as good data that would be lost
                    } else if e.seq != expectedSeq {
                        why = "sequence number \(e.seq) where \(expectedSeq) was expected"
                    } else if let p = Reducer.problem(with: e, after: state) {
                        why = p + " (the line checks, but cannot follow the lines before it)"
                    } else {
                        ok = true
                        events.append(e)
                    }
                } catch { why = error.message }
            }
            if ok {
                if firstBad != nil { goodAfterBad += 1 } else {
                    expectedSeq += 1
                    read += 1
                    for e in events { Reducer.reduce(&state, e) }
                    events.removeAll(keepingCapacity: true)
                }
            } else if firstBad == nil {
                firstBad = (lineStart, lineNumber, why)
            }
            lineNumber += 1
            i += 1
            lineStart = i
        }
        for e in events { Reducer.reduce(&state, e) }
        var setAside = 0
        var broken: String?
        if let bad = firstBad {
            if goodAfterBad > 0 {
                Glibc.close(fd)
                let excerpt = String(decoding: data[bad.offset..<min(data.count, bad.offset + 120)].prefix { $0 != 0x0A }, as: UTF8.self)
                throw LogError(path: path, line: bad.line, message: """
                    corrupt line in the middle of the log (\(bad.why)), with \(goodAfterBad) good line(s) after it; nothing was changed. \
                    The line begins: \(TerminalText.neutralise(excerpt)). Keep a copy of the file, then cut it before line \(bad.line) \
                    (head -n \(bad.line - 1)) to go on from there.
                    """)
            }
            // A torn or corrupt tail: keep it aside, then cut it off. A writer batches at most
            // 100 events per write, so a longer bad tail is not a torn write: refuse it.
            if fileBase + bad.offset < protectedUpTo {
                Glibc.close(fd)
                throw LogError(path: path, line: bad.line, message: """
                    this line does not check (\(bad.why)) and lies before the snapshot's offset (byte \(protectedUpTo)), \
                    which was synced whole: it was damaged after it was written, not torn. Nothing was changed. \
                    Keep a copy of the file; if the log was replaced on purpose, remove \(snapshotPath(path)) and run again.
                    """)
            }
            let tail = Array(data[bad.offset...])
            setAside = tail.split(separator: 0x0A, omittingEmptySubsequences: true).count
            if setAside > 100 {
                Glibc.close(fd)
                throw LogError(path: path, line: bad.line, message: """
                    \(setAside) lines from here to the end do not check (\(bad.why)): that is not a torn write. \
                    Is this a friday event log? Nothing was changed.
                    """)
            }
            let bp = brokenPath(path)
            let bfd = Glibc.open(bp, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o644)
            guard bfd >= 0 else { Glibc.close(fd); throw LogError(path: bp, line: nil, message: "cannot keep the broken tail aside: \(String(cString: strerror(errno)))") }
            var t = tail
            if t.last != 0x0A { t.append(0x0A) }
            let wrote = t.withUnsafeBytes { fs.write(bfd, $0) }
            let synced = fs.fullSync(bfd)
            Glibc.close(bfd)
            // The set-aside tail's directory entry is on disk before the log is cut.
            guard wrote == t.count, synced == 0, syncDirectory(of: bp, fs: fs) else { Glibc.close(fd); throw LogError(path: bp, line: nil, message: "cannot keep the broken tail aside") }
            guard ftruncate(fd, off_t(fileBase + bad.offset)) == 0, fs.fullSync(fd) == 0 else {
                Glibc.close(fd); throw LogError(path: path, line: bad.line, message: "cannot cut the broken tail: \(String(cString: strerror(errno)))")
            }
            broken = bp
        }
        let end = fileBase + (firstBad?.offset ?? data.count)
        lseek(fd, off_t(end), SEEK_SET)
        let crc = data.withUnsafeBytes { CRC32.update(crcBefore, UnsafeRawBufferPointer(rebasing: $0[0..<(end - fileBase)])) }
        // A snapshot that did not match is gone once the whole log has been read: the next one
        // is written from this log (after `snapshotEvery` events).
        if snapshotProblem != nil { unlink(snapshotPath(path)) }
        let log = EventLog(path: path, fd: fd, offset: end, prefixCRC: crc, snapshotEvery: snapshotEvery, fs: fs)
        log.sinceSnapshot = read
        return (log, Recovery(state: state, eventsRead: read, setAside: setAside, brokenPath: broken, usedSnapshot: usedSnapshot,
                              snapshotProblem: snapshotProblem))
    }

    /// The CRC-32 of the file's first `upTo` bytes, read a megabyte at a time.
    static func crcOfFile(fd: Int32, path: String, upTo: Int) throws(LogError) -> UInt32 {
        var crc: UInt32 = 0
        var buf = [UInt8](repeating: 0, count: 1 << 20)
        var at = 0
        while at < upTo {
            let want = min(buf.count, upTo - at)
            let n = buf.withUnsafeMutableBytes { pread(fd, $0.baseAddress!, want, off_t(at)) }
            if n < 0 { if errno == EINTR { continue }; throw LogError(path: path, line: nil, message: "cannot read: \(String(cString: strerror(errno)))") }
            if n == 0 { break }
            crc = buf.withUnsafeBytes { CRC32.update(crc, UnsafeRawBufferPointer(rebasing: $0[0..<n])) }
            at += n
        }
        return crc
    }

    /// Syncs the directory holding `path`, so a file created or renamed there stays.
    static func syncDirectory(of path: String, fs: any LogFileSystem) -> Bool {
        var dir = (path as NSString).deletingLastPathComponent
        if dir.isEmpty { dir = "." }
        let dfd = Glibc.open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard dfd >= 0 else { return false }
        defer { Glibc.close(dfd) }
        // Some file systems refuse to sync a directory (EINVAL): nothing more can be done there.
        return fs.fullSync(dfd) == 0 || errno == EINVAL
    }

    /// Every event of a log, checked, for replay. Stops at the first bad line and says where.
    public static func readEvents(path: String) throws(LogError) -> (events: [DeployEvent], problem: LogError?) {
        let fd = Glibc.open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw LogError(path: path, line: nil, message: "cannot open: \(String(cString: strerror(errno)))") }
        defer { Glibc.close(fd) }
        let data = try readAll(fd: fd, path: path)
        var events: [DeployEvent] = []
        var state = DeployState()
        var lineNumber = 1
        for line in data.split(separator: 0x0A, omittingEmptySubsequences: false) {
            if line.isEmpty { lineNumber += 1; continue }
            do {
                let e = try event(fromLine: line)
                guard e.seq == events.count else {
                    return (events, LogError(path: path, line: lineNumber, message: "sequence number \(e.seq) where \(events.count) was expected"))
                }
                if let p = Reducer.problem(with: e, after: state) {
                    return (events, LogError(path: path, line: lineNumber, message: p))
                }
                Reducer.reduce(&state, e)
                events.append(e)
            } catch {
                return (events, LogError(path: path, line: lineNumber, message: error.message))
            }
            lineNumber += 1
        }
        return (events, nil)
    }

    static func readAll(fd: Int32, path: String, from: Int = 0) throws(LogError) -> [UInt8] {
        var st = stat()
        guard fstat(fd, &st) == 0 else { throw LogError(path: path, line: nil, message: "cannot stat: \(String(cString: strerror(errno)))") }
        var out = [UInt8](repeating: 0, count: max(0, Int(st.st_size) - from))
        var got = 0
        while got < out.count {
            let n = out.withUnsafeMutableBytes { pread(fd, $0.baseAddress! + got, $0.count - got, off_t(from + got)) }
            if n < 0 { if errno == EINTR { continue }; throw LogError(path: path, line: nil, message: "cannot read: \(String(cString: strerror(errno)))") }
            if n == 0 { break }
            got += n
        }
        if got < out.count { out.removeLast(out.count - got) }
        return out
    }

    // MARK: appending

    /// Whether an event must be on disk before it is acknowledged.
    public static func isDurable(_ e: DeployEvent) -> Bool {
        switch e.payload {
        case .metricsSample, .stageOutput, .trafficConfirmed: return false
        default: return true
        }
    }

    /// Appends an event; durable events are written and synced before this returns.
    /// `state` is the state after the event, for snapshots.
    public func append(_ e: DeployEvent, state: DeployState) throws(LogError) {
        if let failure { throw failure }
        pending.append(contentsOf: EventLog.line(for: e).utf8)
        pending.append(0x0A)
        pendingCount += 1
        sinceSnapshot += 1
        if EventLog.isDurable(e) {
            try flush(sync: true)
        } else if pendingCount >= 100 {
            // Batched lines are written (a killed process loses none of them) and synced
            // at least once a second.
            try flush(sync: ContinuousClock.now - lastSync >= .seconds(1))
        }
        if sinceSnapshot >= snapshotEvery {
            try flush(sync: true)
            sinceSnapshot = 0
            Snapshot(offset: offset, prefixCRC: prefixCRC, state: state).save(path: EventLog.snapshotPath(path), fs: fs)
        }
    }

    /// Writes what is pending, and syncs it to disk when `sync`.
    public func flush(sync: Bool) throws(LogError) {
        if let failure { throw failure }
        var written = 0
        while written < pending.count {
            let n = pending.withUnsafeBytes { fs.write(fd, UnsafeRawBufferPointer(rebasing: $0[written...])) }
            if n <= 0 {
                if n < 0, errno == EINTR { continue }
                let why = n == 0 ? "the disk took no bytes" : String(cString: strerror(errno))
                let err = LogError(path: path, line: nil, message: "cannot write: \(why); nothing after \(offsetDescription) is recorded")
                failure = err
                throw err
            }
            written += n
        }
        offset += pending.count
        prefixCRC = CRC32.update(prefixCRC, pending)
        pending.removeAll(keepingCapacity: true)
        pendingCount = 0
        if sync {
            if fs.dataSync(fd) != 0 {
                let err = LogError(path: path, line: nil, message: "cannot sync to disk: \(String(cString: strerror(errno)))")
                failure = err
                throw err
            }
            lastSync = ContinuousClock.now
        }
    }

    private var offsetDescription: String { "byte \(offset)" }

    /// Flushes and closes.
    public func close() {
        try? flush(sync: true)
        if fd >= 0 { Glibc.close(fd); fd = -1 }
    }
}

/// A log that cannot be used: which file, which line, what happened and what to do.
public struct LogError: Error, Sendable, Equatable, CustomStringConvertible {
    public var path: String
    public var line: Int?
    public var message: String
    public init(path: String, line: Int?, message: String) { self.path = path; self.line = line; self.message = message }
    public var description: String { line.map { "\(path):\($0): \(message)" } ?? "\(path): \(message)" }
}

/// The state at a byte offset of the log, so opening need not fold every line.
struct Snapshot: Codable {
    /// 3: with the CRC of the log before `offset` (a version 1 or 2 snapshot is ignored and the
    /// log folded again). 2: judge blocks as arrays.
    var version = 3
    var offset: Int
    /// The CRC-32 of the log's bytes before `offset`, as written.
    var prefixCRC: UInt32
    var state: DeployState

    init(offset: Int, prefixCRC: UInt32, state: DeployState) { self.offset = offset; self.prefixCRC = prefixCRC; self.state = state }

    static func load(path: String) -> Snapshot? {
        guard let data = FileManager.default.contents(atPath: path),
              let s = try? JSONDecoder().decode(Snapshot.self, from: data), s.version == 3 else { return nil }
        return s
    }

    /// Written to a temporary file, synced, then renamed over the old one (and the directory
    /// synced). A snapshot is only a shortcut: if it is lost, the next start reads the whole log.
    func save(path: String, fs: any LogFileSystem = SystemFileSystem()) {
        guard let data = try? JSONEncoder().encode(self) else { return }
        let tmp = path + ".tmp"
        let fd = Glibc.open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard fd >= 0 else { return }
        let ok = data.withUnsafeBytes { fs.write(fd, $0) } == data.count && fs.fullSync(fd) == 0
        Glibc.close(fd)
        if ok, rename(tmp, path) == 0 { _ = EventLog.syncDirectory(of: path, fs: fs) } else { unlink(tmp) }
    }
}
