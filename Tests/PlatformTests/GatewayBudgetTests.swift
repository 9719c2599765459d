import Contracts
import Foundation
import GatewayService
import RouterService
import SwitchyardBus
import SwitchyardDatabase
import Testing

/// Money budgets and monthly token quotas through the gateway's whole path, with two replicas
/// sharing one Redis.
@Suite struct GatewayBudgetTests {
    static let adminToken = "test-admin-token-" + String(repeating: "b", count: 32)

    @Test func aOneDollarBudgetIsNeverOverspentByConcurrentCallsOfAboutTenCents() async throws {
        try await withDatabase { database in
            let (tenant, owner) = try await makeTenantWithKey(database, role: .owner)
            try await withGateway(tenant: tenant, replicas: 2) { gateway in
                let billing = billingServices(gateway, tenant: tenant)
                try await withServiceGroup(billing) {
                    let set = try await send(.PUT, gateway.url + "/admin/tenants/\(tenant)/budget", key: owner,
                                             json: #"{"amount_micros":1000000,"policy":"block"}"#)
                    #expect(set.status == 200, "\(set.text)")
                    #expect(try set.decode(Budget.self).amountMicros == 1_000_000)
                    #expect(set.text.contains(#""amount_usd":"1.000000""#))

                    // At $5,000 a million tokens, a call of this prompt and 6 completion tokens costs
                    // about $0.10; it is reserved at more (the prompt's byte count bounds its tokens).
                    let body = chatJSON(model: "pricey-chat", maxTokens: 6)
                    let answers = try await gateway.chatAtOnce(40, key: owner, body: body)
                    let admitted = answers.filter { $0.status == 200 }
                    let refused = answers.filter { $0.status == 429 }
                    #expect(admitted.count + refused.count == 40)
                    #expect(!admitted.isEmpty && !refused.isEmpty)
                    #expect(refused.allSatisfy { $0.error?.type == .insufficientQuota }, "\(refused.first?.text ?? "")")

                    // What was spent never passes the dollar, and no more calls ran than the
                    // dollar pays for.
                    let events = try await gateway.usage.next(admitted.count).map { try $0.decode(UsageRecorded.self).payload }
                    let spent = events.map(\.costMicros).reduce(0, +)
                    let cheapest = try #require(events.map(\.costMicros).min())
                    #expect(events.count == admitted.count)
                    #expect(spent <= 1_000_000, "spent \(spent) micro-USD of a 1,000,000 budget")
                    #expect(Int64(admitted.count) <= 1_000_000 / cheapest, "\(admitted.count) calls of at least \(cheapest)")
                    #expect(cheapest >= 50_000, "a call cost \(cheapest): the test no longer prices calls near $0.10")
                }
            }
        }
    }

    /// A call that sets no max_tokens is reserved at the most the model can write: here the
    /// context window, as the deployment states no max_output_tokens. Each answer writes 3,000
    /// tokens, far past any fixed estimate, and concurrent calls still never pass the budget.
    @Test func callsWithoutMaxTokensAreReservedAtTheMostTheModelCanWrite() async throws {
        let upstream = FakeOpenAIUpstream(.answer(tokens: ["A long answer."], usage: TokenUsage(promptTokens: 20, completionTokens: 3000)))
        let (url, server) = try await upstream.start()
        defer { server.cancel() }
        let catalog = try Self.longAnswersCatalog(url)
        try await withDatabase { database in
            let (tenant, owner) = try await makeTenantWithKey(database, role: .owner)
            try await withGateway(tenant: tenant, replicas: 2, catalog: catalog) { gateway in
                let billing = billingServices(gateway, tenant: tenant)
                try await withServiceGroup(billing) {
                    let models = try await send(.GET, gateway.url + "/v1/models", key: owner).decode(ModelList.self)
                    #expect(models.data.map(\.maxCompletionTokens) == [512, 4096], "\(models.data.map(\.id))")

                    let set = try await send(.PUT, gateway.url + "/admin/tenants/\(tenant)/budget", key: owner,
                                             json: #"{"amount_micros":10000000,"policy":"block"}"#)
                    #expect(set.status == 200, "\(set.text)")
                    let body = chatJSON(model: "long-chat")
                    let answers = try await gateway.chatAtOnce(12, key: owner, body: body)
                    let admitted = answers.filter { $0.status == 200 }
                    let refused = answers.filter { $0.status == 429 }
                    #expect(admitted.count + refused.count == 12, "\(answers.map(\.status))")
                    #expect(!admitted.isEmpty && !refused.isEmpty)
                    #expect(refused.allSatisfy { $0.error?.type == .insufficientQuota }, "\(refused.first?.text ?? "")")
                    #expect(refused.contains { $0.error?.message.contains("Set a lower max_tokens") == true }, "\(refused.first?.text ?? "")")

                    let events = try await gateway.usage.next(admitted.count).map { try $0.decode(UsageRecorded.self).payload }
                    let spent = events.map(\.costMicros).reduce(0, +)
                    #expect(events.allSatisfy { $0.completionTokens == 3000 })
                    #expect(spent <= 10_000_000, "spent \(spent) micro-USD of a 10,000,000 budget in \(admitted.count) calls")
                }
            }
        }
    }

    /// Two models of an upstream whose answers are 3,000 tokens long, at $1,000 a million
    /// tokens (an answer costs about $3.02): one bounded by its context window (a call without
    /// max_tokens is reserved at 4,096 completion tokens, about $4.13), one by max_output_tokens.
    static func longAnswersCatalog(_ url: String) throws -> Catalog {
        try CatalogFile.parse("""
            models:
              long-chat:
                deployments:
                  - name: fake/long-chat
                    provider: openai
                    upstream_model: long-chat
                    base_url: \(url)
                    price: {input_micros_per_million: 1000000000, output_micros_per_million: 1000000000}
                    context_window: 4096
                    capabilities: [chat]
              bounded-chat:
                deployments:
                  - name: fake/bounded-chat
                    provider: openai
                    upstream_model: bounded-chat
                    base_url: \(url)
                    price: {input_micros_per_million: 1000000000, output_micros_per_million: 1000000000}
                    context_window: 4096
                    max_output_tokens: 512
                    capabilities: [chat]
            """, file: "long answers catalog")
    }

    /// A monthly token quota holds the same way: a call without max_tokens takes the most it can
    /// use from it while it runs, and its real count afterwards.
    @Test func aMonthlyTokenQuotaIsNeverPassedByConcurrentCallsWithoutMaxTokens() async throws {
        let upstream = FakeOpenAIUpstream(.answer(tokens: ["A long answer."], usage: TokenUsage(promptTokens: 20, completionTokens: 3000)))
        let (url, server) = try await upstream.start()
        defer { server.cancel() }
        try await withDatabase { database in
            let (tenant, key) = try await makeTenantWithKey(database, tenantLimits: QuotaLimits(tokensPerMonth: 10_000))
            try await withGateway(tenant: tenant, replicas: 2, catalog: try Self.longAnswersCatalog(url)) { gateway in
                let body = chatJSON(model: "long-chat")
                let answers = try await gateway.chatAtOnce(12, key: key, body: body)
                let admitted = answers.filter { $0.status == 200 }
                let refused = answers.filter { $0.status == 429 }
                #expect(admitted.count + refused.count == 12, "\(answers.map(\.status))")
                #expect(!admitted.isEmpty && !refused.isEmpty)
                #expect(refused.allSatisfy { $0.error?.code == "tokens_per_month" }, "\(refused.first?.text ?? "")")
                #expect(refused.contains { $0.error?.message.contains("Set a lower max_tokens") == true }, "\(refused.first?.text ?? "")")
                let events = try await gateway.usage.next(admitted.count).map { try $0.decode(UsageRecorded.self).payload }
                let used = events.map { $0.promptTokens + $0.completionTokens }.reduce(0, +)
                #expect(used <= 10_000, "\(used) tokens of a 10,000 monthly quota in \(admitted.count) calls")
            }
        }
    }

    /// Gateways hear a router reload its catalog and reserve the next call at the new price at
    /// once, not when their copy of the model list expires a minute later.
    @Test func aCatalogReloadReservesTheNextCallAtItsPrices() async throws {
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("catalog-\(UUID().uuidString).yaml")
        defer { try? FileManager.default.removeItem(at: file) }
        func writeCatalog(microsPerMillion: Int64) throws {
            try """
                models:
                  local-chat:
                    deployments:
                      - name: local/local-chat
                        provider: local
                        upstream_model: local-chat
                        price: {input_micros_per_million: \(microsPerMillion), output_micros_per_million: \(microsPerMillion)}
                        context_window: 4096
                        capabilities: [chat]
                """.write(to: file, atomically: true, encoding: .utf8)
        }
        try writeCatalog(microsPerMillion: 1_000_000)
        let config = GatewayConfig(port: 0, adminToken: .init(Self.adminToken))
        try await withDatabase { database in
            let (tenant, owner) = try await makeTenantWithKey(database, role: .owner)
            // In force before the gateway starts: its first call is priced, and the prices kept.
            try await database.withTenant(tenant) { try await BudgetRepository.setTenantBudget(Budget(amountMicros: 1_000_000), in: $0) }
            try await withGateway(tenant: tenant, catalogStore: try CatalogStore(path: file.path), config: config) { gateway in
                let billing = billingServices(gateway, tenant: tenant)
                try await withServiceGroup(billing) {
                    let call = { try await send(.POST, gateway.url + "/v1/chat/completions", key: owner, json: chatJSON()) }
                    #expect(try await call().status == 200, "at $1 a million tokens a call costs a hundredth of a cent")

                    // At $100,000 a million, a call is reserved at $8.00: its prompt's 32 bytes and
                    // the longest local answer, 48 tokens.
                    try writeCatalog(microsPerMillion: 100_000_000_000)
                    let reload = try await send(.POST, gateway.url + "/admin/catalog/reload", key: Self.adminToken)
                    #expect(reload.status == 200, "\(reload.text)")
                    // The router announced the reload before it answered (and the gateway waits a
                    // second for every router's answer): the very next call is reserved at the new
                    // price, and refused by its reservation, not by money already spent.
                    let after = try await call()
                    #expect(after.status == 429 && after.error?.type == .insufficientQuota, "\(after.status) \(after.text)")
                    #expect(after.error?.message.contains("This call may cost up to 8.000000 USD") == true, "\(after.text)")
                }
            }
        }
    }

    @Test func aBudgetOnAKeyAndItsValidation() async throws {
        try await withDatabase { database in
            let (tenant, owner) = try await makeTenantWithKey(database, role: .owner)
            let developer = try await makeKey(database, tenant: tenant, role: .developer)
            try await withGateway(tenant: tenant) { gateway in
                let billing = billingServices(gateway, tenant: tenant)
                try await withServiceGroup(billing) {
                    let url = gateway.url + "/admin/api-keys/\(developer.id)/budget"
                    let byDeveloper = try await send(.PUT, url, key: developer.secret, json: #"{"amount_micros":1}"#)
                    #expect(byDeveloper.status == 403)
                    for (body, param) in [(#"{"amount_micros":0}"#, "amount_micros"), (#"{"amount_micros":5,"thresholds":[90,50]}"#, "thresholds"),
                                          (#"{"amount_micros":5,"policy":"pray"}"#, "policy")] {
                        let bad = try await send(.PUT, url, key: owner, json: body)
                        #expect(bad.status == 400 && bad.error?.param == param, "\(body): \(bad.text)")
                    }
                    // A budget smaller than one call: the key is refused, the owner is not.
                    #expect(try await send(.PUT, url, key: owner, json: #"{"amount_micros":50000}"#).status == 200)
                    let refused = try await eventually(timeout: .seconds(2)) {
                        try await send(.POST, gateway.url + "/v1/chat/completions", key: developer.secret,
                                       json: chatJSON(model: "pricey-chat", maxTokens: 6)).status == 429
                    }
                    #expect(refused)
                    let ownerCall = try await send(.POST, gateway.url + "/v1/chat/completions", key: owner, json: chatJSON(model: "pricey-chat", maxTokens: 6))
                    #expect(ownerCall.status == 200)
                }
            }
        }
    }
}
