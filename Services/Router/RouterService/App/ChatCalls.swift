import Contracts
import Foundation
import Logging
import SwitchyardBus

/// A model call as it went: what answered and what it used. Becomes the `usage.recorded` event.
struct CallRecord: Sendable {
    var deployment: Deployment
    var promptTokens: Int
    var completionTokens: Int
    var started: ContinuousClock.Instant
    var startedAt: Date
    var firstToken: ContinuousClock.Instant?
    var status: UsageRecorded.Status
}

/// Answers chat completion calls from the catalog: picks the deployment, runs the model, and
/// publishes exactly one `usage.recorded` per call, also when the caller left early.
public struct ChatCalls: Sendable {
    let catalog: Catalog
    let model = LocalModel()
    let usage: UsagePublisher
    let clock = ContinuousClock()

    /// One whole completion.
    func complete(_ call: RouterChatCall) async throws -> (ChatCompletion, Deployment) {
        let deployment = try route(call.completion, needs: [.chat])
        var record = start(call, on: deployment)
        let (tokens, finishReason) = model.reply(to: call.completion.messages, limit: call.completion.completionTokenLimit)
        record.completionTokens = tokens.count
        record.firstToken = clock.now
        record.status = .succeeded
        await usage.publish(record, for: call)
        let completion = ChatCompletion(
            id: "chatcmpl-\(call.requestID)", created: Int64(record.startedAt.timeIntervalSince1970), model: call.completion.model,
            choices: [.init(index: 0, message: .assistant(tokens.joined()), finishReason: finishReason)],
            usage: TokenUsage(promptTokens: record.promptTokens, completionTokens: record.completionTokens))
        return (completion, deployment)
    }

    /// A completion as chunks: a first chunk with the role, one per token at the deployment's
    /// pace, a last one with the finish reason, and the usage when the caller asked for it.
    /// Cancelled when the caller stops reading; the tokens sent until then are still recorded.
    func stream(_ call: RouterChatCall, send: (ChatCompletionChunk) throws -> Void) async throws -> Deployment {
        let deployment = try route(call.completion, needs: [.chat, .streaming])
        var record = start(call, on: deployment)
        let (tokens, finishReason) = model.reply(to: call.completion.messages, limit: call.completion.completionTokenLimit)
        let chunk = { (delta: ChatCompletionChunk.Delta, finish: String?) in
            ChatCompletionChunk(
                id: "chatcmpl-\(call.requestID)", created: Int64(record.startedAt.timeIntervalSince1970),
                model: call.completion.model, choices: [.init(index: 0, delta: delta, finishReason: finish)])
        }
        let pause: Duration? = deployment.tokensPerSecond > 0 ? .nanoseconds(1_000_000_000 / Int64(deployment.tokensPerSecond)) : nil
        do {
            try send(chunk(.init(role: "assistant", content: ""), nil))
            for token in tokens {
                if let pause { try await Task.sleep(for: pause) }
                try Task.checkCancellation()
                try send(chunk(.init(content: token), nil))
                record.firstToken = record.firstToken ?? clock.now
                record.completionTokens += 1
            }
            try send(chunk(.init(), finishReason))
            if call.completion.streamOptions?.includeUsage == true {
                try send(ChatCompletionChunk(
                    id: "chatcmpl-\(call.requestID)", created: Int64(record.startedAt.timeIntervalSince1970), model: call.completion.model,
                    choices: [], usage: TokenUsage(promptTokens: record.promptTokens, completionTokens: record.completionTokens)))
            }
            record.status = .succeeded
        } catch {
            record.status = error is CancellationError || Task.isCancelled ? .cancelled : .failed
            let finished = record
            // Not cancelled with the call: what was produced is billed.
            await Task { await usage.publish(finished, for: call) }.value
            throw error
        }
        await usage.publish(record, for: call)
        return deployment
    }

    /// The first deployment of the model that can take the request (priority order).
    func route(_ request: ChatCompletionRequest, needs: Set<Capability>) throws(ServiceFault) -> Deployment {
        guard let entry = catalog.model(request.model) else {
            throw ServiceFault(code: "model_not_found", message: "The model `\(request.model)` does not exist or you do not have access to it.", param: "model")
        }
        if let limit = request.completionTokenLimit, limit < 1 {
            throw ServiceFault(code: "invalid_value", message: "max_tokens must be at least 1.", param: "max_tokens")
        }
        guard !request.messages.isEmpty else {
            throw ServiceFault(code: "invalid_value", message: "messages must hold at least one message.", param: "messages")
        }
        let capable = entry.deployments.filter { needs.isSubset(of: $0.capabilities) }
        guard !capable.isEmpty else {
            throw ServiceFault(code: "unsupported_model", message: "The model `\(request.model)` does not support \(needs.map(\.rawValue).sorted().joined(separator: " and ")).", param: "model")
        }
        let promptTokens = model.promptTokens(request.messages)
        let needed = promptTokens + (request.completionTokenLimit ?? 1)
        guard let deployment = capable.first(where: { $0.contextWindow >= needed }) else {
            throw ServiceFault(
                code: "context_length_exceeded",
                message: "This model's maximum context length is \(capable.map(\.contextWindow).max()!) tokens; the request needs \(needed).",
                param: "messages")
        }
        return deployment
    }

    private func start(_ call: RouterChatCall, on deployment: Deployment) -> CallRecord {
        CallRecord(
            deployment: deployment, promptTokens: model.promptTokens(call.completion.messages), completionTokens: 0,
            started: clock.now, startedAt: Date(), firstToken: nil, status: .failed)
    }
}

/// Publishes `usage.recorded`, one per call: the envelope id is derived from the request id, so
/// publishing again (a retry, a second replica answering the same request) stores nothing new.
public struct UsagePublisher: Sendable {
    let bus: Bus
    let logger: Logger

    func publish(_ record: CallRecord, for call: RouterChatCall) async {
        await publish(record, requestID: call.requestID, tenantID: call.tenantID, apiKeyID: call.apiKeyID, model: call.completion.model)
    }

    func publish(_ record: CallRecord, requestID: String, tenantID: UUID, apiKeyID: UUID?, model: String) async {
        let latency = record.started.duration(to: .now)
        let envelope = Envelope(
            id: UUID.derived(from: "usage.recorded:\(requestID)"), tenantID: tenantID, occurredAt: record.startedAt,
            correlationID: requestID,
            payload: UsageRecorded(
                requestID: requestID, apiKeyID: apiKeyID, model: model, deployment: record.deployment.name,
                promptTokens: record.promptTokens, completionTokens: record.completionTokens,
                costMicros: record.deployment.price.costMicros(promptTokens: record.promptTokens, completionTokens: record.completionTokens),
                latencyMs: Int(latency.milliseconds), ttftMs: record.firstToken.map { Int(record.started.duration(to: $0).milliseconds) },
                status: record.status))
        // The call was answered: its usage is money. Retrying is safe (same id, stored once).
        for attempt in 1...5 {
            do {
                try await bus.publish(envelope)
                return
            } catch {
                logger.error("usage event not stored", metadata: [
                    "request_id": "\(requestID)", "attempt": "\(attempt)", "error": "\(error)",
                ])
                try? await Task.sleep(for: .milliseconds(100 << attempt))
            }
        }
    }
}

extension Duration {
    var milliseconds: Int64 { components.seconds * 1000 + components.attoseconds / 1_000_000_000_000_000 }
}
