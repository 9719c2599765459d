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
    /// models do not use; `UnprojectableEvent` for one they can never take. The bus names an
    /// event's type in a header, so the envelope is read once, as that type; without the header
    /// its type is read first.
    public func prepare(_ message: NATSMessage) throws -> Prepared? {
        let type: EventType
        if let named = message.headers[BusHeader.eventType].flatMap(EventType.init) {
            type = named
        } else {
            do { type = try JSONCoding.decode(EnvelopeHeader.self, from: message.payload).type } catch {
                throw UnprojectableEvent(description: "unreadable event on \(message.subject): \(error)")
            }
        }
        return try Self.prepared(message, as: type)
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
    private static func prepared(_ message: NATSMessage, as type: EventType) throws -> Prepared? {
        func decode<Payload: EventPayload>(_ payload: Payload.Type) throws -> Envelope<Payload> {
            let event: Envelope<Payload>
            do { event = try JSONCoding.decode(Envelope<Payload>.self, from: message.payload) } catch {
                throw UnprojectableEvent(description: "unreadable \(type) event on \(message.subject): \(error)")
            }
            guard event.type == type else {
                throw UnprojectableEvent(description: "event \(event.id) is a \(event.type) event sent as \(type)")
            }
            return event
        }
        switch type {
        case UsageRecorded.eventType:
            let event = try decode(UsageRecorded.self)
            let usage = event.payload
            guard usage.costMicros >= 0, usage.promptTokens >= 0, usage.completionTokens >= 0 else {
                throw UnprojectableEvent(description: "negative amounts in usage event \(event.id)")
            }
            return Prepared(eventID: event.id, tenantID: event.tenantID, effect: .call(HourlyUsage(usage, at: event.occurredAt)))
        case BudgetChanged.eventType:
            let event = try decode(BudgetChanged.self)
            return Prepared(eventID: event.id, tenantID: event.tenantID, effect: .budgetChanged(event.payload, eventID: event.id, at: event.occurredAt))
        case BudgetThresholdCrossed.eventType:
            let event = try decode(BudgetThresholdCrossed.self)
            return Prepared(eventID: event.id, tenantID: event.tenantID, effect: .thresholdCrossed(event.payload))
        default:
            return nil
        }
    }
}
