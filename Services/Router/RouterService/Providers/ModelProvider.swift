import Contracts
import Foundation

/// What a provider streams back for one call.
enum ProviderEvent: Sendable, Equatable {
    /// A piece of the answer's text.
    case content(String)
    /// Tool calls in OpenAI's form: a stream's deltas (`index`, then `id`, `type` and the
    /// function's `name` once, its `arguments` in fragments), or a whole answer's calls at once.
    case toolCalls([JSONValue])
    /// The end: why it ended and, when the provider says, the call's usage.
    case finished(reason: String?, usage: TokenUsage?)
}

/// A failure of a provider call, classified for retries and failover.
struct ProviderError: Error, CustomStringConvertible, Equatable {
    enum Kind: Equatable {
        /// No connection was made, or it broke before an answer.
        case connection
        /// The provider answered with an HTTP status other than 2xx.
        case status(Int)
        /// No answer within the read timeout.
        case timeout
        /// The answer could not be read.
        case invalidResponse
    }

    var kind: Kind
    var message: String
    /// Seconds from the provider's `Retry-After`.
    var retryAfterSeconds: Int? = nil

    /// Worth trying again (elsewhere or later): connection errors, timeouts, 429 and 5xx.
    var isRetryable: Bool {
        switch kind {
        case .connection, .timeout: true
        case .status(let code): code == 429 || code >= 500
        case .invalidResponse: false
        }
    }

    var description: String { message }
}

/// One kind of provider (the built-in local model, an OpenAI-compatible server, …).
protocol ModelProvider: Sendable {
    /// A whole answer, as events, asked for in the caller's task: no task or stream of its own
    /// for what comes back at once.
    func complete(_ request: ChatCompletionRequest, on deployment: Deployment) async throws -> [ProviderEvent]

    /// Starts a streamed call and streams its events. A failure before the first event may be
    /// retried or failed over; once an event was yielded, the answer belongs to this call.
    func stream(_ request: ChatCompletionRequest, on deployment: Deployment) -> AsyncThrowingStream<ProviderEvent, any Error>
}

/// A call's events: a whole answer's, or a stream's as they arrive.
enum ProviderEvents {
    case whole(IndexingIterator<[ProviderEvent]>)
    case streaming(AsyncThrowingStream<ProviderEvent, any Error>.Iterator)

    mutating func next() async throws -> ProviderEvent? {
        switch self {
        case .whole(var events):
            defer { self = .whole(events) }
            return events.next()
        case .streaming(var events):
            defer { self = .streaming(events) }
            return try await events.next()
        }
    }
}

/// A kind of provider that makes embeddings.
protocol EmbeddingProvider: Sendable {
    /// The embeddings of `request.input`, in the caller's `encoding_format`, with the usage the
    /// provider reported (or a count of its own when it reported none).
    func embed(_ request: EmbeddingsRequest, on deployment: Deployment) async throws -> EmbeddingsResponse
}

/// Runs a provider call in a task of its own and streams what it yields. When the caller stops
/// reading, the task is cancelled, and with it the upstream request.
func providerEvents(
    _ body: @escaping @Sendable (AsyncThrowingStream<ProviderEvent, any Error>.Continuation) async throws -> Void
) -> AsyncThrowingStream<ProviderEvent, any Error> {
    AsyncThrowingStream { continuation in
        let task = Task {
            do {
                try await body(continuation)
                continuation.finish()
            } catch {
                continuation.finish(throwing: error)
            }
        }
        continuation.onTermination = { _ in task.cancel() }
    }
}

/// The built-in `local` model as a provider.
struct LocalProvider: ModelProvider {
    let model = LocalModel()

    func complete(_ request: ChatCompletionRequest, on deployment: Deployment) async throws -> [ProviderEvent] {
        let (tokens, finishReason) = model.reply(to: request.messages, limit: request.completionTokenLimit)
        let usage = TokenUsage(promptTokens: model.promptTokens(request.messages), completionTokens: tokens.count)
        return tokens.map { .content($0) } + [.finished(reason: finishReason, usage: usage)]
    }

    func stream(_ request: ChatCompletionRequest, on deployment: Deployment) -> AsyncThrowingStream<ProviderEvent, any Error> {
        let (tokens, finishReason) = model.reply(to: request.messages, limit: request.completionTokenLimit)
        let pause: Duration? = deployment.tokensPerSecond > 0 ? .nanoseconds(1_000_000_000 / Int64(deployment.tokensPerSecond)) : nil
        let promptTokens = model.promptTokens(request.messages)
        return providerEvents { continuation in
            for token in tokens {
                if let pause { try await Task.sleep(for: pause) }
                try Task.checkCancellation()
                continuation.yield(.content(token))
            }
            continuation.yield(.finished(reason: finishReason, usage: TokenUsage(promptTokens: promptTokens, completionTokens: tokens.count)))
        }
    }
}

extension LocalProvider: EmbeddingProvider {
    /// Feature hashing: deterministic, offline, and close for texts that share words.
    func embed(_ request: EmbeddingsRequest, on deployment: Deployment) async throws -> EmbeddingsResponse {
        let format = try EmbeddingsRequest.format(of: request)
        let dimensions = request.dimensions ?? LocalModel.embeddingDimensions
        let inputs = request.input.values
        let data = inputs.enumerated().map { index, text in
            EmbeddingsResponse.Embedding(index: index, embedding: EmbeddingVector(model.embedding(of: text, dimensions: dimensions), format: format))
        }
        return EmbeddingsResponse(data: data, model: request.model, usage: .init(promptTokens: inputs.map(LocalTokenizer.count).reduce(0, +)))
    }
}

extension EmbeddingsRequest {
    /// The caller's `encoding_format`; `float` when it named none.
    static func format(of request: EmbeddingsRequest) throws(ServiceFault) -> EmbeddingVector.Format {
        guard let format = EmbeddingVector.Format(rawValue: request.encodingFormat ?? "float") else {
            throw ServiceFault(code: "invalid_value", message: "encoding_format must be float or base64.", param: "encoding_format")
        }
        return format
    }
}
