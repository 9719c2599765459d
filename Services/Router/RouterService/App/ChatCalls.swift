import Contracts
import Foundation
import Logging
import SwitchyardBus

/// A model call as it went: what answered and what it used. Becomes the `usage.recorded` event.
struct CallRecord: Sendable {
    var deployment: Deployment
    /// What the call is charged per token: the model's charge, or the deployment's price.
    var price: Price
    var promptTokens: Int
    var completionTokens: Int
    var started: ContinuousClock.Instant
    var startedAt: Date
    var firstToken: ContinuousClock.Instant?
    var status: UsageRecorded.Status
}

/// Answers chat completion calls from the catalog: orders the deployments by the model's
/// strategy, retries once and then fails over when one fails before its first token, relays the
/// answer, and publishes exactly one `usage.recorded` per call, also when the caller left early.
public struct ChatCalls: Sendable {
    let catalogs: TenantCatalogs
    let providers: Providers
    let usage: UsagePublisher
    let health: DeploymentHealth
    let estimator = LocalModel()
    let clock = ContinuousClock()

    /// One whole completion.
    func complete(_ call: RouterChatCall, deadline: Date? = nil) async throws -> (ChatCompletion, CallRecord) {
        let (opened, started) = try await open(call, stream: false, deadline: deadline)
        var text = ""
        var toolCalls: [JSONValue] = []
        var finishReason: String?
        let record = try await relay(opened, started, for: call, streaming: false) { piece in
            text += piece
        } onToolCalls: { calls in
            toolCalls += calls
        } onFinished: { reason, _ in
            finishReason = reason
        }
        // As OpenAI answers: no content beside tool calls when there is no text.
        let message = toolCalls.isEmpty
            ? ChatMessage.assistant(text)
            : ChatMessage(role: "assistant", content: text.isEmpty ? nil : .text(text), toolCalls: toolCalls)
        let completion = ChatCompletion(
            id: "chatcmpl-\(call.requestID)", created: Int64(record.startedAt.timeIntervalSince1970), model: call.completion.model,
            choices: [.init(index: 0, message: message, finishReason: finishReason)],
            usage: TokenUsage(promptTokens: record.promptTokens, completionTokens: record.completionTokens))
        return (completion, record)
    }

    /// A completion as chunks: a first chunk with the role, the content as it arrives, a last
    /// one with the finish reason, and the usage when the caller asked for it. Cancelled when
    /// the caller stops reading (which cancels the upstream request); the tokens produced until
    /// then are still recorded. The first chunk's headers name the deployment that answered.
    func stream(
        _ call: RouterChatCall, deadline: Date? = nil, send: (ChatCompletionChunk, [String: String]) async throws -> Void
    ) async throws -> Deployment {
        let (opened, started) = try await open(call, stream: true, deadline: deadline)
        let created = Int64(started.startedAt.timeIntervalSince1970)
        func chunk(_ delta: ChatCompletionChunk.Delta, finish: String? = nil) -> ChatCompletionChunk {
            ChatCompletionChunk(
                id: "chatcmpl-\(call.requestID)", created: created, model: call.completion.model,
                choices: [.init(index: 0, delta: delta, finishReason: finish)])
        }
        let record = try await relay(opened, started, for: call, streaming: true) { piece in
            try await send(chunk(.init(content: piece)), [:])
        } onToolCalls: { calls in
            try await send(chunk(.init(toolCalls: calls)), [:])
        } onStart: {
            try await send(chunk(.init(role: "assistant", content: "")), [RouterHeader.deployment: started.deployment.name])
        } onFinished: { reason, usage in
            try await send(chunk(.init(), finish: reason ?? "stop"), [:])
            if call.completion.streamOptions?.includeUsage == true {
                let cost = started.price.costMicros(promptTokens: usage.promptTokens, completionTokens: usage.completionTokens)
                try await send(ChatCompletionChunk(
                    id: "chatcmpl-\(call.requestID)", created: created, model: call.completion.model, choices: [], usage: usage),
                    [RouterHeader.costMicros: String(cost)])
            }
        }
        return record.deployment
    }

    /// Walks a provider's events to their end, handing each piece of text to `onContent`, and
    /// records how the call went (breaker, metrics, one usage event) whether it succeeded,
    /// failed or was cancelled. Returns the finished record.
    private func relay(
        _ opened: OpenedCall, _ started: CallRecord, for call: RouterChatCall, streaming: Bool,
        onContent: (String) async throws -> Void, onToolCalls: ([JSONValue]) async throws -> Void, onStart: () async throws -> Void = {},
        onFinished: (String?, TokenUsage) async throws -> Void
    ) async throws -> CallRecord {
        var events = opened.events
        var record = started
        do {
            try await onStart()
            var finished = false
            var event = opened.first
            while let current = event {
                try Task.checkCancellation()
                switch current {
                case .content(let piece):
                    try await onContent(piece)
                    if streaming { record.firstToken = record.firstToken ?? clock.now }
                    record.completionTokens += 1
                case .toolCalls(let calls):
                    try await onToolCalls(calls)
                    if streaming { record.firstToken = record.firstToken ?? clock.now }
                    record.completionTokens += 1
                case .finished(let reason, let reported):
                    record.apply(reported)
                    try await onFinished(reason, TokenUsage(promptTokens: record.promptTokens, completionTokens: record.completionTokens))
                    finished = true
                }
                event = try await events.next()
            }
            // A provider stream also ends, without its last event, when the caller cancels.
            guard finished else {
                throw Task.isCancelled ? CancellationError() : ProviderError(kind: .invalidResponse, message: "the answer ended early")
            }
            record.status = .succeeded
        } catch {
            record.status = error is CancellationError || Task.isCancelled ? .cancelled : .failed
            await end(record, for: call, error: error)
            throw fault(error, deployment: record.deployment)
        }
        await end(record, for: call, error: nil)
        return record
    }

    /// Tells the deployment's breaker and metrics how the call went, and records its usage.
    private func end(_ record: CallRecord, for call: RouterChatCall, error: (any Error)?) async {
        switch error {
        case nil: health.recordSuccess(record.deployment.name)
        case let error as ProviderError: health.recordFailure(record.deployment.name, error)
        default: health.recordAbandoned(record.deployment.name)
        }
        health.recordCall(record)
        usage.publish(record, for: call)
    }

    /// A provider call that has yielded its first event.
    struct OpenedCall {
        var first: ProviderEvent?
        var events: ProviderEvents
    }

    /// Tries the model's deployments in priority order until one yields its first event. A
    /// retryable failure (connection, timeout, 429, 5xx) moves on to the next deployment; no
    /// call is retried once an event came, so nothing is sent to the caller twice.
    /// Tries per deployment before the next one: the first call and one retry.
    static let attemptsPerDeployment = 2

    /// 100 ms doubled per attempt, jittered ±50 % so retries of many calls do not arrive
    /// together; nil when the caller's deadline leaves no room for it and another try.
    static func retryPause(attempt: Int, deadline: Date?) -> Duration? {
        let milliseconds = Double(100 << (attempt - 1)) * Double.random(in: 0.5...1.5)
        if let deadline, Date().addingTimeInterval(milliseconds / 1000 + 0.1) >= deadline { return nil }
        return .milliseconds(Int64(milliseconds))
    }

    private func open(_ call: RouterChatCall, stream: Bool, deadline: Date?) async throws -> (OpenedCall, CallRecord) {
        // One snapshot of the catalog per call: a reload meanwhile does not mix two of them.
        let entry = try await catalogs.model(call.completion.model, tenant: call.tenantID)
        var needs: Set<Capability> = stream ? [.chat, .streaming] : [.chat]
        if call.completion.tools?.isEmpty == false { needs.insert(.tools) }
        let (fitting, promptTokens) = try route(call.completion, in: entry, needs: needs)
        let candidates = health.order(
            fitting, strategy: entry.strategy, promptTokens: promptTokens, completionTokens: call.completion.completionTokenLimit ?? 256)
        var failures: [String] = []
        for deployment in candidates {
            for attempt in 1...Self.attemptsPerDeployment {
                // An open breaker sends the call to the next deployment instead of a dead one.
                guard health.allowsCall(to: deployment.name) else {
                    failures.append("\(deployment.name): circuit open")
                    break
                }
                let provider = providers.provider(for: deployment)
                let record = CallRecord(
                    deployment: deployment, price: entry.charge ?? deployment.price, promptTokens: promptTokens, completionTokens: 0,
                    started: clock.now, startedAt: Date(), firstToken: nil, status: .failed)
                do {
                    var events: ProviderEvents = stream
                        ? .streaming(provider.stream(call.completion, on: deployment).makeAsyncIterator())
                        : .whole(try await provider.complete(call.completion, on: deployment).makeIterator())
                    let first = try await events.next()
                    return (OpenedCall(first: first, events: events), record)
                } catch let error as ProviderError {
                    health.recordFailure(deployment.name, error)
                    guard error.isRetryable else { throw fault(error, deployment: deployment) }
                    failures.append(error.message)
                    // A 429 put the deployment in cool-down: the next deployment, not a retry.
                    guard attempt < Self.attemptsPerDeployment, error.kind != .status(429),
                          let pause = Self.retryPause(attempt: attempt, deadline: deadline) else { break }
                    try await Task.sleep(for: pause)
                } catch {
                    health.recordAbandoned(deployment.name)
                    throw fault(error, deployment: deployment)
                }
            }
        }
        throw ServiceFault(code: "upstream_unavailable", message: "No deployment of `\(call.completion.model)` answered: \(failures.joined(separator: "; "))")
    }

    private func fault(_ error: any Error, deployment: Deployment) -> any Error {
        switch error {
        case let error as ProviderError:
            ServiceFault(code: "upstream_error", message: "\(deployment.name) failed: \(error.message)")
        default:
            error
        }
    }

    /// The deployments of the model that can take the request, in priority order, and the
    /// request's estimated prompt tokens (counted once: it is a walk over every message).
    func route(
        _ request: ChatCompletionRequest, in entry: ModelEntry, needs: Set<Capability>
    ) throws(ServiceFault) -> (deployments: [Deployment], promptTokens: Int) {
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
        let promptTokens = estimator.promptTokens(request.messages)
        let needed = promptTokens + (request.completionTokenLimit ?? 1)
        let fitting = capable.filter { $0.contextWindow >= needed }
        guard !fitting.isEmpty else {
            throw ServiceFault(
                code: "context_length_exceeded",
                message: "This model's maximum context length is \(capable.map(\.contextWindow).max()!) tokens; the request needs \(needed).",
                param: "messages")
        }
        return (fitting, promptTokens)
    }
}

/// The providers by kind, made once per router.
struct Providers: Sendable {
    let local: LocalProvider
    let openAICompatible: OpenAICompatibleProvider
    let anthropic: AnthropicProvider

    func provider(for deployment: Deployment) -> any ModelProvider {
        switch deployment.provider {
        case .local: local
        case .openai: openAICompatible
        case .anthropic: anthropic
        }
    }

    /// Nil for a kind of provider that makes no embeddings (the catalog refuses such entries).
    func embeddingProvider(for deployment: Deployment) -> (any EmbeddingProvider)? {
        switch deployment.provider {
        case .local: local
        case .openai: openAICompatible
        case .anthropic: nil
        }
    }
}

extension CallRecord {
    /// Takes the provider's own counts when it sent them; otherwise keeps the prompt estimate
    /// and the count of content events (one token each, as providers stream them).
    mutating func apply(_ reported: TokenUsage?) {
        guard let reported else { return }
        promptTokens = reported.promptTokens
        completionTokens = reported.completionTokens
    }
}
