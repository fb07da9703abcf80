import ArgumentParser
import Foundation
import FridayCore
import FridayEngine

/// `friday stats`: delivery figures over recorded deploys (local logs, or a shared store).
struct Stats: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Delivery figures: deploys per day, lead time, change failure rate, time to restore; by service and weekday.",
        discussion: """
        Reads every *.jsonl event log under the paths given (files or folders; default: \
        $XDG_STATE_HOME/friday/deploys). A deploy counts on its start's UTC day. Lead time: \
        from its first stage's start to the event that promoted it. Change failure rate: \
        deploys reverted at least once, over deploys that reached traffic. Time to restore: \
        from a revert's decision (the command, or the judge's traffic.set) to the router \
        confirming the new version out. Times are medians.
        """)

    @Argument(help: "Event logs or folders of them.", completion: .file(extensions: ["jsonl"]))
    var paths: [String] = []

    @Flag(help: "One JSON object (control, C1 and bidi characters escaped).") var json = false

    @Option(help: "Read every deploy from a shared store (postgres://USER@HOST:PORT/DATABASE) instead of local logs.")
    var store: String?

    func run() async throws {
        var deploys: [DeliveryStats.Deploy] = []
        var skipped: [String] = []
        if let store {
            guard paths.isEmpty else { throw ExitWith(message: "give logs or --store, not both") }
            for (id, events) in try await allStoredEvents(store: try storeAddress(store)!) {
                if let d = DeliveryStats.deploy(events) { deploys.append(d) } else { skipped.append("\(id): no deploy.started") }
            }
        }
        let roots = store != nil ? [] : paths.isEmpty ? [defaultLogFolder()] : paths
        for file in try Stats.logFiles(under: roots) {
            do {
                let (events, problem) = try EventLog.readEvents(path: file)
                if let d = DeliveryStats.deploy(events) { deploys.append(d) } else { skipped.append("\(file): no deploy.started") }
                if let problem { skipped.append("\(file): read up to its damage (\(problem.message))") }
            } catch {
                skipped.append("\(file): \(error)")
            }
        }
        for s in skipped { Plain.err("friday stats: " + s) }
        let report = DeliveryStats.report(deploys)
        if json { Plain.out(Stats.json(report).serialized) } else { Plain.out(Stats.text(report)) }
    }

    /// Every `*.jsonl` under `roots` (a file given by name is taken whatever its name), sorted.
    static func logFiles(under roots: [String]) throws -> [String] {
        var out: [String] = []
        let fm = FileManager.default
        for r in roots {
            var dir: ObjCBool = false
            guard fm.fileExists(atPath: r, isDirectory: &dir) else {
                throw ExitWith(message: "\(TerminalText.neutralise(r)): no such file or folder (give event logs, or folders of them)")
            }
            if !dir.boolValue { out.append(r); continue }
            let items = (fm.enumerator(atPath: r)?.allObjects as? [String]) ?? []
            out += items.filter { $0.hasSuffix(".jsonl") }.map { r + "/" + $0 }
        }
        return Array(Set(out)).sorted()
    }

    static func duration(_ s: Double?) -> String { s.map(formatDuration) ?? "–" }
    static func rate(_ r: Double?) -> String { r.map { percentText($0) } ?? "–" }
    static func perDay(_ r: Double?) -> String { r.map(format2) ?? "–" }

    static func text(_ r: DeliveryStats.Report) -> String {
        guard r.overall.deploys > 0 else { return "no deploys recorded" }
        let o = r.overall
        var lines = [
            "\(o.deploys) deploy\(o.deploys == 1 ? "" : "s") over \(o.days) day\(o.days == 1 ? "" : "s") (UTC): \(perDay(o.deploysPerDay)) a day; "
                + "\(o.promoted) promoted, \(o.reverted) reverted, \(o.pipelineFailed) failed in the pipeline, \(o.open) still running",
            "lead time (build to 100%) median \(duration(o.medianLeadTime)) · change failure rate \(rate(o.changeFailureRate)) · time to restore median \(duration(o.medianTimeToRestore))",
            "",
        ]
        func table(_ title: String, _ rows: [(String, DeliveryStats.Figures)]) {
            let w = max(title.count, rows.map(\.0.count).max() ?? 0)
            func cell(_ s: String, _ n: Int) -> String { s + String(repeating: " ", count: max(0, n - s.count)) }
            lines.append(cell(title, w) + "  deploys  per day  lead time  failure rate  restore")
            for (name, f) in rows {
                lines.append(cell(name, w) + "  " + cell(String(f.deploys), 7) + "  " + cell(perDay(f.deploysPerDay), 7) + "  "
                    + cell(duration(f.medianLeadTime), 9) + "  " + cell(rate(f.changeFailureRate), 12) + "  " + duration(f.medianTimeToRestore))
            }
            lines.append("")
        }
        table("service", r.byService.map { ($0.service, $0.figures) })
        table("weekday", r.byWeekday.map { ($0.weekday, $0.figures) })
        return lines.joined(separator: "\n").trimmingCharacters(in: .newlines)
    }

    static func json(_ r: DeliveryStats.Report) -> JSONValue {
        func num(_ x: Double?) -> JSONValue { x.map { .number(($0 * 1000).rounded() / 1000) } ?? .null }
        func fig(_ f: DeliveryStats.Figures) -> JSONValue {
            .object([
                ("deploys", .number(Double(f.deploys))), ("days", .number(Double(f.days))), ("deploys_per_day", num(f.deploysPerDay)),
                ("promoted", .number(Double(f.promoted))), ("reverted", .number(Double(f.reverted))),
                ("pipeline_failed", .number(Double(f.pipelineFailed))), ("running", .number(Double(f.open))),
                ("reached_traffic", .number(Double(f.reachedTraffic))),
                ("median_lead_time_seconds", num(f.medianLeadTime)), ("change_failure_rate", num(f.changeFailureRate)),
                ("median_time_to_restore_seconds", num(f.medianTimeToRestore)),
            ])
        }
        return .object([
            ("overall", fig(r.overall)),
            ("by_service", .array(r.byService.map { .object([("service", .string($0.service)), ("figures", fig($0.figures))]) })),
            ("by_weekday", .array(r.byWeekday.map { .object([("weekday", .string($0.weekday)), ("figures", fig($0.figures))]) })),
            ("per_day", .array(r.perDay.map { .object([("day", .string($0.day)), ("deploys", .number(Double($0.deploys)))]) })),
        ])
    }
}

/// Where `friday run` keeps deploys' logs by default.
func defaultLogFolder() -> String {
    let env = ProcessInfo.processInfo.environment
    let state = env["XDG_STATE_HOME"].flatMap { $0.isEmpty ? nil : $0 } ?? ((env["HOME"] ?? ".") + "/.local/state")
    return "\(state)/friday/deploys"
}
