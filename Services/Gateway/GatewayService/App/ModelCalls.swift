import Contracts
import Foundation
import Logging
import Synchronization
import SwitchyardBus
import SwitchyardRuntime

/// Chat completions, embeddings and the model list, for one caller: checks what the caller may
/// use, takes its quotas, calls the router and settles the quotas from the real usage.
struct ModelCalls: Sendable {
    let router: RouterClient
    let quotas: QuotaLimiter?
    let modelTerms: ModelTerms
    /// Settlements that need not hold the answer back (see `settle`).
    let settlements: WorkAfterAnswer
    let logger: Logger

    /// Completion tokens counted against token limits for a call that sets no `max_tokens`:
    /// settled to the real count afterwards, so it only decides whether a call near a token
    /// limit may start. Budgets and monthly token quotas reserve such a call at the most the
    /// model can produce instead (`reservedCompletionTokens`).
    static let defaultCompletionEstimate = 256

    static let roles: Set<String> = ["system", "developer", "user", "assistant", "tool"]

    /// One whole completion: the router's reply, passed on as it is.
    func complete(_ request: ChatCompletionRequest, caller: Caller, requestID: String) async throws -> (RouterClient.Reply, Admission?) {
        let call = try chatCall(request, caller: caller, requestID: requestID)
        let admission = try await admit(caller, request.model, requestID: requestID, prompt: Self.estimatePromptTokens(request),
                                        promptAtMost: Self.promptTokensAtMost(request), completionLimit: request.completionTokenLimit)
        let reply = try await settling(admission, caller) {
            let reply = try await router.complete(call, correlationID: requestID)
            // A router from before the tokens header: read them from the answer.
            let tokens = reply.totalTokens ?? (try? JSONCoding.decode(UsageOnly.self, from: reply.payload))?.usage?.totalTokens
            return (reply, Used(tokens: tokens ?? 0, costMicros: reply.costMicros))
        }
        return (reply, admission)
    }

    /// What a call under an admission used, for settling it; nil where it is not known, which
    /// keeps what was taken (`QuotaLimiter.settle`).
    struct Used {
        var tokens: Int?
        var costMicros: Int64?

        /// A call whose calls happen later, elsewhere: it keeps what it was reserved at.
        static let later = Used(tokens: nil, costMicros: nil)
    }

    /// Runs `call` under `admission` and settles what it used; a call that throws used nothing.
    func settling<Value>(_ admission: Admission?, _ caller: Caller, _ call: () async throws -> (Value, Used)) async throws -> Value {
        do {
            let (value, used) = try await call()
            await settle(admission, caller, actualTokens: used.tokens, actualCostMicros: used.costMicros)
            return value
        } catch {
            await settle(admission, caller, actualTokens: 0, actualCostMicros: 0)
            throw error
        }
    }

    /// Opens a streamed completion and waits for its first chunk, so that a call that fails
    /// before it starts answers with its own status, not a broken 200.
    func openStream(_ request: ChatCompletionRequest, caller: Caller, requestID: String) async throws -> ChatStream {
        var call = try chatCall(request, caller: caller, requestID: requestID)
        // The usage chunk is always asked for, to settle the quotas; it reaches the caller only
        // when the caller asked for it too.
        call.completion.streamOptions = StreamOptions(includeUsage: true)
        let admission = try await admit(caller, request.model, requestID: requestID, prompt: Self.estimatePromptTokens(request),
                                        promptAtMost: Self.promptTokensAtMost(request), completionLimit: request.completionTokenLimit)
        do {
            let (router, tenant) = (self.router, try caller.requireTenant())
            // A router restarting answers a moment later: the call is sent again (as
            // `Bus.request` does for a whole answer).
            return try await Bus.sendingAgainUntilAResponder {
                let stream = ChatStream(
                    chunks: try router.stream(call, correlationID: requestID), admission: admission,
                    callerWantsUsage: request.streamOptions?.includeUsage == true,
                    awaitUsage: { try router.awaitUsage(tenant: tenant, requestID: requestID) },
                    settle: { admission, tokens, cost in await settle(admission, caller, actualTokens: tokens, actualCostMicros: cost) })
                try await stream.start()
                return stream
            }
        } catch {
            await settle(admission, caller, actualTokens: 0, actualCostMicros: 0)
            throw RouterClient.apiError(error)
        }
    }

    func embed(_ request: EmbeddingsRequest, caller: Caller, requestID: String) async throws -> (RouterClient.Reply, Admission?) {
        let tenant = try caller.requireTenant()
        guard caller.may(use: request.model) else { throw APIError.modelNotFound(request.model) }
        let estimate = request.input.values.reduce(0) { $0 + Self.estimateTokens($1) }
        let admission = try await admit(caller, request.model, requestID: requestID, prompt: estimate,
                                        promptAtMost: request.input.values.reduce(0) { $0 + $1.utf8.count }, completionLimit: 0)
        let reply = try await settling(admission, caller) {
            let reply = try await router.embed(
                RouterEmbeddingsCall(requestID: requestID, tenantID: tenant, apiKeyID: caller.apiKeyID, embeddings: request),
                correlationID: requestID)
            let tokens = reply.totalTokens ?? (try? JSONCoding.decode(EmbeddingsUsageOnly.self, from: reply.payload))?.usage?.totalTokens
            return (reply, Used(tokens: tokens ?? 0, costMicros: reply.costMicros))
        }
        return (reply, admission)
    }

    /// The models of the tenant's catalog that the caller's key may use.
    func models(caller: Caller, requestID: String) async throws -> ModelList {
        let tenant = try caller.requireTenant()
        var list = try await router.models(tenant: tenant, correlationID: requestID)
        list.data.removeAll { !caller.may(use: $0.id) }
        return list
    }

    private func chatCall(_ request: ChatCompletionRequest, caller: Caller, requestID: String) throws -> RouterChatCall {
        let tenant = try caller.requireTenant()
        guard !request.model.isEmpty else { throw APIError.invalid("model", "model must name a model.") }
        guard caller.may(use: request.model) else { throw APIError.modelNotFound(request.model) }
        guard !request.messages.isEmpty else { throw APIError.invalid("messages", "messages must hold at least one message.") }
        if let index = request.messages.firstIndex(where: { !Self.roles.contains($0.role) }) {
            throw APIError.invalid("messages[\(index)].role", "role must be one of \(Self.roles.sorted().joined(separator: ", ")).")
        }
        for (field, limit) in [("max_tokens", request.maxTokens), ("max_completion_tokens", request.maxCompletionTokens)] {
            if let limit, !(1...Int(Int32.max)).contains(limit) {
                throw APIError.invalid(field, "\(field) must be from 1 to \(Int32.max).")
            }
        }
        if let n = request.n, n != 1 { throw APIError.invalid("n", "Only n = 1 is supported.") }
        if let (field, message) = Self.unrelayedParameter(request) { throw APIError.invalid(field, message) }
        return RouterChatCall(requestID: requestID, tenantID: tenant, apiKeyID: caller.apiKeyID, completion: request)
    }

    /// Takes the caller's limits for a call of about `prompt` tokens and a completion of at
    /// most `completionLimit` (nil: the model's own bound). Token rates take the estimate.
    /// Monthly token quotas take `promptAtMost` prompt tokens and the most completion tokens the
    /// call can get, and budgets that at the model's highest price: bounds it cannot exceed, so
    /// calls in flight together never pass them.
    func admit(_ caller: Caller, _ model: String, requestID: String, prompt: Int, promptAtMost: Int, completionLimit: Int?) async throws -> Admission? {
        try await admit(caller, requestID: requestID, calls: [
            PlannedCall(model: model, prompt: prompt, promptAtMost: promptAtMost, completionLimit: completionLimit),
        ])
    }

    /// One model call of a request that makes several (a workflow run's steps).
    struct PlannedCall {
        var model: String
        /// Prompt tokens, about.
        var prompt: Int
        var promptAtMost: Int
        /// Nil: the model's own bound.
        var completionLimit: Int?
    }

    /// Takes the caller's limits once for all of `calls`: as one request, their estimates
    /// together against token rates, and their bounds together, each at its model's price,
    /// against monthly token quotas and budgets.
    func admit(_ caller: Caller, requestID: String, calls: [PlannedCall]) async throws -> Admission? {
        guard let quotas else { return nil }
        var (tokensAtMost, cost): (Int?, Int64) = (nil, 0)
        if caller.hasBudget || caller.hasMonthlyTokenQuota, let tenant = caller.tenantID {
            for call in calls {
                guard let terms = try await modelTerms.terms(of: call.model, tenant: tenant, requestID: requestID) else { continue }
                let completionAtMost = Self.reservedCompletionTokens(limit: call.completionLimit, model: terms)
                tokensAtMost = (tokensAtMost ?? 0) + call.promptAtMost + completionAtMost
                if caller.hasBudget, let price = terms.pricing {
                    cost += price.reservedMicros(promptTokens: call.promptAtMost, completionTokens: completionAtMost)
                }
            }
        }
        let estimate = calls.reduce(0) { $0 + $1.prompt + ($1.completionLimit ?? Self.defaultCompletionEstimate) }
        return try await quotas.admit(caller, requestID: requestID, estimatedTokens: estimate, tokensAtMost: tokensAtMost, estimatedCostMicros: cost)
    }

    /// Completion tokens a call is reserved at against a budget or a monthly token quota: its
    /// limit or the most the model produces, whichever is smaller. Only a router from before the
    /// model list stated that bound leaves a call without a limit at the estimate.
    static func reservedCompletionTokens(limit: Int?, model: ModelInfo) -> Int {
        switch (limit, model.maxCompletionTokens) {
        case let (limit?, most?): min(limit, most)
        case let (limit?, nil): limit
        case let (nil, most?): most
        case (nil, nil): defaultCompletionEstimate
        }
    }

    /// Corrects what `admit` took to what the call used. A call holding a concurrency slot is
    /// settled before it answers: a caller sending its calls one after another must find the
    /// slot free for the next one. Any other call answers first and settles beside it (one Redis
    /// round trip less on the way back): until then its reservation stands, so a caller's next
    /// call meets the limits as a call made at the same time would have, never looser ones.
    func settle(_ admission: Admission?, _ caller: Caller, actualTokens: Int?, actualCostMicros: Int64?) async {
        // No task for a call that took nothing.
        guard let quotas, let admission, admission.tookAnything else { return }
        let tenant = caller.tenantID
        if admission.holdsConcurrencySlot {
            await quotas.settle(admission, actualTokens: actualTokens, actualCostMicros: actualCostMicros, tenant: tenant)
        } else {
            settlements.start {
                await quotas.settle(admission, actualTokens: actualTokens, actualCostMicros: actualCostMicros, tenant: tenant)
            }
        }
    }

    /// A parameter that asks for more in the answer than reaches the caller, with the reason:
    /// the router builds the answer from the model's text, tool calls, finish reason and usage,
    /// so log probabilities, audio and legacy function calls would be dropped. Also the two that
    /// act on the platform's own provider account: a dearer service tier than the catalog
    /// prices, and conversations kept by the provider. Refused rather than ignored; every other
    /// parameter goes to the deployment as it came.
    static func unrelayedParameter(_ request: ChatCompletionRequest) -> (field: String, message: String)? {
        let other = request.otherParameters
        func given(_ name: String) -> Bool { other[name].map { $0 != .null } ?? false }
        if given("logprobs"), other["logprobs"] != .bool(false) { return ("logprobs", "logprobs is not supported.") }
        if given("top_logprobs") { return ("top_logprobs", "top_logprobs is not supported.") }
        if given("audio") { return ("audio", "Audio output is not supported.") }
        if case .array(let modalities)? = other["modalities"], modalities.contains(where: { $0 != .string("text") }) {
            return ("modalities", "Only the text modality is supported.")
        }
        for legacy in ["functions", "function_call"] where given(legacy) {
            return (legacy, "\(legacy) is not supported; describe functions as tools.")
        }
        if given("service_tier"), ![.string("auto"), .string("default")].contains(other["service_tier"]) {
            return ("service_tier", "service_tier is set by the deployment; only auto or default may be sent.")
        }
        if given("store"), other["store"] != .bool(false) {
            return ("store", "store is not supported: the provider's account belongs to the platform.")
        }
        return nil
    }

    /// Tokens of a chat call's prompt: about four characters a token, plus a few per message
    /// for the chat template.
    static func estimatePromptTokens(_ request: ChatCompletionRequest) -> Int {
        request.messages.reduce(3) { $0 + 4 + estimateTokens($1.content?.text ?? "") }
    }

    static func estimateTokens(_ text: String) -> Int { (text.utf8.count + 3) / 4 }

    /// More prompt tokens than a call can have: a token covers at least one byte of text in the
    /// byte-level tokenizers models use, plus the chat template's tokens per message; tool
    /// definitions count by their JSON.
    static func promptTokensAtMost(_ request: ChatCompletionRequest) -> Int {
        let tools = request.tools.map { (try? JSONCoding.encode($0).count) ?? 0 } ?? 0
        return request.messages.reduce(3 + tools) { total, message in
            total + 4 + (message.content.map { content in
                switch content {
                case .text(let text): text.utf8.count
                case .parts(let parts): (try? JSONCoding.encode(parts).count) ?? 0
                }
            } ?? 0) + (message.toolCalls.map { (try? JSONCoding.encode($0).count) ?? 0 } ?? 0)
        }
    }
}

private struct UsageOnly: Decodable { var usage: TokenUsage? }
private struct EmbeddingsUsageOnly: Decodable { var usage: EmbeddingsResponse.Usage? }

/// A streamed completion being relayed: the router's chunks, read by one task at a time (the
/// handler reads the first, then the response body writer the rest).
final class ChatStream: @unchecked Sendable {
    enum Event {
        /// A chunk's JSON, to send as `data: …`.
        case chunk(Data)
        /// The router failed after the stream began.
        case failed(APIError)
    }

    private var iterator: ReplyStream.AsyncIterator?
    private var first: NATSMessage?
    private let admission: Admission?
    private let callerWantsUsage: Bool
    private let settleQuotas: @Sendable (Admission?, Int?, Int64?) async -> Void
    private let awaitUsage: @Sendable () throws -> AwaitedMessage
    private var usedTokens: Int?
    private var costMicros: Int64?
    /// The router's stream ended (or failed): the caller did not leave early.
    private var ended = false
    private var settled = false
    /// How long a stream the caller left waits for its usage event before it settles with the
    /// estimate; the router records it as soon as it sees the cancellation.
    static let usageWait = Duration.seconds(5)
    /// The deployment that answered, from the first chunk.
    private(set) var deployment: String?

    init(chunks: ReplyStream, admission: Admission?, callerWantsUsage: Bool,
         awaitUsage: @escaping @Sendable () throws -> AwaitedMessage,
         settle: @escaping @Sendable (Admission?, Int?, Int64?) async -> Void) {
        self.iterator = chunks.makeAsyncIterator()
        self.admission = admission
        self.callerWantsUsage = callerWantsUsage
        self.awaitUsage = awaitUsage
        self.settleQuotas = settle
    }

    var rateLimitHeaders: [(String, String)] { admission?.headers ?? [] }

    /// Waits for the first chunk; throws what the router answered when it failed to start.
    func start() async throws {
        guard let message = try await iterator?.next() else { throw APIError.internalError }
        first = message
        deployment = message.headers[RouterHeader.deployment]
    }

    /// The next thing to send, or nil at the end of the stream.
    func next() async -> Event? {
        while true {
            let message: NATSMessage?
            if let first {
                message = first
                self.first = nil
            } else {
                do {
                    message = try await iterator?.next()
                } catch {
                    iterator = nil
                    ended = true
                    return .failed(RouterClient.apiError(error))
                }
            }
            guard let message else {
                ended = true
                return nil
            }
            if let cost = message.headers[RouterHeader.costMicros] {
                usedTokens = (try? JSONCoding.decode(UsageOnly.self, from: message.payload))?.usage?.totalTokens
                costMicros = Int64(cost)
                if !callerWantsUsage { continue }
            }
            return .chunk(message.payload)
        }
    }

    /// Settles the quotas once, with the stream's usage. When the caller left before the end,
    /// the router's stream is stopped and the usage it records for what was produced is awaited
    /// (the estimate stays taken only if it does not come), so the counters do not drift from
    /// the ledger.
    func finish() async {
        guard !settled else { return }
        settled = true
        if usedTokens == nil, !ended, admission != nil, let awaited = try? awaitUsage() {
            iterator = nil  // cancels the router's stream, after the interest in its usage is registered
            if let message = await awaited.next(within: Self.usageWait),
               let usage = try? JSONCoding.decode(Envelope<UsageRecorded>.self, from: message.payload).payload {
                usedTokens = usage.promptTokens + usage.completionTokens
                costMicros = usage.costMicros
            }
        }
        iterator = nil
        await settleQuotas(admission, usedTokens, costMicros)
    }
}

/// Each tenant's models as the router lists them, with their prices and completion bounds,
/// kept for a minute or until the tenant's routing or prices change or a router reloads its
/// catalog: what a call is reserved at against a budget or a monthly token quota.
final class ModelTerms: Sendable {
    let router: RouterClient
    private let cache = Mutex<[UUID: (models: [String: ModelInfo], fetchedAt: ContinuousClock.Instant)]>([:])
    static let timeToLive = Duration.seconds(60)

    init(router: RouterClient) { self.router = router }

    /// Nil for a model the catalog does not have: the router refuses that call anyway.
    func terms(of model: String, tenant: UUID, requestID: String) async throws -> ModelInfo? {
        if let cached = cache.withLock({ $0[tenant] }), ContinuousClock.now - cached.fetchedAt < Self.timeToLive {
            return cached.models[model]
        }
        let list = try await router.models(tenant: tenant, correlationID: requestID)
        let models = Dictionary(list.data.map { ($0.id, $0) }, uniquingKeysWith: { first, _ in first })
        cache.withLock { $0[tenant] = (models, .now) }
        return models[model]
    }

    /// Reads the tenant's models again on its next call: a routing override that lets a dearer
    /// deployment answer raises what a call is reserved at.
    func forget(_ tenant: UUID) {
        _ = cache.withLock { $0.removeValue(forKey: tenant) }
    }

    /// Reads every tenant's models again: the price book or a catalog changed.
    func forgetAll() {
        cache.withLock { $0.removeAll() }
    }
}
