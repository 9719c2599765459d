import Contracts
import Foundation
import SwitchyardBus

/// Billing's bus interface as the gateway calls it.
struct BillingClient: Sendable {
    let bus: Bus

    /// The tenant's usage in `[from, to)`, from the ledger.
    func usage(tenant: UUID, apiKey: UUID? = nil, from: Date, to: Date, correlationID: String) async throws(APIError) -> UsageReport {
        do {
            let reply = try await bus.request(
                Subject.service(.billing, BillingVerb.usage),
                payload: JSONCoding.encode(BillingUsageCall(tenantID: tenant, apiKeyID: apiKey, from: from, to: to)),
                headers: [BusHeader.correlationID: correlationID], timeout: .seconds(10))
            return try JSONCoding.decode(UsageReport.self, from: reply.payload)
        } catch {
            throw APIError(.serviceUnavailable, "Usage cannot be read right now; please retry.", code: "billing_unavailable",
                           headers: [.retryAfter: "1"])
        }
    }
}
