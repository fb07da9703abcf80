import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import FridayCore

/// Posts chosen events to a webhook in the Slack incoming-webhook format (`{"text": …}`),
/// one at a time in order, each with a timeout and retries with backoff. `consider` only
/// queues (it is an engine sink and must be quick), so a slow or dead receiver never
/// holds up the deploy; a message that still fails is reported (to the team log).
public final class Notifier: Sendable {
    public let settings: NotifySettings
    private let deploy: String
    private let service: String
    private let queue: AsyncStream<String>.Continuation
    private let worker: Task<Void, Never>?

    public init(settings: NotifySettings, deploy: String, service: String, report: @escaping @Sendable (String) -> Void,
                onFailure: (@Sendable (String) async -> Void)? = nil) {
        self.settings = settings
        self.deploy = deploy
        self.service = service
        let (stream, cont) = AsyncStream<String>.makeStream(bufferingPolicy: .bufferingNewest(1000))
        queue = cont
        guard let url = settings.webhook.flatMap(URL.init(string:)) else { worker = nil; return }
        let s = settings
        worker = Task {
            let config = URLSessionConfiguration.ephemeral
            config.timeoutIntervalForRequest = s.timeout
            config.timeoutIntervalForResource = s.timeout
            let session = URLSession(configuration: config)
            for await text in stream {
                var payload: [(String, JSONValue)] = [("text", .string(text)), ("username", .string("friday"))]
                if let ch = s.channel { payload.append(("channel", .string(ch))) }
                let body = Data(JSONValue.object(payload).serialized.utf8)
                var lastError = ""
                var sent = false
                for attempt in 0...s.retries {
                    if attempt > 0 { try? await Task.sleep(for: .milliseconds(Int(500 * pow(2, Double(attempt - 1))))) }
                    var req = URLRequest(url: url, timeoutInterval: s.timeout)
                    req.httpMethod = "POST"
                    req.setValue("application/json", forHTTPHeaderField: "Content-Type")
                    req.httpBody = body
                    do {
                        let (_, response) = try await session.data(for: req)
                        let code = (response as? HTTPURLResponse)?.statusCode ?? 0
                        if (200..<300).contains(code) { sent = true; break }
                        lastError = "HTTP \(code)"
                    } catch {
                        lastError = "\(error.localizedDescription)"
                    }
                }
                if !sent {
                    let why = "webhook failed after \(s.retries + 1) tries (\(lastError)): \(text.prefix(80))"
                    report(why)
                    await onFailure?(why)
                }
            }
            session.invalidateAndCancel()
        }
    }

    /// Queues a message for `e` if the settings choose its kind.
    public func consider(_ e: DeployEvent) {
        guard worker != nil, let text = Notifier.message(for: e, settings: settings, service: service) else { return }
        queue.yield(text)
    }

    /// Waits (at most `seconds`) for queued messages to go, then stops.
    public func drain(seconds: Double) async {
        queue.finish()
        await FridayIntegrations.drain(worker, within: seconds)
    }

    /// The webhook text for an event, or nil if it is not one the settings choose.
    /// Outside text is made safe twice: terminal controls neutralised, Slack's `<>&` escaped.
    public static func message(for e: DeployEvent, settings: NotifySettings, service: String) -> String? {
        func safe(_ s: String) -> String {
            TerminalText.neutralise(s).replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;").replacingOccurrences(of: ">", with: "&gt;")
        }
        let svc = safe(service)
        switch e.payload {
        case let .analysisVerdict(step, verdict, summary, _) where verdict == .fail && settings.events.contains(.failed):
            return "friday: \(svc) failed analysis at step \(step + 1): \(safe(summary))"
        case let .candidateVerdict(version, step, verdict, summary, _) where verdict == .fail && settings.events.contains(.failed):
            return "friday: \(svc): \(safe(version)) failed analysis at step \(step + 1): \(safe(summary))"
        case let .candidateReverted(version, by, reason) where settings.events.contains(.reverted):
            return "friday: \(svc): \(safe(version)) taken out of rotation by \(safe(by))" + (reason.map { ": \(safe($0))" } ?? "") + " (the other candidates go on)"
        case let .deployFinished(outcome, by, reason) where outcome == .reverted && settings.events.contains(.reverted):
            return "friday: \(svc) reverted by \(safe(by))" + (reason.map { ": \(safe($0))" } ?? "")
        case let .deployFinished(outcome, by, _) where outcome == .promoted && settings.events.contains(.finished):
            return "friday: \(svc) promoted to 100% (\(safe(by)))"
        case let .deployPaused(by, reason) where settings.events.contains(.held):
            return "friday: \(svc) held by \(safe(by)): \(safe(reason))"
        case let .stepStarted(index, weight, pause):
            if case .untilPromoted = pause, settings.events.contains(.held) {
                return "friday: \(svc) at \(weight)% (step \(index + 1)) is held until someone promotes it"
            }
            return settings.events.contains(.step) ? "friday: \(svc) step \(index + 1): \(weight)%" : nil
        default:
            return nil
        }
    }
}
