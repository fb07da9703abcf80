/// What a person (or a script, or a teammate's terminal) can ask the engine to do.
public enum Action: String, Sendable, Hashable, CaseIterable, Codable {
    case promote
    case promoteFull = "promote-full"
    case pause
    case resume
    case revert
    case retry
    case say
    /// Stop the running pipeline stage (its whole process group).
    case cancel

    /// Whether the action asks for confirmation first (and is hidden from viewers).
    public var isDangerous: Bool { self == .promoteFull || self == .revert }

    /// Past-tense verb for the team log.
    public var pastTense: String {
        switch self {
        case .promote: return "promoted"
        case .promoteFull: return "promoted to 100%"
        case .pause: return "paused"
        case .resume: return "resumed"
        case .revert: return "reverted"
        case .retry: return "retried"
        case .say: return "said"
        case .cancel: return "cancelled the stage"
        }
    }
}

/// A request from someone: the action, who asked, and an optional reason or text.
public struct Command: Sendable, Equatable, Codable {
    public var action: Action
    public var by: String
    /// The reason (revert, pause) or the message (say).
    public var text: String?
    /// With several candidates: the one a revert takes out alone (nil: the whole deploy).
    public var candidate: String?
    public init(_ action: Action, by: String, text: String? = nil, candidate: String? = nil) {
        self.action = action; self.by = by; self.text = text; self.candidate = candidate
    }
}
