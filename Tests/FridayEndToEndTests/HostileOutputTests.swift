import FridayCore
import FridayEngine
import FridayIntegrations
import FridayServe
import FridayTesting
import Foundation
import XCTest

/// A hostile corpus through every path that writes text a person reads outside the
/// dashboard (the dashboard's own paths are the screen tests'): `check`, error messages,
/// theme errors, `replay --summary`, `status` (text and JSON), `say`, `ingest`, argument
/// errors. The raw bytes each run writes are captured and searched for anything that a
/// terminal would obey: C0 controls but the newline, DEL, C1, bidi controls, U+2028/9.
final class HostileOutputTests: XCTestCase {
    let bin = fridayBinary()
    var dir: String!
    var tried: [String: Int] = [:]

    /// What a shared log, a deploy file or a teammate might hold.
    static let corpus: [String] = [
        "\u{1b}[31mred\u{1b}[0m", "\u{1b}[2J\u{1b}[H", "\u{1b}]0;pwned\u{07}", "\u{1b}]8;;http://evil\u{1b}\\link\u{1b}]8;;\u{1b}\\",
        "\u{1b}]52;c;ZWNobyBwd25lZA==\u{07}", "\u{1b}P1$r\u{1b}\\", "\u{1b}_apc\u{1b}\\", "\u{1b}^pm\u{1b}\\", "bell\u{07}bs\u{08}cr\rlf",
        "\u{9b}31m", "\u{9d}0;c1 title\u{9c}", "\u{85}nel", "rtl\u{202e}txet", "iso\u{2066}late\u{2069}", "mark\u{200f}\u{200e}\u{061c}",
        "line\u{2028}sep\u{2029}", "zero\u{200b}width\u{feff}", "e\u{301}\u{302}\u{303}combining", "部署 ✅ 🟢 👩‍💻", "\u{1b}]0;unterminated",
        "\u{1b}[", "nul\u{0}byte", "del\u{7f}", String(repeating: "A\u{1b}[31m", count: 12_000),
    ]

    override func setUpWithError() throws {
        XCTAssertTrue(FileManager.default.isExecutableFile(atPath: bin), "build friday first (swift build): \(bin)")
        dir = NSTemporaryDirectory() + "friday-hostile-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    }

    override func tearDown() {
        try? FileManager.default.removeItem(atPath: dir)
        if !tried.isEmpty {
            // The figures for docs/reliability.md: inputs tried per path (every one leak-free, or the test failed).
            print("hostile inputs per output path: " + tried.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", "))
        }
    }

    /// The first thing in `bytes` a terminal would act on, or nil.
    static func leak(_ bytes: [UInt8]) -> String? {
        for (i, b) in bytes.enumerated() where (b < 0x20 && b != 0x0A) || b == 0x7F {
            return String(format: "byte 0x%02x at %d", b, i)
        }
        for u in String(decoding: bytes, as: UTF8.self).unicodeScalars {
            let v = u.value
            if (0x80..<0xA0).contains(v) || (0x202A...0x202E).contains(v) || (0x2066...0x2069).contains(v)
                || [0x200E, 0x200F, 0x061C, 0x2028, 0x2029].contains(v) {
                return String(format: "U+%04X", v)
            }
        }
        return nil
    }

    /// Runs friday, captures standard output and error as bytes, and checks both.
    @discardableResult
    func run(_ path: String, _ args: [String], stdin: [UInt8]? = nil, file: StaticString = #filePath, line: UInt = #line) throws -> (status: Int32, out: [UInt8]) {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: bin)
        p.arguments = args
        var env = ProcessInfo.processInfo.environment
        env["XDG_STATE_HOME"] = dir + "/state"
        env["XDG_CONFIG_HOME"] = dir + "/config"
        p.environment = env
        let out = Pipe(), err = Pipe(), input = Pipe()
        p.standardOutput = out
        p.standardError = err
        p.standardInput = stdin == nil ? FileHandle.nullDevice : input
        try p.run()
        if let stdin {
            input.fileHandleForWriting.write(Data(stdin))
            try input.fileHandleForWriting.close()
        }
        // Read both to their ends (a full pipe would stall the child).
        let errData = Locked(Data())
        let reader = Thread { errData.withLock { $0 = err.fileHandleForReading.readDataToEndOfFile() } }
        reader.start()
        let o = out.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        while reader.isExecuting || !reader.isFinished { usleep(1000) }
        let all = [UInt8](o) + [UInt8](errData.withLock { $0 })
        tried[path, default: 0] += 1
        if let l = HostileOutputTests.leak(all) {
            XCTFail("\(path) (friday \(args.prefix(3).joined(separator: " "))…) wrote \(l): \(String(decoding: all.prefix(400), as: UTF8.self).debugDescription)", file: file, line: line)
        }
        return (p.terminationStatus, all)
    }

    /// A TOML basic string holding `s` (escaped as TOML requires).
    static func toml(_ s: String) -> String {
        var out = "\""
        for u in s.unicodeScalars {
            switch u {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            default:
                if u.value < 0x20 || u.value == 0x7F { out += String(format: "\\u%04X", u.value) } else { out.unicodeScalars.append(u) }
            }
        }
        return out + "\""
    }

    var example: String {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../../examples/simulated/friday.toml").standardized.path
    }

    func testCheckAndEveryConfigErrorNeutraliseTheFile() throws {
        let good = try String(contentsOfFile: example, encoding: .utf8)
        for h in HostileOutputTests.corpus {
            let q = HostileOutputTests.toml(h)
            let variants: [(String, String)] = [
                ("check: service", good.replacingOccurrences(of: "service = \"checkout\"", with: "service = \(q)")),
                ("check: by", good.replacingOccurrences(of: "by = \"lee\"", with: "by = \(q)")),
                ("check: stage name", good.replacingOccurrences(of: "name = \"build container\"", with: "name = \(q)")),
                ("check: router.kind", good.replacingOccurrences(of: "kind = \"simulator\"\n\n[metrics]", with: "kind = \(q)\n\n[metrics]")),
                ("check: unknown key", good.replacingOccurrences(of: "[router]", with: "[router]\n\(q) = 1")),
                ("check: deploy.id", good.replacingOccurrences(of: "id = \"checkout-v2.4.0\"", with: "id = \(q)")),
                ("check: version", good.replacingOccurrences(of: "version = \"v2.4.0\"", with: "version = \(q)")),
            ]
            for (path, text) in variants {
                let f = dir + "/d.toml"
                try text.write(toFile: f, atomically: true, encoding: .utf8)
                let r = try run(path, ["check", f])
                // Control and bidi characters are refused in names (TOML cuts a name at \u0000, so
                // that one is only shorter); zero-width, combining, CJK and emoji are text.
                if !TerminalText.isPlain(h), !h.contains("\u{0}") { XCTAssertNotEqual(r.status, 0, "\(path) accepted \(h.prefix(30).debugDescription)") }
            }
        }
        // Invalid UTF-8 and a raw escape in the file itself (not a TOML escape).
        let f = dir + "/raw.toml"
        try Data([0xFF, 0xFE] + Array("service = \"a\u{1b}]0;x\u{07}\"\n".utf8)).write(to: URL(fileURLWithPath: f))
        try run("check: raw bytes", ["check", f])
        try Data(Array(good.utf8) + Array("\n[deploy2]\n\u{1b}]0;x = 1\n".utf8)).write(to: URL(fileURLWithPath: f))
        try run("check: raw bytes", ["check", f])
        // The file's name itself.
        try run("check: file name", ["check", dir + "/\u{1b}]0;name\u{07}.toml"])
    }

    func testThemeErrorsAndArgumentErrorsNeutraliseWhatTheyEcho() throws {
        for h in HostileOutputTests.corpus {
            let q = HostileOutputTests.toml(h)
            for (path, text) in [("theme: role", "[roles]\n\(q) = \"red\"\n"), ("theme: colour", "[roles]\nbad = \(q)\n"),
                                 ("theme: attribute", "[roles]\nbad = { \(q) = true }\n"), ("theme: key", "\(q) = 1\n[roles]\n")] {
                let f = dir + "/t.toml"
                try text.write(toFile: f, atomically: true, encoding: .utf8)
                XCTAssertNotEqual(try run(path, ["themes", "--preview", f]).status, 0)
            }
            XCTAssertNotEqual(try run("arguments: option", ["check", "--" + h]).status, 0)
            XCTAssertNotEqual(try run("arguments: value", ["demo", "--scenario", h, "--headless"]).status, 0)
            XCTAssertNotEqual(try run("arguments: deploy id", ["status", h]).status, 0)
            try run("arguments: bucket", ["bucket", "--flag", h, "--user", h])
            // The user's config: warnings echo keys and values.
            try FileManager.default.createDirectory(atPath: dir + "/config/friday", withIntermediateDirectories: true)
            try "\(q) = 1\ntheme = \(q)\ntime_zone = \(q)\n[keys]\n\(q) = \(q)\npromote = \(q)\n".write(toFile: dir + "/config/friday/config.toml", atomically: true, encoding: .utf8)
            try run("config warnings", ["demo", "--headless", "--duration", "1"])
        }
    }

    /// A log as a shared one might be: hostile text in every field the summary prints.
    func hostileLog(_ path: String, id: String = "shared") throws {
        let (log, _) = try EventLog.open(path: path)
        var s = DeployState()
        var seq = 0
        let t0 = Timestamp(seconds: 1_764_000_000)
        func add(_ p: EventPayload) throws {
            let e = DeployEvent(seq: seq, ts: t0 + Double(seq), deploy: id, payload: p)
            Reducer.reduce(&s, e)
            try log.append(e, state: s)
            seq += 1
        }
        let c = HostileOutputTests.corpus
        try add(.deployStarted(service: c[2], from: VersionRef(name: c[4], commit: c[9]), to: VersionRef(name: c[12], commit: "b"),
                               plan: .standard, stages: c.prefix(6).map { $0 }, by: c[10]))
        for (i, h) in c.enumerated() {
            try add(.stageStarted(stage: c[i % 6]))
            try add(.stageOutput(stage: c[i % 6], line: h))
            try add(.chatMessage(from: h, text: h))
            try add(.metricsUnavailable(provider: h, error: h))
            try add(.commandRejected(action: .promote, by: h, why: h))
        }
        try add(.stageFinished(stage: c[0], status: .failed, seconds: 3))
        try add(.deployFinished(outcome: .failed, by: c[1], reason: c[14]))
        try log.flush(sync: true)
        log.close()
    }

    func testReplaySummaryAndAnotherDeploysLogNeutraliseTheLog() throws {
        let path = dir + "/shared.jsonl"
        try hostileLog(path)
        let r = try run("replay --summary", ["replay", path, "--summary"])
        XCTAssertEqual(r.status, 0, String(decoding: r.out.prefix(300), as: UTF8.self))
        XCTAssertTrue(String(decoding: r.out, as: UTF8.self).contains("^[]0;pwned"), "the escape is shown, not obeyed")
        // A hostile line in the middle of a log: the error names the line, shown safely.
        var bytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: path)))
        let cut = bytes.firstIndex(of: 0x0A)! + 1
        bytes.insert(contentsOf: Array("{\"seq\":1,\"type\":\"\u{1b}]0;x\u{07}\u{9b}\"}\n".utf8) + [0xFF, 0xC0, 0x0A], at: cut)
        let broken = dir + "/broken.jsonl"
        try Data(bytes).write(to: URL(fileURLWithPath: broken))
        try run("replay --summary: damaged line", ["replay", broken, "--summary"])
        // Delivery figures name the (hostile) service, as text and as JSON.
        XCTAssertEqual(try run("stats", ["stats", path]).status, 0)
        let js = try run("stats --json", ["stats", path, "--json"])
        XCTAssertTrue(String(decoding: js.out, as: UTF8.self).contains(#""service":""#), String(decoding: js.out.prefix(300), as: UTF8.self))
        try run("stats: damaged line", ["stats", broken])
        // Another deploy's log given to run: its (hostile) id is in the refusal.
        let other = dir + "/other.jsonl"
        for h in HostileOutputTests.corpus.prefix(12) {
            try? FileManager.default.removeItem(atPath: other)
            try hostileLog(other, id: h)
            XCTAssertNotEqual(try run("run: another deploy's log", ["run", example, "--headless", "--log", other, "--duration", "5"]).status, 0)
        }
    }

    func testStatusSayAndIngestNeutraliseWhatTheEngineHolds() async throws {
        let settings = SimulationSettings(scenario: .good, seed: 3)
        let base = SimulationSettings.fridayAfternoon
        let clock = ManualClock(base)
        let engine = Engine(deployID: "t", clock: clock, router: SimulatedRouter(), metrics: SimulatedTraffic(settings: settings),
                            sources: [SimulatedDeploy(settings: settings)], judge: CanaryJudge())
        let socket = dir + "/t.sock"
        let server = EngineServer(engine: engine, options: EngineServer.Options(socketPath: socket))
        _ = try await server.start()
        for t in 0..<40 { clock.set(base + Double(t)); await engine.advance(to: base + Double(t)) }
        // Teammates' lines and a router's answer as hostile as they come.
        for h in HostileOutputTests.corpus {
            await engine.ingest(.chatMessage(from: "bo", text: h))
            await engine.ingest(.metricsUnavailable(provider: "prometheus", error: h))
        }
        await engine.ingest(.metricsUnavailable(provider: "prometheus", error: "\u{1b}]0;x\u{07}\u{9b}31m\u{202e}"))
        let text = try run("status", ["status", socket])
        XCTAssertEqual(text.status, 0, String(decoding: text.out.prefix(300), as: UTF8.self))
        let json = try run("status --json", ["status", socket, "--json"])
        XCTAssertEqual(json.status, 0)
        let js = String(decoding: json.out, as: UTF8.self)
        XCTAssertTrue(js.contains("\\u001b") && js.contains("\\u009b") && js.contains("\\u202e"), "escaped as \\u in JSON: \(js.prefix(400))")
        XCTAssertNoThrow(try JSONValue.parse(bytes: Array(json.out)), "still one JSON object")
        for h in HostileOutputTests.corpus {
            try run("say", ["say", socket, "--text", h])
            try run("ingest", ["ingest", socket], stdin: Array("{\"type\":\"\(h)\"}\n\(h)\n".utf8))
        }
        try run("ingest", ["ingest", socket], stdin: [0xFF, 0xFE, 0x1B, 0x5D, 0x30, 0x3B, 0x0A])
        await server.shutdown(reason: "test over")
        await engine.finishSubscriptions()
    }
}
