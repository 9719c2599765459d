import Contracts
import Foundation
import Logging
import ServiceLifecycle
import Synchronization
import SwitchyardBus

/// Publishes `usage.recorded`, one per call: the envelope id is derived from the request id, so
/// publishing again (a retry, a second replica answering the same request) stores nothing new.
///
/// A call's event is published beside its answer, not before it: the caller does not wait for
/// the stream's acknowledgement. That loses nothing the other order kept: a router killed between
/// the provider's answer and the acknowledgement loses the event either way. On graceful
/// shutdown the router waits for the events under way (as a service listed before the responders,
/// it stops after them).
public final class UsagePublisher: Service, Sendable {
    let bus: Bus
    let logger: Logger
    /// How long shutdown waits for events under way.
    let drainLimit: Duration
    private let underWay = Mutex(0)

    public init(bus: Bus, logger: Logger, drainLimit: Duration = .seconds(15)) {
        self.bus = bus
        self.logger = logger
        self.drainLimit = drainLimit
    }

    func publish(_ record: CallRecord, for call: RouterChatCall) {
        publish(record, requestID: call.requestID, tenantID: call.tenantID, apiKeyID: call.apiKeyID, model: call.completion.model)
    }

    /// Runs in a task of its own, so a cancelled call (the caller left) still records its usage.
    func publish(_ record: CallRecord, requestID: String, tenantID: UUID, apiKeyID: UUID?, model: String) {
        underWay.withLock { $0 += 1 }
        Task {
            await store(record, requestID: requestID, tenantID: tenantID, apiKeyID: apiKeyID, model: model)
            underWay.withLock { $0 -= 1 }
        }
    }

    public func run() async throws {
        try? await gracefulShutdown()
        let deadline = ContinuousClock.now + drainLimit
        while underWay.withLock({ $0 }) > 0 && ContinuousClock.now < deadline {
            try? await Task.sleep(for: .milliseconds(20))
        }
        let left = underWay.withLock { $0 }
        if left > 0 { logger.error("usage events not stored before shutdown", metadata: ["count": "\(left)"]) }
    }

    private func store(_ record: CallRecord, requestID: String, tenantID: UUID, apiKeyID: UUID?, model: String) async {
        let latency = record.started.duration(to: .now)
        let envelope = Envelope(
            id: UUID.derived(from: "usage.recorded:\(requestID)"), tenantID: tenantID, occurredAt: record.startedAt,
            correlationID: requestID,
            payload: UsageRecorded(
                requestID: requestID, apiKeyID: apiKeyID, model: model, deployment: record.deployment.name,
                promptTokens: record.promptTokens, completionTokens: record.completionTokens,
                costMicros: record.price.costMicros(promptTokens: record.promptTokens, completionTokens: record.completionTokens),
                latencyMs: Int(latency.milliseconds), ttftMs: record.firstToken.map { Int(record.started.duration(to: $0).milliseconds) },
                status: record.status))
        // The call was answered: its usage is money. Retrying is safe (same id, stored once).
        for attempt in 1...5 {
            do {
                try await bus.publish(envelope)
                return
            } catch {
                logger.error("usage event not stored", metadata: [
                    "request_id": "\(requestID)", "attempt": "\(attempt)", "error": "\(error)",
                ])
                try? await Task.sleep(for: .milliseconds(100 << attempt))
            }
        }
    }
}
