import Contracts
import Foundation
import GatewayService
import SwitchyardDatabase
import Testing

/// Limits and revocations hold across gateway replicas: two gateways share one Redis and one NATS.
@Suite struct GatewayReplicaTests {
    @Test func twoReplicasAdmitExactlyTheLimitOf200ConcurrentRequests() async throws {
        try await withDatabase { database in
            // A daily limit refills one request every 28.8 minutes: none refills during the test.
            let (tenant, key) = try await makeTenantWithKey(database, limits: QuotaLimits(requestsPerDay: 50))
            try await withGateway(tenant: tenant, replicas: 2) { gateway in
                let answers = try await gateway.chatAtOnce(200, key: key, body: chatJSON(maxTokens: 8))
                let admitted = answers.filter { $0.status == 200 }
                let refused = answers.filter { $0.status == 429 }
                #expect(admitted.count == 50)
                #expect(refused.count == 150)
                #expect(refused.allSatisfy { $0.error?.type == .rateLimit && $0.error?.code == "requests_per_day" })
                #expect(refused.allSatisfy { Int($0.headers.first(name: "retry-after") ?? "") ?? 0 >= 1 })
                #expect(admitted.allSatisfy { $0.headers.first(name: "x-ratelimit-limit-requests") == "50" })
                let remaining = admitted.compactMap { Int($0.headers.first(name: "x-ratelimit-remaining-requests") ?? "") }
                #expect(remaining.sorted() == Array(0..<50))
            }
        }
    }

    @Test func aKeyRevokedOnOneReplicaIsRefusedByTheOtherWithinTwoSeconds() async throws {
        try await withDatabase { database in
            let tenant = try await makeTenant(database)
            let key = try await makeKey(database, tenant: tenant)
            // A long cache life: only the revocation event can stop the other replica in time.
            let config = GatewayConfig(port: 0, keyCacheTimeToLive: .seconds(600))
            try await withGateway(tenant: tenant, replicas: 2, config: config) { gateway in
                for url in gateway.urls {
                    #expect(try await send(.GET, url + "/v1/models", key: key.secret).status == 200)
                }
                // What the admin API does on one replica: revoke in the database, then announce it.
                let revoked = try #require(try await database.withTenant(tenant) { try await APIKeyRepository.revoke(id: key.id, in: $0) })
                let announced = ContinuousClock.now
                try await gateway.bus.publish(Envelope(tenantID: tenant, payload: APIKeyRevoked(
                    apiKeyID: key.id, prefix: revoked.prefix, revokedAt: revoked.revokedAt ?? Date())))
                let refused = try await eventually(timeout: .seconds(2)) {
                    try await send(.GET, gateway.urls[1] + "/v1/models", key: key.secret).status == 401
                }
                #expect(refused, "the second replica still accepts the revoked key")
                #expect(ContinuousClock.now - announced < .seconds(2))
                #expect(try await send(.GET, gateway.urls[0] + "/v1/models", key: key.secret).status == 401)
            }
        }
    }

    @Test func theRateLimitHeadersAreOpenAIs() async throws {
        try await withDatabase { database in
            let (tenant, key) = try await makeTenantWithKey(
                database, limits: QuotaLimits(requestsPerMinute: 100, tokensPerMinute: 10_000))
            try await withGateway(tenant: tenant) { gateway in
                let answer = try await send(.POST, gateway.url + "/v1/chat/completions", key: key, json: chatJSON(maxTokens: 16))
                #expect(answer.status == 200)
                #expect(answer.headers.first(name: "x-ratelimit-limit-requests") == "100")
                #expect(answer.headers.first(name: "x-ratelimit-remaining-requests") == "99")
                #expect(answer.headers.first(name: "x-ratelimit-reset-requests") == "600ms")
                #expect(answer.headers.first(name: "x-ratelimit-limit-tokens") == "10000")
                let remainingTokens = try #require(Int(answer.headers.first(name: "x-ratelimit-remaining-tokens") ?? ""))
                #expect(remainingTokens < 10_000 && remainingTokens > 9_900)
                #expect(answer.headers.first(name: "x-ratelimit-reset-tokens") != nil)

                let tooLarge = try await send(.POST, gateway.url + "/v1/chat/completions", key: key, json: chatJSON(maxTokens: 20_000))
                #expect(tooLarge.status == 429)
                #expect(tooLarge.error?.code == "tokens_per_minute")
                #expect(tooLarge.headers.first(name: "retry-after") == nil)
            }
        }
    }
}
