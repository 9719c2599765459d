import Logging
import ServiceLifecycle
import Synchronization

/// Work a request leaves behind once it has answered (a usage event to store, quotas to settle),
/// each piece in a task of its own, so a caller who leaves does not cancel it and the answer
/// does not wait for it. As a service it holds graceful shutdown until the pieces under way
/// have ended, for `drainLimit` at most; list it before the services whose requests start work
/// here, so that it stops after them and before the clients that work uses are closed.
public final class WorkAfterAnswer: Service, Sendable {
    /// What the work is, for the log line of pieces shutdown could not wait for.
    let name: String
    let drainLimit: Duration
    let logger: Logger
    private let underWay = Mutex(0)

    public init(name: String, drainLimit: Duration = .seconds(15), logger: Logger) {
        self.name = name
        self.drainLimit = drainLimit
        self.logger = logger
    }

    public func start(_ work: @escaping @Sendable () async -> Void) {
        underWay.withLock { $0 += 1 }
        Task {
            await work()
            underWay.withLock { $0 -= 1 }
        }
    }

    /// How many pieces have started and not ended.
    public var count: Int { underWay.withLock { $0 } }

    public func run() async throws {
        try? await gracefulShutdown()
        let deadline = ContinuousClock.now + drainLimit
        while count > 0 && ContinuousClock.now < deadline {
            try? await Task.sleep(for: .milliseconds(20))
        }
        let left = count
        if left > 0 { logger.error("work not done before shutdown", metadata: ["work": "\(name)", "count": "\(left)"]) }
    }
}
