import Contracts
import Foundation
import Logging
import SwitchyardBus
import SwitchyardDatabase

/// Why a usage event can never be recorded: it goes to the dead-letter queue.
struct InvalidUsage: Error, CustomStringConvertible {
    var description: String
}

/// Records usage events into the ledger, each exactly once, and answers usage reports from it.
struct UsageLedger: Sendable {
    /// Names this consumer in `processed_events`.
    static let consumerName = "billing-ledger"
    let database: Database

    /// Records the event's entry and its id as processed in one transaction. Returns false when
    /// it had been recorded before: nothing changes then.
    @discardableResult
    func record(_ event: Envelope<UsageRecorded>) async throws -> Bool {
        try Self.check(event)
        return try await record(tenant: event.tenantID, [event])[0]
    }

    /// Records usage events a tenant's batch per transaction, as the consumer's handlers hand
    /// them in (group commit).
    func batches() -> TenantBatches<Envelope<UsageRecorded>, Bool> {
        TenantBatches { tenant, events in try await record(tenant: tenant, events) }
    }

    /// Throws `InvalidUsage` for an event that can never be recorded.
    static func check(_ event: Envelope<UsageRecorded>) throws {
        let usage = event.payload
        guard usage.costMicros >= 0, usage.promptTokens >= 0, usage.completionTokens >= 0,
              usage.promptTokens <= Int(Int32.max), usage.completionTokens <= Int(Int32.max) else {
            throw InvalidUsage(description: "negative or impossible amounts in usage event \(event.id)")
        }
    }

    /// Records checked events of one tenant, and their ids as processed, in one transaction; an
    /// id seen before (or twice here) is recorded once. Answers, for each event in order, whether
    /// it was recorded now. An entry is priced by the tenant's price or the book's in force when
    /// the call occurred; with neither, at the catalog price the router reported.
    func record(tenant: UUID, _ events: [Envelope<UsageRecorded>]) async throws -> [Bool] {
        try await database.withTenant(tenant) { tx in
            let recorded = try await tx.markProcessed(eventIDs: events.map(\.id), consumer: Self.consumerName)
            var schedules: [String: PriceSchedule] = [:]
            var entries: [LedgerRepository.Entry] = []
            var pending = recorded
            for event in events where pending.remove(event.id) != nil {
                let usage = event.payload
                let schedule: PriceSchedule
                if let known = schedules[usage.model] {
                    schedule = known
                } else {
                    schedule = try await PriceRepository.schedule(model: usage.model, in: tx)
                    schedules[usage.model] = schedule
                }
                let priced = schedule.price(of: usage.model, at: event.occurredAt)
                let cost = priced?.price.costMicros(promptTokens: usage.promptTokens, completionTokens: usage.completionTokens) ?? usage.costMicros
                entries.append(.init(event: event, costMicros: cost, pricedBy: priced?.pricedBy ?? "catalog"))
            }
            try await LedgerRepository.record(entries, in: tx)
            var unanswered = recorded
            return events.map { unanswered.remove($0.id) != nil }
        }
    }

    func report(_ call: BillingUsageCall) async throws -> UsageReport {
        let models = try await database.withTenant(call.tenantID) { try await LedgerRepository.usage(from: call.from, to: call.to, apiKeyID: call.apiKeyID, in: $0) }
        let totals = models.reduce(into: UsageReport.Totals()) { totals, model in
            totals.requests += model.usage.requests
            totals.promptTokens += model.usage.promptTokens
            totals.completionTokens += model.usage.completionTokens
            totals.costMicros += model.usage.costMicros
        }
        return UsageReport(from: call.from, to: call.to, totals: totals, byModel: models)
    }
}
