import Logging
import Metrics
import ServiceLifecycle
import Synchronization

/// Work a request leaves behind once it has answered (a usage event to store, quotas to settle),
/// each piece in a task of its own, so a caller who leaves does not cancel it and the answer
/// does not wait for it. As a service it holds graceful shutdown until the pieces under way
/// have ended, for `drainLimit` at most; list it before the services whose requests start work
/// here, so that it stops after them and before the clients that work uses are closed.
///
/// `switchyard_work_under_way{work="<name>"}` counts the pieces under way: one that keeps growing
/// means what they wait for (Redis, NATS) has slowed down.
public final class WorkAfterAnswer: Service, Sendable {
    /// What the work is (`quota_settlements`), in the gauge and in the log line of pieces
    /// shutdown could not wait for.
    let name: String
    let drainLimit: Duration
    let logger: Logger
    private let underWay = Mutex(0)
    private let gauge: Gauge

    public init(name: String, drainLimit: Duration = .seconds(15), logger: Logger) {
        self.name = name
        self.drainLimit = drainLimit
        self.logger = logger
        self.gauge = Gauge(label: "switchyard_work_under_way", dimensions: [("work", name)])
    }

    public func start(_ work: @escaping @Sendable () async -> Void) {
        changeCount(by: 1)
        Task {
            await work()
            changeCount(by: -1)
        }
    }

    /// Records under the lock, so two changes at once cannot leave the gauge at the older count.
    private func changeCount(by change: Int) {
        underWay.withLock { count in
            count += change
            gauge.record(count)
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
