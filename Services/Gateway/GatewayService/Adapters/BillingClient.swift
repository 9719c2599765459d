import Contracts
import Foundation
import SwitchyardBus

/// Billing's bus interface as the gateway calls it.
struct BillingClient: Sendable {
    let client: ServiceClient

    init(bus: Bus) {
        client = ServiceClient(
            bus: bus, service: .billing, resource: "invoice",
            unavailable: APIError(.serviceUnavailable, "Billing cannot answer right now; please retry.", code: "billing_unavailable",
                                  headers: [.retryAfter: "1"]))
    }

    /// The tenant's usage in `[from, to)`, from the ledger.
    func usage(tenant: UUID, apiKey: UUID? = nil, from: Date, to: Date, correlationID: String) async throws(APIError) -> UsageReport {
        try await request(BillingVerb.usage, BillingUsageCall(tenantID: tenant, apiKeyID: apiKey, from: from, to: to), correlationID: correlationID)
    }

    /// The ledger's spend of a budget's period `[from, to)` up to where the ledger is complete.
    func budgetSpend(tenant: UUID, apiKey: UUID?, from: Date, to: Date, correlationID: String) async throws(APIError) -> LedgerSpend {
        try await request(BillingVerb.budgetSpend, BillingUsageCall(tenantID: tenant, apiKeyID: apiKey, from: from, to: to), correlationID: correlationID)
    }

    /// The tenant's spend over the next 30 days and its budget's outlook.
    func forecast(tenant: UUID, correlationID: String) async throws(APIError) -> SpendForecastReport {
        try await request(BillingVerb.forecast, BillingForecastCall(tenantID: tenant), correlationID: correlationID)
    }

    func invoices(tenant: UUID, correlationID: String) async throws(APIError) -> ListOf<Invoice> {
        try await request(InvoiceVerb.list, InvoiceListCall(tenantID: tenant), correlationID: correlationID)
    }

    func invoice(_ id: UUID, tenant: UUID, correlationID: String) async throws(APIError) -> Invoice {
        try await request(InvoiceVerb.show, InvoiceCall(tenantID: tenant, invoiceID: id), correlationID: correlationID)
    }

    func closeInvoice(period: String, tenant: UUID, correlationID: String) async throws(APIError) -> InvoiceClosed {
        try await request(InvoiceVerb.close, InvoiceCloseCall(tenantID: tenant, period: period), correlationID: correlationID)
    }

    func setInvoiceStatus(_ call: InvoiceStatusCall, correlationID: String) async throws(APIError) -> Invoice {
        try await request(InvoiceVerb.setStatus, call, correlationID: correlationID)
    }

    private func request<Answer: Decodable>(_ verb: String, _ call: some Encodable, correlationID: String) async throws(APIError) -> Answer {
        try await client.request(verb, call, correlationID: correlationID)
    }
}
