import Contracts
import Foundation
@testable import GatewayService
import SwitchyardRedis
import Testing

/// `Idempotency-Key` on POST, through the gateway's whole path: a request runs once, whatever
/// number of times and however concurrently it is sent.
@Suite struct GatewayIdempotencyTests {
    func post(_ url: String, _ key: String, _ json: String, idempotencyKey: String) async throws -> HTTPAnswer {
        try await send(.POST, url, key: key, json: json, headers: [("Idempotency-Key", idempotencyKey)])
    }

    @Test func theSameKeyAndBodyAnswerTheStoredResponseAndRunOnce() async throws {
        try await withDatabase { database in
            let (tenant, key) = try await makeTenantWithKey(database)
            try await withGateway(tenant: tenant) { gateway in
                let url = gateway.url + "/v1/chat/completions"
                let first = try await post(url, key, chatJSON(maxTokens: 8), idempotencyKey: "order-1")
                let again = try await post(url, key, chatJSON(maxTokens: 8), idempotencyKey: "order-1")
                #expect(first.status == 200 && again.status == 200)
                #expect(first.headers.first(name: "idempotent-replayed") == nil)
                #expect(again.headers.first(name: "idempotent-replayed") == "true")
                #expect(again.body == first.body)
                #expect(again.headers.first(name: "x-request-id") != first.headers.first(name: "x-request-id"))
                #expect(await gateway.usage.next(1).count == 1)
                #expect(await gateway.usage.next(1, timeout: .seconds(1)).isEmpty, "the model ran more than once")
            }
        }
    }

    @Test func theSameKeyWithAnotherBodyIsAConflict() async throws {
        try await withDatabase { database in
            let (tenant, key) = try await makeTenantWithKey(database)
            try await withGateway(tenant: tenant) { gateway in
                let url = gateway.url + "/v1/chat/completions"
                #expect(try await post(url, key, chatJSON(maxTokens: 8), idempotencyKey: "k").status == 200)
                let other = try await post(url, key, chatJSON(maxTokens: 9), idempotencyKey: "k")
                #expect(other.status == 409)
                #expect(other.error?.code == "idempotency_key_reused" && other.error?.param == "Idempotency-Key")
                let tooLong = try await post(url, key, chatJSON(), idempotencyKey: String(repeating: "k", count: 256))
                #expect(tooLong.status == 400 && tooLong.error?.param == "Idempotency-Key")
            }
        }
    }

    @Test func concurrentDuplicatesWaitForTheFirstAndNeverRunTwice() async throws {
        try await withDatabase { database in
            let (tenant, key) = try await makeTenantWithKey(database)
            try await withGateway(tenant: tenant) { gateway in
                let url = gateway.url + "/v1/chat/completions"
                // About a second of streaming at 20 tokens a second.
                let body = chatJSON(model: "slow-chat", maxTokens: 20)
                let answers = try await withThrowingTaskGroup(of: HTTPAnswer.self) { group in
                    for _ in 0..<6 { group.addTask { try await post(url, key, body, idempotencyKey: "once") } }
                    return try await group.reduce(into: []) { $0.append($1) }
                }
                #expect(answers.allSatisfy { $0.status == 200 })
                #expect(Set(answers.map(\.body)).count == 1)
                #expect(answers.filter { $0.headers.first(name: "idempotent-replayed") == "true" }.count == 5)
                #expect(await gateway.usage.next(1).count == 1)
                #expect(await gateway.usage.next(1, timeout: .seconds(1)).isEmpty, "the model ran more than once")
            }
        }
    }

    @Test func aStreamIsReplayedWholeAndAFailureFreesItsKey() async throws {
        try await withDatabase { database in
            let (tenant, key) = try await makeTenantWithKey(database)
            try await withGateway(tenant: tenant) { gateway in
                let url = gateway.url + "/v1/chat/completions"
                let streamed = try await post(url, key, chatJSON(maxTokens: 6, stream: true), idempotencyKey: "s")
                let replayed = try await post(url, key, chatJSON(maxTokens: 6, stream: true), idempotencyKey: "s")
                #expect(replayed.headers.first(name: "idempotent-replayed") == "true")
                #expect(replayed.headers.first(name: "content-type") == "text/event-stream")
                #expect(replayed.events == streamed.events && streamed.events.last == "[DONE]")

                let failed = try await post(url, key, chatJSON(model: "no-such-model"), idempotencyKey: "f")
                let retried = try await post(url, key, chatJSON(model: "no-such-model"), idempotencyKey: "f")
                #expect(failed.status == 404 && retried.status == 404)
                #expect(retried.headers.first(name: "idempotent-replayed") == nil)
            }
        }
    }

    /// A request that outlived its lease, whose key another request with it took meanwhile,
    /// neither frees nor overwrites that request's claim when it ends; when nobody took the
    /// key, its answer is kept for the retries.
    @Test func aRequestThatOutlivedItsLeaseKeepsItsAnswerOnlyWhenNobodyTookItsKey() async throws {
        let redis = try RedisClient(url: TestEnvironment.redisURL)
        let store = IdempotencyStore(redis: redis)
        let key = "sy:{\(UUID())}:idempotency:lapsed"
        func claim(_ key: String = key, for request: String, lease: Duration = .seconds(30)) async throws -> IdempotencyStore.Claim {
            try await store.claim(key, fingerprint: "same body", for: request, lease: lease)
        }
        func complete(_ key: String = key, for request: String, with response: StoredResponse) async throws -> Bool {
            try await store.complete(key, fingerprint: "same body", for: request, with: response, keep: .seconds(60))
        }
        do {
            #expect(try await claim(for: "first", lease: .milliseconds(100)) == .claimed)
            try await Task.sleep(for: .milliseconds(300))
            #expect(try await claim(for: "second") == .claimed)

            await store.release(key, for: "first")
            #expect(try await claim(for: "third") == .running)
            let late = StoredResponse(status: 200, headers: [], body: Data("first".utf8))
            #expect(try await complete(for: "first", with: late) == false)
            #expect(try await claim(for: "third") == .running)

            let answer = StoredResponse(status: 200, headers: [], body: Data("second".utf8))
            #expect(try await complete(for: "second", with: answer))
            await store.release(key, for: "second")
            #expect(try await claim(for: "third") == .completed(answer))

            // A claim that lapsed with nobody taking the key: its answer is kept all the same.
            let alone = "sy:{\(UUID())}:idempotency:alone"
            #expect(try await claim(alone, for: "slow", lease: .milliseconds(100)) == .claimed)
            try await Task.sleep(for: .milliseconds(300))
            #expect(try await complete(alone, for: "slow", with: late))
            #expect(try await claim(alone, for: "retry") == .completed(late))
        } catch {
            await redis.close()
            throw error
        }
        await redis.close()
    }
}
