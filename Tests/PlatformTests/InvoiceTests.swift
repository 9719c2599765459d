import Contracts
import Crypto
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

                    // A voided month is invoiced again, over the entries the voided invoice took:
                    // February usage recorded after February's closing goes on March's instead.
                    try await Self.record(tenant, model: "chat-b", cost: 70, occurred: Self.day("2025-02-20"),
                                          recorded: february.closedAt.addingTimeInterval(0.5), in: database)
                    try await Task.sleep(for: .seconds(1))
                    let reclosed = try await send(.POST, close, key: Self.adminToken, json: #"{"period":"2025-02"}"#)
                    #expect(reclosed.status == 201, "\(reclosed.text)")
                    let replacement = try reclosed.decode(Invoice.self)
                    #expect(replacement.status == .draft && replacement.id != february.id && replacement.number != february.number)
                    #expect(replacement.lines == february.lines && replacement.totalMicros == february.totalMicros)
                    #expect(replacement.closedAt == february.closedAt)
                    #expect(try await send(.POST, close, key: Self.adminToken, json: #"{"period":"2025-02"}"#).decode(Invoice.self) == replacement)
                    let march = try await send(.POST, close, key: Self.adminToken, json: #"{"period":"2025-03"}"#).decode(Invoice.self)
                    #expect(march.lines == [
                        Invoice.Line(kind: .adjustment, period: "2025-02", model: "chat-b", requests: 1, promptTokens: 10, completionTokens: 20, amountMicros: 70),
                    ])

                    let listed = try await send(.GET, gateway.url + "/v1/invoices", key: billingKey).decode(ListOf<Invoice>.self)
                    #expect(listed.data.map(\.period) == ["2025-01", "2025-02", "2025-02", "2025-03"])
                    #expect(listed.data.map(\.status) == [.paid, .void, .draft, .draft])
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

                    // A 12.5 % discount from April: 1235 × 0.125 = 154.375, rounded to 154.
                    let discount = try await send(.POST, gateway.url + "/admin/tenants/\(tenant)/discounts", key: Self.adminToken,
                                                  json: #"{"basis_points":1250,"effective_from":"2025-04-01T00:00:00Z"}"#)
                    #expect(discount.status == 201, "\(discount.text)")
                    #expect(try await send(.POST, gateway.url + "/admin/tenants/\(tenant)/discounts", key: Self.adminToken,
                                           json: #"{"basis_points":10001,"effective_from":"2025-04-01T00:00:00Z"}"#).error?.param == "basis_points")
                    try await Self.record(tenant, model: "chat-a", cost: 1_235, occurred: Self.day("2025-04-03"), recorded: Self.day("2025-04-03"), in: database)
                    let april = try await send(.POST, close, key: Self.adminToken, json: #"{"period":"2025-04"}"#).decode(Invoice.self)
                    #expect(april.subtotalMicros == 1_235 && april.discountBasisPoints == 1_250 && april.discountMicros == 154 && april.totalMicros == 1_081)
                    #expect(first.discountMicros == 0, "January was invoiced before the discount")
                    let aprilPage = try await send(.GET, gateway.url + "/v1/invoices/\(april.id)?format=html", key: billingKey)
                    #expect(aprilPage.text.contains("Discount 12.5 %") && aprilPage.text.contains("$0.001081"))
                }
            }
        }
    }
}

/// The payment provider's signed webhook marks an issued invoice paid; forged, stale and
/// replayed calls change nothing.
@Suite struct PaymentWebhookTests {
    static let secret = "whsec-" + String(repeating: "s", count: 40)

    static func signature(_ body: String, at time: Date = Date(), secret: String = PaymentWebhookTests.secret) -> String {
        let stamp = Int64(time.timeIntervalSince1970)
        let mac = HMAC<SHA256>.authenticationCode(for: Data("\(stamp).\(body)".utf8), using: SymmetricKey(data: Data(secret.utf8)))
        return "t=\(stamp),v1=" + mac.map { String(format: "%02x", $0) }.joined()
    }

    @Test func aSignedPaymentMarksTheInvoicePaidOnceAndForgedOrStaleOnesAreRefused() async throws {
        try await withDatabase { database in
            let (tenant, billingKey) = try await makeTenantWithKey(database, role: .billing)
            try await InvoiceTests.record(tenant, model: "chat-a", cost: 2_500, occurred: InvoiceTests.day("2025-03-10"), recorded: InvoiceTests.day("2025-03-10"), in: database)
            let config = GatewayConfig(port: 0, adminToken: .init(InvoiceTests.adminToken), paymentWebhookSecret: .init(Self.secret))
            try await withGateway(tenant: tenant, config: config) { gateway in
                try await withServiceGroup(billingServices(gateway, tenant: tenant)) {
                    let invoice = try await send(.POST, gateway.url + "/admin/tenants/\(tenant)/invoices", key: InvoiceTests.adminToken,
                                                 json: #"{"period":"2025-03"}"#).decode(Invoice.self)
                    _ = try await send(.POST, gateway.url + "/admin/tenants/\(tenant)/invoices/\(invoice.id)/status", key: InvoiceTests.adminToken,
                                       json: #"{"status":"issued"}"#)
                    let hook = gateway.url + "/webhooks/payments"
                    let eventID = "evt_\(UUID().uuidString)"
                    func event(_ id: String = eventID, type: String = "payment.succeeded", invoice invoiceID: UUID = invoice.id) -> String {
                        #"{"id":"\#(id)","type":"\#(type)","tenant_id":"\#(tenant)","invoice_id":"\#(invoiceID)","reference":"pi_42"}"#
                    }
                    func post(_ body: String, signature: String?) async throws -> HTTPAnswer {
                        try await send(.POST, hook, json: body, headers: signature.map { [("Switchyard-Signature", $0)] } ?? [])
                    }

                    let forged = try await post(event(), signature: Self.signature(event(), secret: "another-secret-of-forty-characters-xxxxx"))
                    #expect(forged.status == 401 && forged.error?.code == "invalid_signature")
                    #expect(try await post(event(), signature: nil).status == 401)
                    #expect(try await post(event(), signature: Self.signature(event(), at: Date().addingTimeInterval(-600))).status == 401, "stale")
                    #expect(try await post(event(), signature: "t=1,v1=zz").status == 401)
                    let tampered = try await post(event().replacingOccurrences(of: "pi_42", with: "pi_43"), signature: Self.signature(event()))
                    #expect(tampered.status == 401, "the signature covers the body")
                    let unpaid = try await send(.GET, gateway.url + "/v1/invoices/\(invoice.id)", key: billingKey).decode(Invoice.self)
                    #expect(unpaid.status == .issued, "nothing refused changed the invoice")

                    let applied = try await post(event(), signature: Self.signature(event()))
                    #expect(applied.status == 200 && applied.text.contains(#""applied":true"#), "\(applied.text)")
                    let paid = try await send(.GET, gateway.url + "/v1/invoices/\(invoice.id)", key: billingKey).decode(Invoice.self)
                    #expect(paid.status == .paid && paid.paymentReference == "pi_42")
                    let replayed = try await post(event(), signature: Self.signature(event()))
                    #expect(replayed.status == 200 && replayed.text.contains(#""applied":false"#), "an event seen before changes nothing")

                    let other = try await post(event("evt_other_\(UUID())", type: "payment.refunded"), signature: Self.signature(event("evt_other", type: "payment.refunded")))
                    #expect(other.status == 401, "each body has its own signature")
                    let otherBody = event("evt_other_\(UUID())", type: "charge.updated")
                    #expect(try await post(otherBody, signature: Self.signature(otherBody)).text.contains(#""applied":false"#), "other kinds are acknowledged")

                    let missing = #"{"id":"evt_x","type":"payment.succeeded","tenant_id":"\#(tenant)","reference":"pi_1"}"#
                    let unreadable = try await post(missing, signature: Self.signature(missing))
                    #expect(unreadable.status == 400 && unreadable.error?.param == "invoice_id")
                    let nowhere = event("evt_nowhere_\(UUID())", invoice: UUID())
                    #expect(try await post(nowhere, signature: Self.signature(nowhere)).status == 404)
                    #expect(try await post(nowhere, signature: Self.signature(nowhere)).status == 404, "a call that failed is not remembered as seen")
                }
            }
        }
    }

    @Test func withoutASecretTheWebhookIsNotThere() async throws {
        try await withDatabase { database in
            let tenant = try await makeTenant(database)
            try await withGateway(tenant: tenant) { gateway in
                let body = #"{"id":"evt_1"}"#
                let answer = try await send(.POST, gateway.url + "/webhooks/payments", json: body,
                                            headers: [("Switchyard-Signature", PaymentWebhookTests.signature(body))])
                #expect(answer.status == 404)
            }
        }
    }
}
