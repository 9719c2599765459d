import AsyncHTTPClient
import Contracts
import Foundation
import GatewayService
import NIOCore
import SwitchyardDatabase
import SwitchyardRedis
import Testing

/// The public API as an OpenAI client sees it, through the gateway's whole path: HTTP, API key,
/// NATS, the router's local model.
@Suite struct GatewayAPITests {
    @Test func aChatCompletionAnswersInOpenAIShapeWithItsRequestIDAndDeployment() async throws {
        try await withDatabase { database in
            let (tenant, key) = try await makeTenantWithKey(database)
            try await withGateway(tenant: tenant) { gateway in
                let answer = try await send(.POST, gateway.url + "/v1/chat/completions", key: key, json: chatJSON(),
                                            headers: [("x-client-request-id", "client_123")])
                #expect(answer.status == 200)
                let requestID = try #require(answer.headers.first(name: "x-request-id"))
                #expect(requestID.hasPrefix("req_") && requestID.count == 36)
                #expect(answer.headers.first(name: "x-client-request-id") == "client_123")
                #expect(answer.headers.first(name: "x-switchyard-deployment") == "local/test-chat")
                let completion = try answer.decode(ChatCompletion.self)
                #expect(completion.object == "chat.completion")
                #expect(completion.model == "local-chat")
                #expect(completion.choices.first?.message.role == "assistant")
                #expect(completion.choices.first?.message.content?.text.isEmpty == false)
                let usage = try #require(completion.usage)
                #expect(usage.promptTokens > 0 && usage.completionTokens > 0)

                let delivery = try #require(await gateway.usage.next(1).first)
                let event = try delivery.decode(UsageRecorded.self)
                #expect(event.payload.requestID == requestID)
                #expect(event.payload.totalTokens == usage.totalTokens)
            }
        }
    }

    /// Usage events are charged once per request id: a caller that sends the same id twice
    /// must still be charged for both calls.
    @Test func aCallerRepeatingItsRequestIDIsChargedForEveryCall() async throws {
        try await withDatabase { database in
            let (tenant, key) = try await makeTenantWithKey(database)
            try await withGateway(tenant: tenant) { gateway in
                var ids: Set<String> = []
                for _ in 0..<2 {
                    let answer = try await send(.POST, gateway.url + "/v1/chat/completions", key: key, json: chatJSON(),
                                                headers: [("x-request-id", "req_same")])
                    #expect(answer.status == 200)
                    #expect(answer.headers.first(name: "x-client-request-id") == "req_same")
                    ids.insert(try #require(answer.headers.first(name: "x-request-id")))
                }
                let events = try await gateway.usage.next(2).map { try $0.decode(UsageRecorded.self) }
                #expect(ids.count == 2 && Set(events.map(\.payload.requestID)) == ids)
                #expect(Set(events.map(\.id)).count == 2)
            }
        }
    }

    @Test func aStreamEndsWithDoneAndCarriesUsageOnlyWhenAskedFor() async throws {
        try await withDatabase { database in
            let (tenant, key) = try await makeTenantWithKey(database)
            try await withGateway(tenant: tenant) { gateway in
                let plain = try await send(.POST, gateway.url + "/v1/chat/completions", key: key, json: chatJSON(stream: true))
                #expect(plain.status == 200)
                #expect(plain.headers.first(name: "content-type") == "text/event-stream")
                #expect(plain.events.last == "[DONE]")
                let plainChunks = try plain.events.dropLast().map { try JSONCoding.decode(ChatCompletionChunk.self, from: Data($0.utf8)) }
                #expect(plainChunks.first?.choices.first?.delta.role == "assistant")
                #expect(plainChunks.last?.choices.first?.finishReason == "stop")
                #expect(plainChunks.allSatisfy { $0.usage == nil })
                let text = plainChunks.compactMap { $0.choices.first?.delta.content }.joined()
                #expect(!text.isEmpty)

                let counted = try await send(.POST, gateway.url + "/v1/chat/completions", key: key, json: chatJSON(stream: true, includeUsage: true))
                let chunks = try counted.events.dropLast().map { try JSONCoding.decode(ChatCompletionChunk.self, from: Data($0.utf8)) }
                let last = try #require(chunks.last)
                #expect(last.choices.isEmpty)
                #expect((last.usage?.completionTokens ?? 0) > 0)
                #expect(counted.events.last == "[DONE]")
            }
        }
    }

    @Test func embeddingsAndModelsAnswerInOpenAIShape() async throws {
        try await withDatabase { database in
            let (tenant, key) = try await makeTenantWithKey(database)
            try await withGateway(tenant: tenant) { gateway in
                let embedded = try await send(.POST, gateway.url + "/v1/embeddings", key: key,
                                              json: #"{"model":"local-embedding","input":["one text","another"]}"#)
                #expect(embedded.status == 200)
                let embeddings = try embedded.decode(EmbeddingsResponse.self)
                #expect(embeddings.data.count == 2)
                #expect(embeddings.data.allSatisfy { $0.embedding.values?.isEmpty == false })

                let listed = try await send(.GET, gateway.url + "/v1/models", key: key)
                #expect(listed.status == 200)
                let models = try listed.decode(ModelList.self)
                #expect(models.data.map(\.id) == ["local-chat", "local-embedding", "pricey-chat", "slow-chat"])

                let one = try await send(.GET, gateway.url + "/v1/models/local-embedding", key: key)
                #expect(try one.decode(ModelInfo.self).capabilities == ["embeddings"])
                let missing = try await send(.GET, gateway.url + "/v1/models/no-such-model", key: key)
                #expect(missing.status == 404)
                #expect(missing.error?.code == "model_not_found")
            }
        }
    }

    @Test func aKeyWithAModelAllowListSeesAndCallsOnlyThoseModels() async throws {
        try await withDatabase { database in
            let (tenant, key) = try await makeTenantWithKey(database, models: ["local-embedding"])
            try await withGateway(tenant: tenant) { gateway in
                let listed = try await send(.GET, gateway.url + "/v1/models", key: key)
                #expect(try listed.decode(ModelList.self).data.map(\.id) == ["local-embedding"])
                let refused = try await send(.POST, gateway.url + "/v1/chat/completions", key: key, json: chatJSON())
                #expect(refused.status == 404)
                #expect(refused.error?.code == "model_not_found")
                #expect(refused.error?.param == "model")
            }
        }
    }

    @Test func everyAuthenticationFailureIsA401WithTheErrorBody() async throws {
        try await withDatabase { database in
            let (tenant, key) = try await makeTenantWithKey(database)
            let revoked = try await makeKey(database, tenant: tenant)
            _ = try await database.withTenant(tenant) { try await APIKeyRepository.revoke(id: revoked.id, in: $0) }
            var unknown = key
            unknown.removeLast()
            unknown += key.hasSuffix("A") ? "B" : "A"
            try await withGateway(tenant: tenant) { gateway in
                let url = gateway.url + "/v1/chat/completions"
                let cases: [(String, [(String, String)])] = [
                    ("no header", []),
                    ("not bearer", [("Authorization", "Basic \(key)")]),
                    ("malformed key", [("Authorization", "Bearer sk-sy-short")]),
                    ("someone else's secret", [("Authorization", "Bearer \(unknown)")]),
                    ("revoked key", [("Authorization", "Bearer \(revoked.secret)")]),
                    ("a JWT-looking token", [("Authorization", "Bearer eyJhbGciOiJIUzI1NiJ9.e30.x")]),
                ]
                for (name, headers) in cases {
                    let answer = try await send(.POST, url, json: chatJSON(), headers: headers)
                    #expect(answer.status == 401, "\(name)")
                    #expect(answer.error?.type == .authentication, "\(name)")
                    #expect(answer.headers.first(name: "x-request-id") != nil, "\(name)")
                }
            }
        }
    }

    @Test func aTenantHeaderNamingAnotherTenantIsRefused() async throws {
        try await withDatabase { database in
            let (tenant, key) = try await makeTenantWithKey(database)
            try await withGateway(tenant: tenant) { gateway in
                let other = try await send(.GET, gateway.url + "/v1/models", key: key, headers: [("X-Tenant-ID", UUID().uuidString)])
                #expect(other.status == 403)
                #expect(other.error?.param == "X-Tenant-ID")
                let same = try await send(.GET, gateway.url + "/v1/models", key: key, headers: [("X-Tenant-ID", tenant.uuidString)])
                #expect(same.status == 200)
            }
        }
    }

    @Test func aViewerMayListModelsButNotSpendOnThem() async throws {
        try await withDatabase { database in
            let (tenant, key) = try await makeTenantWithKey(database, role: .viewer)
            try await withGateway(tenant: tenant) { gateway in
                #expect(try await send(.GET, gateway.url + "/v1/models", key: key).status == 200)
                let chat = try await send(.POST, gateway.url + "/v1/chat/completions", key: key, json: chatJSON())
                #expect(chat.status == 403)
                #expect(chat.error?.type == .permission)
            }
        }
    }

    @Test func badInputIsA4xxNamingTheFieldNeverA500() async throws {
        try await withDatabase { database in
            let (tenant, key) = try await makeTenantWithKey(database)
            let config = GatewayConfig(port: 0, maxBodyBytes: 2048)
            try await withGateway(tenant: tenant, config: config) { gateway in
                let url = gateway.url + "/v1/chat/completions"
                let cases: [(name: String, body: String, status: Int, param: String?)] = [
                    ("not JSON", "{\"model\": ", 400, nil),
                    ("not an object", "[1, 2]", 400, nil),
                    ("no model", #"{"messages":[{"role":"user","content":"hi"}]}"#, 400, "model"),
                    ("messages not a list", #"{"model":"local-chat","messages":"hi"}"#, 400, "messages"),
                    ("a message without a role", #"{"model":"local-chat","messages":[{"content":"hi"}]}"#, 400, "messages[0].role"),
                    ("max_tokens a string", #"{"model":"local-chat","messages":[{"role":"user","content":"hi"}],"max_tokens":"9"}"#, 400, "max_tokens"),
                    ("no messages", #"{"model":"local-chat","messages":[]}"#, 400, "messages"),
                    ("max_tokens zero", #"{"model":"local-chat","messages":[{"role":"user","content":"hi"}],"max_tokens":0}"#, 400, "max_tokens"),
                    ("max_tokens not whole", #"{"model":"local-chat","messages":[{"role":"user","content":"hi"}],"max_tokens":1.5}"#, 400, "max_tokens"),
                    ("max_tokens past Int", #"{"model":"local-chat","messages":[{"role":"user","content":"hi"}],"max_tokens":1e30}"#, 400, "max_tokens"),
                    ("logprobs asked for", #"{"model":"local-chat","messages":[{"role":"user","content":"hi"}],"logprobs":true}"#, 400, "logprobs"),
                    ("audio asked for", #"{"model":"local-chat","messages":[{"role":"user","content":"hi"}],"modalities":["text","audio"]}"#, 400, "modalities"),
                    ("legacy functions", #"{"model":"local-chat","messages":[{"role":"user","content":"hi"}],"functions":[{"name":"f"}]}"#, 400, "functions"),
                    ("a dearer service tier", #"{"model":"local-chat","messages":[{"role":"user","content":"hi"}],"service_tier":"priority"}"#, 400, "service_tier"),
                    ("stored at the provider", #"{"model":"local-chat","messages":[{"role":"user","content":"hi"}],"store":true}"#, 400, "store"),
                    ("unknown model", chatJSON(model: "no-such-model"), 404, "model"),
                    ("too large", chatJSON(prompt: String(repeating: "x", count: 4096)), 413, nil),
                ]
                for test in cases {
                    let answer = try await send(.POST, url, key: key, json: test.body)
                    #expect(answer.status == test.status, "\(test.name): \(answer.text)")
                    #expect(answer.error?.param == test.param, "\(test.name): \(answer.text)")
                    #expect(answer.error?.message.isEmpty == false, "\(test.name)")
                }
                let form = try await send(.POST, url, key: key, json: chatJSON(), headers: [("Content-Type", "application/x-www-form-urlencoded")])
                #expect(form.status == 415)
                let unknownRoute = try await send(.POST, gateway.url + "/v1/no-such-route", key: key, json: "{}")
                #expect(unknownRoute.status == 404)
                #expect(unknownRoute.error != nil)
            }
        }
    }

    @Test func aClientThatLeavesMidStreamStopsTheCallAndIsStillChargedForWhatWasProduced() async throws {
        try await withDatabase { database in
            let monthly = 100_000
            let (tenant, key) = try await makeTenantWithKey(database, limits: QuotaLimits(tokensPerMonth: monthly, concurrentRequests: 1))
            try await withGateway(tenant: tenant) { gateway in
                // A first call shows what a small call reserves: nothing was taken before it.
                let small = chatJSON(maxTokens: 4)
                let first = try await send(.POST, gateway.url + "/v1/chat/completions", key: key, json: small)
                let firstUsed = try first.decode(ChatCompletion.self).usage?.totalTokens ?? 0
                let reserved = monthly - (Int(first.headers.first(name: "x-ratelimit-remaining-tokens") ?? "") ?? 0)
                #expect(firstUsed > 0 && reserved > 0)

                // 200 tokens at 20 a second: ten seconds unless the call is stopped.
                var request = HTTPClientRequest(url: gateway.url + "/v1/chat/completions")
                request.method = .POST
                request.headers.add(name: "Authorization", value: "Bearer \(key)")
                request.headers.add(name: "Content-Type", value: "application/json")
                request.body = .bytes(ByteBuffer(string: chatJSON(model: "slow-chat", maxTokens: 200, stream: true)))
                let reader = Task {
                    let response = try await HTTPClient.shared.execute(request, timeout: .seconds(30))
                    var received = 0
                    for try await part in response.body {
                        received += part.readableBytes
                        if received > 600 { return received }
                    }
                    return received
                }
                let received = try await reader.value  // returning drops the connection mid-stream
                #expect(received > 600)

                let delivery = try #require(await gateway.usage.next(2, timeout: .seconds(5)).last)
                let usage = try delivery.decode(UsageRecorded.self).payload
                #expect(usage.status == .cancelled)
                #expect(usage.completionTokens > 0 && usage.completionTokens < 200)
                #expect(usage.costMicros > 0)

                // Its concurrency slot was released, and the month's tokens were settled to what
                // was produced, not to the 200 tokens reserved: the next call shows it.
                var next = try await send(.POST, gateway.url + "/v1/chat/completions", key: key, json: small)
                // The gateway settles when it sees the usage event, as this test did: a moment later.
                for _ in 0..<20 where next.status == 429 {
                    try await Task.sleep(for: .milliseconds(100))
                    next = try await send(.POST, gateway.url + "/v1/chat/completions", key: key, json: small)
                }
                #expect(next.status == 200)
                let remaining = Int(next.headers.first(name: "x-ratelimit-remaining-tokens") ?? "")
                #expect(remaining == monthly - firstUsed - (usage.promptTokens + usage.completionTokens) - reserved)
            }
        }
    }

    /// A call holding a concurrency slot gives it back before it answers: a caller sending its
    /// calls one after another never meets its own limit of one.
    @Test func callsOneAfterAnotherAreNeverRefusedByAConcurrencyLimitOfOne() async throws {
        try await withDatabase { database in
            let (tenant, key) = try await makeTenantWithKey(database, limits: QuotaLimits(concurrentRequests: 1))
            try await withGateway(tenant: tenant) { gateway in
                var statuses: [Int] = []
                for _ in 0..<20 {
                    statuses.append(try await send(.POST, gateway.url + "/v1/chat/completions", key: key, json: chatJSON(maxTokens: 4)).status)
                }
                #expect(statuses == Array(repeating: 200, count: 20))
            }
        }
    }

    /// Calls sent while no router listens (one restarting, or starting beside its gateway) are
    /// answered once one does: the gateway sends a call that reached nobody again for a second,
    /// a chat call and a stream alike, instead of answering 503 at once.
    @Test func callsSentBeforeAnyRouterListensAreAnsweredWhenOneStarts() async throws {
        try await withDatabase { database in
            let (tenant, key) = try await makeTenantWithKey(database)
            try await withGatewayBeforeItsRouter(tenant: tenant) { gateway, runRouter in
                let url = gateway.url + "/v1/chat/completions"
                let answers = SharedCount()
                let chat = Task {
                    defer { answers.value.add(1, ordering: .relaxed) }
                    return try await send(.POST, url, key: key, json: chatJSON(maxTokens: 4))
                }
                let stream = Task {
                    defer { answers.value.add(1, ordering: .relaxed) }
                    return try await send(.POST, url, key: key, json: chatJSON(maxTokens: 4, stream: true))
                }
                try await Task.sleep(for: .milliseconds(200))
                #expect(answers.value.load(ordering: .relaxed) == 0, "a call was answered while no router listened")
                try await runRouter {
                    let chatAnswer = try await chat.value
                    #expect(chatAnswer.status == 200, "\(chatAnswer.text)")
                    #expect(try chatAnswer.decode(ChatCompletion.self).usage?.completionTokens ?? 0 > 0)
                    let streamAnswer = try await stream.value
                    #expect(streamAnswer.status == 200, "\(streamAnswer.text)")
                    #expect(streamAnswer.events.last == "[DONE]" && streamAnswer.events.count > 2)
                }
            }
        }
    }

    /// Without a concurrency slot a call answers, then settles: its answer comes while Redis has
    /// not seen the settlement (a proxy holds it back), and its reservation stands until the real
    /// usage replaces it.
    @Test func aCallAnswersThenSettlesItsReservationToTheRealUsage() async throws {
        try await withDatabase { database in
            let limit = 100_000
            let (tenant, key) = try await makeTenantWithKey(database, limits: QuotaLimits(tokensPerMonth: limit))
            let (proxy, redis) = try await holdingQuotaSettlements()
            try await withGateway(tenant: tenant, redis: redis) { gateway in
                defer { proxy.release() }  // a failed expectation must not leave the gateway waiting at shutdown
                let request = chatJSON(maxTokens: 500)
                // Were the answer to wait for its settlement, this would time out.
                let first = try await send(.POST, gateway.url + "/v1/chat/completions", key: key, json: request, timeout: .seconds(20))
                let used = try #require(try first.decode(ChatCompletion.self).usage?.totalTokens)
                let reserved = limit - (try #require(Int(first.headers.first(name: "x-ratelimit-remaining-tokens") ?? "")))
                #expect(used > 0 && reserved > used)
                let heldBack = try await eventually(timeout: .seconds(10)) { proxy.held == 1 }
                #expect(heldBack, "the settlement was sent after the answer")

                proxy.release()
                try await gateway.settled()
                let second = try await send(.POST, gateway.url + "/v1/chat/completions", key: key, json: request)
                // The first call counts what it used; the second, what it reserves.
                #expect(second.headers.first(name: "x-ratelimit-remaining-tokens") == String(limit - used - reserved))
            }
            await redis.close()
            try await proxy.close()
        }
    }

    /// A call holding a concurrency slot gives it back before it answers: while a proxy holds
    /// its settlement back, no answer comes.
    @Test func aCallHoldingAConcurrencySlotSettlesBeforeItAnswers() async throws {
        try await withDatabase { database in
            let (tenant, key) = try await makeTenantWithKey(database, limits: QuotaLimits(concurrentRequests: 1))
            let (proxy, redis) = try await holdingQuotaSettlements()
            try await withGateway(tenant: tenant, redis: redis) { gateway in
                defer { proxy.release() }  // a failed expectation must not leave the gateway waiting at shutdown
                let answers = SharedCount()
                let call = Task {
                    defer { answers.value.add(1, ordering: .relaxed) }
                    return try await send(.POST, gateway.url + "/v1/chat/completions", key: key, json: chatJSON(maxTokens: 4))
                }
                let heldBack = try await eventually(timeout: .seconds(20)) { proxy.held == 1 }
                #expect(heldBack, "the call settled")
                try await Task.sleep(for: .milliseconds(300))
                #expect(answers.value.load(ordering: .relaxed) == 0, "the call answered before its settlement ran")

                proxy.release()
                #expect(try await call.value.status == 200)
            }
            await redis.close()
            try await proxy.close()
        }
    }
}
