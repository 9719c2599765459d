@testable import BillingService
import Contracts
import Foundation
import GatewayService
import NIOHTTP1
import RouterService
import SwitchyardDatabase
import Testing

/// The price book and a tenant's own prices: the router reports, the gateway reserves and
/// billing records every call at the price in force when it occurred.
@Suite struct PriceBookTests {
    /// A model of its own per test: the book is every tenant's, and other tests price theirs.
    static func catalog(_ model: String) throws -> Catalog {
        try CatalogFile.parse("""
            models:
              \(model):
                deployments:
                  - {name: local/\(model), provider: local, upstream_model: local-chat,
                     price: {input_micros_per_million: 500000, output_micros_per_million: 1500000}, context_window: 4096, capabilities: [chat, streaming]}
            """, file: "price test catalog")
    }

    static let adminToken = GatewayAdminTests.adminToken
    static let config = GatewayConfig(port: 0, adminToken: .init(adminToken))

    /// A version's body as the admin API takes it, in force from `from` (by default now, to
    /// the millisecond).
    static func priceJSON(_ model: String, input: Int64?, output: Int64?, from: Date = Date()) -> String {
        let request = SetPriceRequest(model: model, inputMicrosPerMillion: input, outputMicrosPerMillion: output, effectiveFrom: from)
        return String(decoding: try! JSONCoding.encode(request), as: UTF8.self)
    }

    @Test func callsAreChargedByTheBookThenTheTenantsOwnPriceConsistentlyEverywhere() async throws {
        let model = uniqueName("priced")
        try await withDatabase { database in
            let (tenant, key) = try await makeTenantWithKey(database)
            try await withGateway(tenant: tenant, config: Self.config, catalog: try Self.catalog(model)) { gateway in
                try await withServiceGroup(billingServices(gateway, tenant: tenant)) {
                    func inputPrice() async throws -> Int64? {
                        try await send(.GET, gateway.url + "/v1/models", key: key).decode(ModelList.self).data.first { $0.id == model }?.pricing?.inputMicrosPerMillion
                    }
                    /// One call; its usage event, and the ledger entry billing made of it.
                    func call() async throws -> (event: UsageRecorded, charged: Int64, pricedBy: String) {
                        let answer = try await send(.POST, gateway.url + "/v1/chat/completions", key: key, json: chatJSON(model: model, maxTokens: 8))
                        #expect(answer.status == 200, "\(answer.text)")
                        let event = try #require(await gateway.usage.next(1).first).decode(UsageRecorded.self).payload
                        var entry: (Int64, String)?
                        _ = try await eventually {
                            entry = try await database.withTenant(tenant) { tx in
                                let rows = try await tx.query("SELECT cost_micros, priced_by FROM ledger_entries WHERE request_id = \(event.requestID)")
                                for try await row in rows.decode((Int64, String).self) { return row }
                                return nil
                            }
                            return entry != nil
                        }
                        let (charged, pricedBy) = try #require(entry)
                        return (event, charged, pricedBy)
                    }
                    func cost(_ event: UsageRecorded, _ input: Int64, _ output: Int64) -> Int64 {
                        Price(inputMicrosPerMillion: input, outputMicrosPerMillion: output).costMicros(promptTokens: event.promptTokens, completionTokens: event.completionTokens)
                    }

                    let catalogCall = try await call()
                    #expect(catalogCall.pricedBy == "catalog" && catalogCall.charged == cost(catalogCall.event, 500_000, 1_500_000))

                    let added = try await send(.POST, gateway.url + "/admin/prices", key: Self.adminToken, json: Self.priceJSON(model, input: 2_000_000, output: 4_000_000))
                    #expect(added.status == 201, "\(added.text)")
                    #expect(try added.decode(PriceVersion.self).version == 1)
                    #expect(try await eventually { try await inputPrice() == 2_000_000 }, "the model list prices the model by the book")
                    let bookCall = try await call()
                    #expect(bookCall.pricedBy == "book:1")
                    #expect(bookCall.event.costMicros == cost(bookCall.event, 2_000_000, 4_000_000), "the router reports the book's price")
                    #expect(bookCall.charged == bookCall.event.costMicros, "billing charges what the router reported")

                    let own = try await send(.POST, gateway.url + "/admin/tenants/\(tenant)/prices", key: Self.adminToken,
                                             json: Self.priceJSON(model, input: 100_000, output: 200_000))
                    #expect(own.status == 201, "\(own.text)")
                    #expect(try await eventually { try await inputPrice() == 100_000 })
                    let ownCall = try await call()
                    #expect(ownCall.pricedBy == "tenant:1" && ownCall.charged == cost(ownCall.event, 100_000, 200_000))
                    #expect(ownCall.event.costMicros == ownCall.charged)

                    let back = try await send(.POST, gateway.url + "/admin/tenants/\(tenant)/prices", key: Self.adminToken, json: Self.priceJSON(model, input: nil, output: nil))
                    #expect(back.status == 201)
                    #expect(try await eventually { try await inputPrice() == 2_000_000 }, "a version without prices puts the book back")
                    #expect(try await call().pricedBy == "book:1")

                    let listed = try await send(.GET, gateway.url + "/admin/tenants/\(tenant)/prices", key: Self.adminToken).decode(ListOf<PriceVersion>.self)
                    #expect(listed.data.map(\.version) == [1, 2] && listed.data.last?.price == nil)
                    let usage = try await send(.GET, gateway.url + "/v1/usage", key: key).decode(UsageReport.self)
                    #expect(usage.totals.requests == 4)
                }
            }
        }
    }

    @Test func anEventIsPricedByTheVersionInForceWhenItOccurred() async throws {
        let model = uniqueName("versioned")
        try await withDatabase { database in
            let tenant = try await makeTenant(database)
            let now = Date()
            _ = try await PriceRepository.addToBook(model: model, price: Price(inputMicrosPerMillion: 1_000_000, outputMicrosPerMillion: 0),
                                                    effectiveFrom: now.addingTimeInterval(3_600), on: database.client)
            _ = try await PriceRepository.addToBook(model: model, price: Price(inputMicrosPerMillion: 3_000_000, outputMicrosPerMillion: 0),
                                                    effectiveFrom: now.addingTimeInterval(7_200), on: database.client)
            let ledger = UsageLedger(database: database)
            for (offset, request) in [(0.0, "before"), (5_400.0, "first"), (9_000.0, "second")] {
                try await ledger.record(Envelope(
                    id: .derived(from: "usage.recorded:\(model):\(request)"), tenantID: tenant, occurredAt: now.addingTimeInterval(offset),
                    payload: UsageRecorded(requestID: "\(model):\(request)", apiKeyID: nil, model: model, deployment: "local/\(model)",
                                           promptTokens: 1_000, completionTokens: 10, costMicros: 7, latencyMs: 5, status: .succeeded)))
            }
            let entries = try await database.withTenant(tenant) { tx in
                var entries: [String: (Int64, String)] = [:]
                let rows = try await tx.query("SELECT request_id, cost_micros, priced_by FROM ledger_entries WHERE model = \(model)")
                for try await (request, cost, pricedBy) in rows.decode((String, Int64, String).self) { entries[request] = (cost, pricedBy) }
                return entries
            }
            #expect(entries["\(model):before"]! == (7, "catalog"), "before any version: the router's catalog price")
            #expect(entries["\(model):first"]! == (1_000, "book:1"))
            #expect(entries["\(model):second"]! == (3_000, "book:2"))
        }
    }

    @Test func aPriceIsSetByTheOperatorOnlyAndABadOneNamesItsField() async throws {
        let model = uniqueName("refused")
        try await withDatabase { database in
            let (tenant, owner) = try await makeTenantWithKey(database, role: .owner)
            try await withGateway(tenant: tenant, config: Self.config, catalog: try Self.catalog(model)) { gateway in
                let cases: [(body: String, field: String)] = [
                    (Self.priceJSON(model, input: 1, output: 1, from: Date().addingTimeInterval(-3_600)), "effective_from"),
                    (Self.priceJSON(model, input: 5, output: nil), "output_micros_per_million"),
                    (Self.priceJSON(model, input: -1, output: 1), "input_micros_per_million"),
                    (Self.priceJSON("", input: 1, output: 1), "model"),
                    (Self.priceJSON(model, input: nil, output: nil), "input_micros_per_million"),
                ]
                for (body, field) in cases {
                    let refused = try await send(.POST, gateway.url + "/admin/prices", key: Self.adminToken, json: body)
                    #expect(refused.status == 400 && refused.error?.param == field, "\(body): \(refused.text)")
                }
                let byOwner = try await send(.POST, gateway.url + "/admin/tenants/\(tenant)/prices", key: owner, json: Self.priceJSON(model, input: 0, output: 0))
                #expect(byOwner.status == 403, "a tenant does not set its own prices")
                #expect(try await send(.POST, gateway.url + "/admin/prices", key: owner, json: Self.priceJSON(model, input: 0, output: 0)).status == 403)
                #expect(try await send(.GET, gateway.url + "/admin/tenants/\(tenant)/prices", key: owner).status == 200, "it reads them")
                #expect(try await send(.GET, gateway.url + "/admin/prices?model=\(model)", key: Self.adminToken).decode(ListOf<PriceVersion>.self).data.isEmpty)
            }
        }
    }
}
