import Contracts
import Foundation
import SwitchyardBus

/// Billing's bus interface as the gateway calls it.
struct BillingClient: Sendable {
    let bus: Bus

    /// The tenant's usage in `[from, to)`, from the ledger.
    func usage(tenant: UUID, apiKey: UUID? = nil, from: Date, to: Date, correlationID: String) async throws(APIError) -> UsageReport {
        try await request(BillingVerb.usage, BillingUsageCall(tenantID: tenant, apiKeyID: apiKey, from: from, to: to), correlationID: correlationID)
    }

    /// The tenant's spend over the next 30 days and its budget's outlook.
    func forecast(tenant: UUID, correlationID: String) async throws(APIError) -> SpendForecastReport {
        try await request(BillingVerb.forecast, BillingForecastCall(tenantID: tenant), correlationID: correlationID)
    }

    private func request<Answer: Decodable>(_ verb: String, _ call: some Encodable, correlationID: String) async throws(APIError) -> Answer {
        do {
            let reply = try await bus.request(
                Subject.service(.billing, verb), payload: JSONCoding.encode(call),
                headers: [BusHeader.correlationID: correlationID], timeout: .seconds(10))
            return try JSONCoding.decode(Answer.self, from: reply.payload)
        } catch {
            throw APIError(.serviceUnavailable, "Usage cannot be read right now; please retry.", code: "billing_unavailable",
                           headers: [.retryAfter: "1"])
        }
    }
}
