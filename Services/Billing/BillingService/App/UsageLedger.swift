import Contracts
import Foundation
import Logging
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
    /// it had been recorded before: nothing changes then. The entry is priced by the tenant's
    /// price or the book's in force when the call occurred; with neither, at the catalog price
    /// the router reported.
    @discardableResult
    func record(_ event: Envelope<UsageRecorded>) async throws -> Bool {
        let usage = event.payload
        guard usage.costMicros >= 0, usage.promptTokens >= 0, usage.completionTokens >= 0,
              usage.promptTokens <= Int(Int32.max), usage.completionTokens <= Int(Int32.max) else {
            throw InvalidUsage(description: "negative or impossible amounts in usage event \(event.id)")
        }
        return try await database.withTenant(event.tenantID) { tx in
            guard try await tx.markProcessed(eventID: event.id, consumer: Self.consumerName) else { return false }
            let priced = try await PriceRepository.schedule(model: usage.model, in: tx).price(of: usage.model, at: event.occurredAt)
            let cost = priced?.price.costMicros(promptTokens: usage.promptTokens, completionTokens: usage.completionTokens) ?? usage.costMicros
            try await LedgerRepository.record(event, costMicros: cost, pricedBy: priced?.pricedBy ?? "catalog", in: tx)
            return true
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
