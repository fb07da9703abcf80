import ArgumentParser
import Foundation
import FridayCore
import FridayServe
import Synchronization

/// `friday ingest [DEPLOY]`: an outside CI's events (JSON lines on standard input) into a
/// running deploy whose pipeline is external. Each line is checked on its own: a bad one is
/// refused with its number and the reason (on standard error), counted, and the stream goes on.
struct Ingest: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Report an outside CI's stage events (JSON lines on stdin) to a running deploy.")
    @OptionGroup var target: EngineTarget

    func run() async throws {
        let client = try await connectCLI(target)
        let refused = Locked(0), accepted = Locked(0), lost = Locked(0)
        let say: @Sendable (Int, String) -> Void = { n, why in
            Plain.err("friday ingest: line \(n): \(TerminalText.neutralise(why))")
        }
        let (lines, waiting) = StdinLines.stream(limit: Wire.maxEventLineBytes)
        // Lines go in batches (up to 1,024 lines or 256 kB each, at most 768 kB with every
        // escape the encoding adds, under the engine's 1 MB line), in order; the engine checks
        // and records a batch in one go. Up to 4 batches wait for their answers at once.
        await withTaskGroup(of: Void.self) { group in
            var inFlight = 0
            var events: [IngestItem] = [], local: [LineRefusal] = [], bytes = 0
            func send() async {
                guard !events.isEmpty || !local.isEmpty else { return }
                if inFlight >= 4 { await group.next(); inFlight -= 1 }
                inFlight += 1
                let sent = events
                let id = client.submitIngest(batch: events, refused: local)
                events.removeAll(keepingCapacity: true); local.removeAll(keepingCapacity: true); bytes = 0
                group.addTask {
                    switch await client.reply(to: id) {
                    case let .ingested(n, bad):
                        accepted.withLock { $0 += n }
                        refused.withLock { $0 += bad.count }
                        for r in bad { say(r.line, r.reason) }
                    case .accepted:
                        accepted.withLock { $0 += sent.count }
                    case let .refused(why):
                        refused.withLock { $0 += sent.count }
                        if let first = sent.first, let last = sent.last { say(first.line, "lines \(first.line)–\(last.line) not recorded: \(why)") }
                    case let .lost(why):
                        // It may have been recorded: friday status (or the dashboard) says.
                        lost.withLock { $0 += sent.count }
                        if let first = sent.first, let last = sent.last { say(first.line, "lines \(first.line)–\(last.line) not confirmed: \(why) (friday status shows what was recorded)") }
                    }
                }
            }
            for await item in lines {
                waiting.withLock { $0 -= 1 }
                let n = item.number
                func refuse(_ why: String) {
                    refused.withLock { $0 += 1 }
                    say(n, why)
                    local.append(LineRefusal(line: n, reason: String(why.prefix(300))))
                }
                switch item.content {
                case let .failure(why): refuse(why.description)
                case let .success(raw):
                    // A blank line is skipped (but the batch below is still sent if nothing more waits).
                    if raw.allSatisfy({ $0 == 0x20 || $0 == 0x09 || $0 == 0x0D }) { break }
                    let v: JSONValue
                    do throws(JSONParseError) { v = try JSONValue.parse(bytes: raw) } catch { refuse("not JSON: \(error.description)"); break }
                    guard case .object = v, let type = v["type"]?.stringValue else { refuse("expected an object with \"type\" and \"data\" (see docs/events.md)"); break }
                    let data = v["data"] ?? .object([])
                    guard case .object = data else { refuse("\"data\" must be an object (see docs/events.md)"); break }
                    events.append(IngestItem(line: n, type: String(type.prefix(64)), data: data))
                    bytes += raw.count + 32
                }
                if events.count >= Wire.maxBatch || local.count >= Wire.maxBatch || bytes >= 256 * 1024 { await send() }
                // A slow CI (a line now and then) is not held back waiting for a full batch.
                if waiting.value <= 0 { await send() }
            }
            await send()
        }
        await client.close()
        let (ok, bad, gone) = (accepted.withLock { $0 }, refused.withLock { $0 }, lost.withLock { $0 })
        Plain.err("friday ingest: \(ok) line\(ok == 1 ? "" : "s") accepted, \(bad) refused" + (gone > 0 ? ", \(gone) not confirmed (the engine stopped answering)" : ""))
        // The engine gone mid-stream is "unreachable" (3), as for every verb, not a refusal (1).
        if gone > 0 { throw ExitCode(VerbExit.unreachable) }
        if bad > 0 { throw ExitCode(VerbExit.refused) }
    }
}

/// Standard input as numbered lines, read on a thread of its own (never on the cooperative
/// pool); a line longer than `limit` or not UTF-8 is a failure for that line only.
enum StdinLines {
    struct Line: Sendable { var number: Int; var content: Result<[UInt8], LineProblem> }
    struct LineProblem: Error, CustomStringConvertible, Sendable { var description: String }

    /// The lines, and how many of them are read and not yet taken.
    static func stream(limit: Int) -> (AsyncStream<Line>, Locked<Int>) {
        let waiting = Locked(0)
        let (stream, cont) = AsyncStream<Line>.makeStream(bufferingPolicy: .bufferingOldest(4096))
        let t = Thread {
            var buf = [UInt8](repeating: 0, count: 1 << 16)
            var line: [UInt8] = []
            var tooLong = false
            var number = 0
            func emit() {
                number += 1
                let item: Line
                if tooLong {
                    item = Line(number: number, content: .failure(LineProblem(description: "longer than \(limit / 1024) kB: refused")))
                } else if String(validating: line, as: UTF8.self) == nil {
                    item = Line(number: number, content: .failure(LineProblem(description: "not UTF-8")))
                } else {
                    item = Line(number: number, content: .success(line))
                }
                // Wait for room rather than drop a line.
                waiting.withLock { $0 += 1 }
                while case .dropped = cont.yield(item) { usleep(1000) }
                line.removeAll(keepingCapacity: true)
                tooLong = false
            }
            while true {
                let n = read(0, &buf, buf.count)
                if n < 0, errno == EINTR { continue }
                if n <= 0 { break }
                for b in buf[0..<n] {
                    if b == UInt8(ascii: "\n") { emit(); continue }
                    if line.count < limit { line.append(b) } else { tooLong = true }
                }
            }
            if !line.isEmpty || tooLong { emit() }
            cont.finish()
        }
        t.start()
        return (stream, waiting)
    }
}
