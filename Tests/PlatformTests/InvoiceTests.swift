import Contracts
import Foundation
import GatewayService
import NIOHTTP1
import SwitchyardDatabase
import Testing

/// Monthly invoices from the ledger, through the gateway and billing: closing a month once,
/// late usage on the next invoice, the statuses, the printable page.
@Suite struct InvoiceTests {
    static let adminToken = GatewayAdminTests.adminToken
    static let config = GatewayConfig(port: 0, adminToken: .init(adminToken))

    static func day(_ text: String) -> Date { try! Date(text + "T12:00:00Z", strategy: .iso8601) }

    /// A ledger entry as billing records one, occurred and recorded when the test says.
    static func record(_ tenant: UUID, model: String, cost: Int64, occurred: Date, recorded: Date, in database: Database) async throws {
        try await database.withTenant(tenant) { tx in
            try await tx.execute("""
                INSERT INTO ledger_entries (tenant_id, event_id, request_id, model, deployment, prompt_tokens, completion_tokens,
                                            cost_micros, status, occurred_at, recorded_at)
                VALUES (\(tenant), \(UUID()), \("req_\(UUID().uuidString)"), \(model), \("local/\(model)"), 10, 20, \(cost), 'succeeded',
                        \(occurred), \(recorded))
                """)
        }
    }

    @Test func aMonthIsInvoicedOnceLateUsageGoesOnTheNextAndTheStatusesMoveOneWay() async throws {
        try await withDatabase { database in
            let (tenant, billingKey) = try await makeTenantWithKey(database, role: .billing)
            let developer = try await makeKey(database, tenant: tenant, role: .developer)
            let (_, stranger) = try await makeTenantWithKey(database, role: .billing)
            try await Self.record(tenant, model: "chat-a", cost: 1_000, occurred: Self.day("2025-01-10"), recorded: Self.day("2025-01-10"), in: database)
            try await Self.record(tenant, model: "chat-b", cost: 500, occurred: Self.day("2025-01-20"), recorded: Self.day("2025-01-20"), in: database)
            try await Self.record(tenant, model: "chat-a", cost: 200, occurred: Self.day("2025-02-05"), recorded: Self.day("2025-02-05"), in: database)
            try await withGateway(tenant: tenant, config: Self.config) { gateway in
                try await withServiceGroup(billingServices(gateway, tenant: tenant)) {
                    let close = gateway.url + "/admin/tenants/\(tenant)/invoices"
                    let january = try await send(.POST, close, key: Self.adminToken, json: #"{"period":"2025-01"}"#)
                    #expect(january.status == 201, "\(january.text)")
                    let first = try january.decode(Invoice.self)
                    #expect(first.status == .draft && first.totalMicros == 1_500 && first.number.hasPrefix("SY-202501-"))
                    #expect(first.lines.map(\.model) == ["chat-a", "chat-b"] && first.lines.allSatisfy { $0.kind == .usage && $0.period == "2025-01" })

                    let again = try await send(.POST, close, key: Self.adminToken, json: #"{"period":"2025-01"}"#)
                    #expect(again.status == 200, "closing a month again answers its invoice")
                    #expect(try again.decode(Invoice.self) == first)

                    // January usage recorded after January was closed goes on February's invoice.
                    try await Self.record(tenant, model: "chat-a", cost: 300, occurred: Self.day("2025-01-25"),
                                          recorded: first.closedAt.addingTimeInterval(0.5), in: database)
                    try await Task.sleep(for: .seconds(1))
                    let february = try await send(.POST, close, key: Self.adminToken, json: #"{"period":"2025-02"}"#).decode(Invoice.self)
                    #expect(february.lines == [
                        Invoice.Line(kind: .usage, period: "2025-02", model: "chat-a", requests: 1, promptTokens: 10, completionTokens: 20, amountMicros: 200),
                        Invoice.Line(kind: .adjustment, period: "2025-01", model: "chat-a", requests: 1, promptTokens: 10, completionTokens: 20, amountMicros: 300),
                    ])
                    #expect(february.totalMicros == 500 && february.number != first.number)

                    let status = gateway.url + "/admin/tenants/\(tenant)/invoices/\(first.id)/status"
                    #expect(try await send(.POST, status, key: Self.adminToken, json: #"{"status":"paid"}"#).status == 409, "a draft is issued before it is paid")
                    let issued = try await send(.POST, status, key: Self.adminToken, json: #"{"status":"issued"}"#).decode(Invoice.self)
                    #expect(issued.status == .issued && issued.issuedAt != nil)
                    let paid = try await send(.POST, status, key: Self.adminToken, json: #"{"status":"paid","payment_reference":"wire 2025-03-02"}"#)
                    #expect(try paid.decode(Invoice.self).status == .paid && (try paid.decode(Invoice.self).paymentReference) == "wire 2025-03-02")
                    #expect(try await send(.POST, status, key: Self.adminToken, json: #"{"status":"paid"}"#).status == 200, "paying twice changes nothing")
                    let voidPaid = try await send(.POST, status, key: Self.adminToken, json: #"{"status":"void"}"#)
                    #expect(voidPaid.status == 409 && voidPaid.error?.param == "status")
                    let voided = try await send(.POST, gateway.url + "/admin/tenants/\(tenant)/invoices/\(february.id)/status", key: Self.adminToken,
                                                json: #"{"status":"void"}"#).decode(Invoice.self)
                    #expect(voided.status == .void && voided.voidedAt != nil)

                    let listed = try await send(.GET, gateway.url + "/v1/invoices", key: billingKey).decode(ListOf<Invoice>.self)
                    #expect(listed.data.map(\.period) == ["2025-01", "2025-02"])
                    #expect(try await send(.GET, gateway.url + "/v1/invoices", key: developer.secret).status == 403)
                    #expect(try await send(.GET, gateway.url + "/v1/invoices/\(first.id)", key: stranger).status == 404)

                    let page = try await send(.GET, gateway.url + "/v1/invoices/\(february.id)", key: billingKey, headers: [("Accept", "text/html")])
                    #expect(page.headers.first(name: "content-type") == "text/html; charset=utf-8")
                    #expect(page.text.contains(february.number) && page.text.contains("chat-a, 2025-01 (recorded late)"))
                    #expect(page.text.contains("$0.000500") && !page.text.contains("<script"))

                    let refused: [(body: String, field: String)] = [(#"{"period":"2025-13"}"#, "period"), (#"{"period":"2999-01"}"#, "period")]
                    for (body, field) in refused {
                        let answer = try await send(.POST, close, key: Self.adminToken, json: body)
                        #expect(answer.status == 400 && answer.error?.param == field, "\(body): \(answer.text)")
                    }
                    #expect(try await send(.POST, close, key: billingKey, json: #"{"period":"2025-03"}"#).status == 403)
                }
            }
        }
    }
}
