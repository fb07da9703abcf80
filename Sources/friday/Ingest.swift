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
        let refused = Locked(0), accepted = Locked(0)
        let lines = StdinLines.stream(limit: Wire.maxClientLineBytes - 256)
        await withTaskGroup(of: Void.self) { group in
            var inFlight = 0
            for await item in lines {
                let n = item.number
                let report: @Sendable (String) -> Void = { why in
                    refused.withLock { $0 += 1 }
                    FileHandle.standardError.write(Data("friday ingest: line \(n): \(TerminalText.neutralise(why))\n".utf8))
                }
                let event: (String, JSONValue)
                switch item.content {
                case let .failure(why): report(why.description); continue
                case let .success(bytes):
                    if bytes.allSatisfy({ $0 == 0x20 || $0 == 0x09 || $0 == 0x0D }) { continue }
                    let v: JSONValue
                    do throws(JSONParseError) { v = try JSONValue.parse(bytes: bytes) } catch { report("not JSON: \(error.description)"); continue }
                    guard case .object = v, let type = v["type"]?.stringValue else { report("expected an object with \"type\" and \"data\" (see docs/events.md)"); continue }
                    event = (type, v["data"] ?? .object([]))
                }
                // Sent here, in order (the engine applies them in that order); up to 256 lines
                // wait for their answers at once.
                if inFlight >= 256 { await group.next(); inFlight -= 1 }
                inFlight += 1
                let id = client.submitIngest(type: event.0, data: event.1)
                group.addTask {
                    switch await client.reply(to: id) {
                    case .accepted: accepted.withLock { $0 += 1 }
                    case let .refused(why): report(why)
                    case let .lost(why): report("not confirmed: \(why)")
                    }
                }
            }
        }
        await client.close()
        let (ok, bad) = (accepted.withLock { $0 }, refused.withLock { $0 })
        FileHandle.standardError.write(Data("friday ingest: \(ok) line\(ok == 1 ? "" : "s") accepted, \(bad) refused\n".utf8))
        if bad > 0 { throw ExitCode(VerbExit.refused) }
    }
}

/// Standard input as numbered lines, read on a thread of its own (never on the cooperative
/// pool); a line longer than `limit` or not UTF-8 is a failure for that line only.
enum StdinLines {
    struct Line: Sendable { var number: Int; var content: Result<[UInt8], LineProblem> }
    struct LineProblem: Error, CustomStringConvertible, Sendable { var description: String }

    static func stream(limit: Int) -> AsyncStream<Line> {
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
        return stream
    }
}
