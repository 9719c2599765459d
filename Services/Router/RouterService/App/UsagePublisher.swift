import Contracts
import Foundation
import Logging
import ServiceLifecycle
import SwitchyardBus
import SwitchyardRuntime

/// Publishes `usage.recorded`, one per call: the envelope id is derived from the request id, so
/// publishing again (a retry, a second replica answering the same request) stores nothing new.
///
/// A call's event is published beside its answer, not before it: the caller does not wait for
/// the stream's acknowledgement. That loses nothing the other order kept: a router killed between
/// the provider's answer and the acknowledgement loses the event either way. On graceful
/// shutdown the router waits for the events under way (as a service listed before the responders,
/// it stops after them).
public struct UsagePublisher: Service, Sendable {
    let bus: Bus
    let logger: Logger
    /// The events under way; shutdown waits for them.
    private let work: WorkAfterAnswer

    public init(bus: Bus, logger: Logger, drainLimit: Duration = .seconds(15)) {
        self.bus = bus
        self.logger = logger
        self.work = WorkAfterAnswer(name: "usage_events", drainLimit: drainLimit, logger: logger)
    }

    func publish(_ record: CallRecord, for call: RouterChatCall) {
        publish(record, requestID: call.requestID, tenantID: call.tenantID, apiKeyID: call.apiKeyID, model: call.completion.model)
    }

    /// Runs in a task of its own, so a cancelled call (the caller left) still records its usage.
    func publish(_ record: CallRecord, requestID: String, tenantID: UUID, apiKeyID: UUID?, model: String) {
        work.start { [self] in
            await store(record, requestID: requestID, tenantID: tenantID, apiKeyID: apiKeyID, model: model)
        }
    }

    public func run() async throws {
        try await work.run()
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
