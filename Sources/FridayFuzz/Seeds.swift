import Foundation
import FridayCore
import FridayEngine
import FridayTesting
import FridayUI

extension FuzzTarget {
    /// Valid inputs to start from (libFuzzer's seed corpus, the in-process runner's pool).
    public var seeds: [[UInt8]] {
        switch self {
        case .eventLine:
            return everyPayload.enumerated().flatMap { i, p -> [[UInt8]] in
                let e = DeployEvent(seq: i, ts: SimulationClockBase.friday + Double(i), deploy: "checkout-v2.4.0", payload: p)
                return [[0] + Array(e.jsonLine.utf8), [1] + Array(EventLog.line(for: e).utf8)]
            }
        case .deployFile:
            return FuzzTarget.exampleFiles.map { Array($0.utf8) } + [Array(FuzzTarget.smallDeploy.utf8)]
        case .theme:
            return Theme.builtIn.map { Array($0.source.utf8) } + [Array(FuzzTarget.userConfig.utf8)]
        case .wire:
            var lines: [String] = [
                Wire.ClientMessage.hello(Wire.Hello(name: "maya", role: .operator, kind: .dashboard, token: "s3cret")).line,
                Wire.ClientMessage.command(id: 7, action: .promote, text: nil).line,
                Wire.ClientMessage.command(id: 8, action: .revert, text: "5xx up").line,
                Wire.ClientMessage.resync.line,
                Wire.ClientMessage.stop(id: 9, traffic: .pause, reason: "end of day").line,
                Wire.ClientMessage.ingest(id: 10, type: "stage.output", data: .object([("stage", .string("build")), ("line", .string("ok"))])).line,
                Wire.ClientMessage.ingestBatch(id: 11, events: [IngestItem(line: 1, type: "stage.started", data: .object([("stage", .string("build"))]))],
                                               refused: [LineRefusal(line: 2, reason: "not JSON")]).line,
                Wire.ServerMessage.ack(id: 7).line,
                Wire.ServerMessage.refused(id: 8, reason: "viewers cannot revert").line,
                Wire.ServerMessage.closing(reason: "wrong token").line,
                Wire.ServerMessage.ingested(id: 11, accepted: 1, refused: []).line,
                Wire.ServerMessage.snapshot(EventFixture.rolling(step: 1).state).line,
            ]
            lines += everyPayload.prefix(12).enumerated().map { i, p in
                Wire.ServerMessage.event(DeployEvent(seq: i, ts: SimulationClockBase.friday, deploy: "d", payload: p)).line
            }
            return lines.map { Array($0.utf8) }
        case .haproxyStat:
            func answer(_ blue: Int, _ green: Int, _ e: Int) -> String {
                """
                # pxname,svname,qcur,qmax,scur,smax,slim,stot,bin,bout,dreq,dresp,ereq,econ,eresp,wretr,wredis,status,weight,act,bck,hrsp_5xx,req_tot,rtime
                front,FRONTEND,,,0,2,2000,\(blue + green),0,0,0,0,0,,,,,OPEN,,,,0,\(blue + green),
                app,blue,0,0,0,1,,\(blue),0,0,,0,,0,0,0,0,UP,95,1,0,\(e),\(blue),12
                app,green,0,0,0,1,,\(green),0,0,,0,,0,0,0,0,UP,5,1,0,\(e / 2),\(green),40
                app,BACKEND,0,0,0,1,200,\(blue + green),0,0,0,0,,0,0,0,0,UP,100,2,0,0,\(blue + green),20

                """
            }
            return [Array((answer(100, 5, 2) + "\0" + answer(90, 7, 1) + "\0" + answer(300, 20, 9) + "\0" + answer(250, 30, 5)).utf8),
                    Array(answer(1, 1, 0).utf8)]
        case .prometheus:
            return [
                #"{"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":[1764600000.123,"0.25"]}]}}"#,
                #"{"status":"success","data":{"resultType":"scalar","result":[1764600000.123,"12.5"]}}"#,
                #"{"status":"error","errorType":"bad_data","error":"parse error at char 4"}"#,
                #"{"status":"success","data":{"resultType":"vector","result":[]}}"#,
            ].map { Array($0.utf8) }
        }
    }

    /// Words and punctuation worth inserting: the seeds' own words, and values at the edges.
    public var dictionary: [[UInt8]] {
        var words = Set<String>()
        for s in seeds {
            var cur: [UInt8] = []
            for b in s + [0x20] {
                if (b >= 0x30 && b <= 0x39) || (b >= 0x41 && b <= 0x5A) || (b >= 0x61 && b <= 0x7A) || b == 0x5F || b == 0x2E || b == 0x2D {
                    cur.append(b)
                } else {
                    if (2...24).contains(cur.count) { words.insert(String(decoding: cur, as: UTF8.self)) }
                    cur = []
                }
            }
        }
        let edges = ["{", "}", "[", "]", "\"", ":", ",", "\\", "\\u0000", "\\ud800", "\\u001b", "\\u202e", "1e309", "-1", "-0", "0.5",
                     "9007199254740993", "99999999999999999999", "NaN", "inf", "null", "true", "false", "\n", "\r\n", "\u{1b}[31m",
                     "\u{1b}]0;x\u{07}", "\u{202e}", "\u{85}", "=", "[[", "]]", "#", "'''", "\"\"\"", "0x", "1_000", "\u{0}", "\u{FEFF}",
                     "ééé", "部署", "🎉"]
        return (words.sorted() + edges).map { Array($0.utf8) }
    }

    static var repoRoot: String {
        // Sources/FridayFuzz/Seeds.swift → the repository.
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path
    }

    static var exampleFiles: [String] {
        let root = repoRoot + "/examples"
        let names = (try? FileManager.default.subpathsOfDirectory(atPath: root)) ?? []
        return names.filter { $0.hasSuffix(".toml") }.sorted().compactMap { try? String(contentsOfFile: root + "/" + $0, encoding: .utf8) }
    }

    static let smallDeploy = """
    [deploy]
    id = "checkout-v2.4.0"
    service = "checkout"
    from = { name = "v2.3.1", commit = "8c1f2e4" }
    to = { name = "v2.4.0", commit = "a93be07" }
    by = "maya"

    [[rollout.steps]]
    weight = 5
    pause = "30s"

    [[rollout.steps]]
    weight = 100
    pause = "0s"

    [judge]
    max_error_rate = 0.02
    """

    static let userConfig = """
    name = "maya"
    theme = "solarized-dark"
    time_zone = "Europe/Berlin"
    mouse = false

    [keys]
    promote = ["p"]
    quit = ["q", "Q"]
    """
}

/// A fixed instant for seeds (2026-12-04, a Friday, 15:00 UTC).
enum SimulationClockBase {
    static let friday = Timestamp(seconds: 1_796_396_400)
}
