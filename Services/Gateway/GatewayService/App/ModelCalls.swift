import Contracts
import Foundation
import Logging
import SwitchyardBus

/// Chat completions, embeddings and the model list, for one caller: checks what the caller may
/// use, takes its quotas, calls the router and settles the quotas from the real usage.
struct ModelCalls: Sendable {
    let router: RouterClient
    let quotas: QuotaLimiter?
    let logger: Logger

    /// Completion tokens reserved for a call that sets no `max_tokens`: settled to the real
    /// count afterwards, so it only decides whether a call near the limit may start.
    static let defaultCompletionEstimate = 256

    static let roles: Set<String> = ["system", "developer", "user", "assistant", "tool"]

    /// One whole completion: the router's reply, passed on as it is.
    func complete(_ request: ChatCompletionRequest, caller: Caller, requestID: String) async throws -> (RouterClient.Reply, Admission?) {
        let call = try chatCall(request, caller: caller, requestID: requestID)
        let admission = try await admit(caller, requestID: requestID, estimatedTokens: Self.estimateTokens(request))
        do {
            let reply = try await router.complete(call, correlationID: requestID)
            let usage = (try? JSONCoding.decode(UsageOnly.self, from: reply.payload))?.usage
            await settle(admission, actualTokens: usage?.totalTokens ?? 0)
            return (reply, admission)
        } catch {
            await settle(admission, actualTokens: 0)
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
        let admission = try await admit(caller, requestID: requestID, estimatedTokens: Self.estimateTokens(request))
        do {
            let chunks = try router.stream(call, correlationID: requestID)
            let stream = ChatStream(
                chunks: chunks, admission: admission, callerWantsUsage: request.streamOptions?.includeUsage == true,
                settle: { admission, tokens in await settle(admission, actualTokens: tokens) })
            try await stream.start()
            return stream
        } catch {
            await settle(admission, actualTokens: 0)
            throw RouterClient.apiError(error)
        }
    }

    func embed(_ request: EmbeddingsRequest, caller: Caller, requestID: String) async throws -> (RouterClient.Reply, Admission?) {
        let tenant = try caller.requireTenant()
        guard caller.may(use: request.model) else { throw APIError.modelNotFound(request.model) }
        let estimate = request.input.values.reduce(0) { $0 + Self.estimateTokens($1) }
        let admission = try await admit(caller, requestID: requestID, estimatedTokens: estimate)
        do {
            let reply = try await router.embed(
                RouterEmbeddingsCall(requestID: requestID, tenantID: tenant, apiKeyID: caller.apiKeyID, embeddings: request),
                correlationID: requestID)
            let usage = (try? JSONCoding.decode(EmbeddingsUsageOnly.self, from: reply.payload))?.usage
            await settle(admission, actualTokens: usage?.totalTokens ?? 0)
            return (reply, admission)
        } catch {
            await settle(admission, actualTokens: 0)
            throw error
        }
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
        return RouterChatCall(requestID: requestID, tenantID: tenant, apiKeyID: caller.apiKeyID, completion: request)
    }

    private func admit(_ caller: Caller, requestID: String, estimatedTokens: Int) async throws -> Admission? {
        guard let quotas else { return nil }
        return try await quotas.admit(caller, requestID: requestID, estimatedTokens: estimatedTokens)
    }

    private func settle(_ admission: Admission?, actualTokens: Int?) async {
        guard let quotas, let admission else { return }
        await quotas.settle(admission, actualTokens: actualTokens)
    }

    /// Tokens a chat call may use: about four characters a token for the prompt plus a few per
    /// message for the chat template, and the completion limit.
    static func estimateTokens(_ request: ChatCompletionRequest) -> Int {
        let prompt = request.messages.reduce(3) { $0 + 4 + estimateTokens($1.content?.text ?? "") }
        return prompt + (request.completionTokenLimit ?? defaultCompletionEstimate)
    }

    static func estimateTokens(_ text: String) -> Int { (text.utf8.count + 3) / 4 }
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

    private var iterator: AsyncThrowingStream<NATSMessage, any Error>.AsyncIterator?
    private var first: NATSMessage?
    private let admission: Admission?
    private let callerWantsUsage: Bool
    private let settleQuotas: @Sendable (Admission?, Int?) async -> Void
    private var usedTokens: Int?
    private var settled = false
    /// The deployment that answered, from the first chunk.
    private(set) var deployment: String?

    init(chunks: AsyncThrowingStream<NATSMessage, any Error>, admission: Admission?, callerWantsUsage: Bool,
         settle: @escaping @Sendable (Admission?, Int?) async -> Void) {
        self.iterator = chunks.makeAsyncIterator()
        self.admission = admission
        self.callerWantsUsage = callerWantsUsage
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
                    return .failed(RouterClient.apiError(error))
                }
            }
            guard let message else { return nil }
            if message.headers[RouterHeader.costMicros] != nil {
                usedTokens = (try? JSONCoding.decode(UsageOnly.self, from: message.payload))?.usage?.totalTokens
                if !callerWantsUsage { continue }
            }
            return .chunk(message.payload)
        }
    }

    /// Settles the quotas once: with the stream's usage when it came, else with the estimate
    /// (the caller left early and the usage is known only to billing). Then stops the router's
    /// stream if it is still running: its usage event comes after the slot is free again.
    func finish() async {
        if !settled {
            settled = true
            await settleQuotas(admission, usedTokens)
        }
        iterator = nil
    }
}
