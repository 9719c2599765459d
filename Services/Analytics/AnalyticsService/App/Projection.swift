import Contracts
import Foundation
import SwitchyardBus
import SwitchyardDatabase

/// An event the read models can never take: it goes to the dead-letter queue, or is skipped by
/// a rebuild.
struct UnprojectableEvent: Error, CustomStringConvertible {
    var description: String
}

/// Projects events into the read models, each exactly once: its effect and its id are written in
/// one transaction, so a redelivered or replayed event changes nothing. Every effect adds up or
/// keeps the latest by the event's own time, so the rows do not depend on the order events are
/// projected in, and a rebuild from the stream ends with the same rows.
public struct Projection: Sendable {
    public enum Outcome: Sendable, Equatable {
        case projected
        /// Projected before: nothing changed.
        case alreadyProjected
        /// A kind of event no read model uses.
        case ignored
    }

    /// An event read and checked, ready to be projected.
    public struct Prepared: Sendable {
        var eventID: UUID
        var tenantID: UUID
        var effect: Effect
    }

    /// What an event does to the read models.
    enum Effect: Sendable {
        /// A call, added to its hour's row: calls of a batch that share a row are added in one
        /// statement.
        case call(HourlyUsage)
        case budgetChanged(BudgetChanged, eventID: UUID, at: Date)
        case thresholdCrossed(BudgetThresholdCrossed)
    }

    let database: Database

    public init(database: Database) { self.database = database }

    public func project(_ message: NATSMessage) async throws -> Outcome {
        guard let prepared = try prepare(message) else { return .ignored }
        return try await project(tenant: prepared.tenantID, [prepared])[0]
    }

    /// Reads and checks an event before any transaction opens: nil for a kind of event the read
    /// models do not use; `UnprojectableEvent` for one they can never take.
    public func prepare(_ message: NATSMessage) throws -> Prepared? {
        let header: EnvelopeHeader
        do { header = try JSONCoding.decode(EnvelopeHeader.self, from: message.payload) } catch {
            throw UnprojectableEvent(description: "unreadable event on \(message.subject): \(error)")
        }
        guard let effect = try Self.effect(of: message, header) else { return nil }
        return Prepared(eventID: header.id, tenantID: header.tenantID, effect: effect)
    }

    /// Projects a tenant's prepared events in one transaction, each once; answers each one's
    /// outcome in order. Calls that fall on the same hourly row are summed first and the row
    /// is written once: the same as adding them one by one, since every effect adds up.
    public func project(tenant: UUID, _ events: [Prepared]) async throws -> [Outcome] {
        try await database.withTenant(tenant) { tx in
            var unprojected = try await ReadModelRepository.markProjected(events.map(\.eventID), in: tx)
            var calls: [HourlyUsage.Row: HourlyUsage] = [:]
            var outcomes: [Outcome] = []
            for event in events {
                guard unprojected.remove(event.eventID) != nil else {
                    outcomes.append(.alreadyProjected)
                    continue
                }
                switch event.effect {
                case .call(let usage):
                    calls[usage.row, default: HourlyUsage(row: usage.row)].add(usage)
                case .budgetChanged(let change, let eventID, let occurredAt):
                    try await ReadModelRepository.setBudget(change, eventID: eventID, at: occurredAt, in: tx)
                case .thresholdCrossed(let crossing):
                    try await ReadModelRepository.crossThreshold(crossing, in: tx)
                }
                outcomes.append(.projected)
            }
            // In one order for every transaction: two batches of a tenant written at once then
            // wait for each other's rows instead of deadlocking.
            for usage in calls.values.sorted(by: { $0.row < $1.row }) {
                try await ReadModelRepository.addCalls(usage, in: tx)
            }
            return outcomes
        }
    }

    /// Projects the consumer's events a tenant's batch per transaction, as its handlers hand them
    /// in (group commit).
    func batches() -> TenantBatches<Prepared, Outcome> {
        TenantBatches { tenant, events in try await project(tenant: tenant, events) }
    }

    /// What the event does to the read models, decoded and checked before any transaction
    /// opens; nil for a kind of event they do not use.
    private static func effect(of message: NATSMessage, _ header: EnvelopeHeader) throws -> Effect? {
        func decode<Payload: EventPayload>(_ type: Payload.Type) throws -> Envelope<Payload> {
            do { return try JSONCoding.decode(Envelope<Payload>.self, from: message.payload) } catch {
                throw UnprojectableEvent(description: "unreadable \(header.type) event \(header.id): \(error)")
            }
        }
        switch header.type {
        case UsageRecorded.eventType:
            let event = try decode(UsageRecorded.self)
            let usage = event.payload
            guard usage.costMicros >= 0, usage.promptTokens >= 0, usage.completionTokens >= 0 else {
                throw UnprojectableEvent(description: "negative amounts in usage event \(event.id)")
            }
            return .call(HourlyUsage(usage, at: event.occurredAt))
        case BudgetChanged.eventType:
            let event = try decode(BudgetChanged.self)
            return .budgetChanged(event.payload, eventID: event.id, at: event.occurredAt)
        case BudgetThresholdCrossed.eventType:
            let event = try decode(BudgetThresholdCrossed.self)
            return .thresholdCrossed(event.payload)
        default:
            return nil
        }
    }
}
