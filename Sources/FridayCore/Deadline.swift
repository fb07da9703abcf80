import Synchronization

/// Runs `work` with a deadline: its answer, or nil when `limit` passed first. On the
/// deadline the work is cancelled and not waited for (it ends when it notices); when the
/// work answers first, the timer goes at once. One helper for every bounded wait (the
/// store's operations, a stopping engine's last copy to the store).
public func withDeadline<T: Sendable>(_ limit: Duration, _ work: @escaping @Sendable () async -> T) async -> T? {
    var tasks: (Task<Void, Never>, Task<Void, Never>)?
    let answer = await withCheckedContinuation { (c: CheckedContinuation<T?, Never>) in
        let first = FirstAnswer(c)
        let job = Task { first.answer(await work()) }
        let timer = Task {
            try? await Task.sleep(for: limit)
            guard !Task.isCancelled else { return }
            first.answer(nil)
        }
        tasks = (job, timer)
    }
    if let (job, timer) = tasks {
        timer.cancel()
        if answer == nil { job.cancel() }
    }
    return answer
}

/// Resumes a continuation once: the first answer wins, later ones are dropped.
final class FirstAnswer<T: Sendable>: Sendable {
    private let slot: Mutex<CheckedContinuation<T?, Never>?>
    init(_ c: CheckedContinuation<T?, Never>) { slot = Mutex(c) }
    func answer(_ v: T?) { slot.withLock { c in defer { c = nil }; return c }?.resume(returning: v) }
}
