import AsyncHTTPClient
import Contracts
import Foundation
import NIOCore

/// Any server that speaks OpenAI's chat completions API: OpenAI itself, vLLM, Ollama,
/// llama.cpp's server, TGI. JSON answers and server-sent events; the key comes from the
/// environment variable the deployment names.
struct OpenAICompatibleProvider: ModelProvider {
    let client: HTTPClient
    let environment: [String: String]
    /// How long a call may wait for the next bytes of an answer.
    var readTimeout: TimeAmount = .seconds(60)

    func complete(_ request: ChatCompletionRequest, on deployment: Deployment) async throws -> [ProviderEvent] {
        let response = try await send(request, on: deployment, stream: false)
        let completion = try await HTTPProviderCall.decode(ChatCompletion.self, from: response, deployment: deployment, what: "an unreadable completion")
        let choice = completion.choices.first
        var events: [ProviderEvent] = []
        if let text = choice?.message.content?.text, !text.isEmpty { events.append(.content(text)) }
        if let calls = choice?.message.toolCalls, !calls.isEmpty { events.append(.toolCalls(calls)) }
        events.append(.finished(reason: choice?.finishReason, usage: completion.usage))
        return events
    }

    func stream(_ request: ChatCompletionRequest, on deployment: Deployment) -> AsyncThrowingStream<ProviderEvent, any Error> {
        providerEvents { continuation in
            try await self.relayEvents(try await self.send(request, on: deployment, stream: true).body, continuation)
        }
    }

    /// The call to the deployment's upstream model, answered whole or as a stream with its usage.
    private func send(_ request: ChatCompletionRequest, on deployment: Deployment, stream: Bool) async throws -> HTTPClientResponse {
        var upstream = request
        upstream.model = deployment.upstreamModel
        upstream.stream = stream
        upstream.streamOptions = stream ? StreamOptions(includeUsage: true) : nil
        let http = try post("chat/completions", JSONCoding.encode(upstream), to: deployment)
        return try await HTTPProviderCall.execute(http, client: client, timeout: readTimeout, deployment: deployment)
    }

    /// `POST {base_url}/{path}` with the deployment's key.
    private func post(_ path: String, _ body: Data, to deployment: Deployment) throws(ProviderError) -> HTTPClientRequest {
        guard let base = deployment.baseURL else {
            throw ProviderError(kind: .connection, message: "\(deployment.name) has no base_url")
        }
        var http = HTTPClientRequest(url: base.hasSuffix("/") ? base + path : base + "/" + path)
        http.method = .POST
        http.headers.add(name: "Content-Type", value: "application/json")
        if let variable = deployment.credentialVariable, let key = environment[variable] {
            http.headers.add(name: "Authorization", value: "Bearer \(key)")
        }
        http.body = .bytes(ByteBuffer(data: body))
        return http
    }

    /// Reads `data: {chunk}` events until `data: [DONE]`, yielding content as it arrives.
    private func relayEvents(_ body: HTTPClientResponse.Body, _ continuation: AsyncThrowingStream<ProviderEvent, any Error>.Continuation) async throws {
        var lines = ServerSentEventLines()
        var finishReason: String?
        var usage: TokenUsage?
        let bodyEnded = try await HTTPProviderCall.forEachBuffer(of: body) { buffer in
            for data in try lines.append(buffer) {
                if data.isDoneMarker {
                    continuation.yield(.finished(reason: finishReason, usage: usage))
                    return false
                }
                guard let chunk = try? JSONCoding.decode(UpstreamChunk.self, from: data) else {
                    throw ProviderError(kind: .invalidResponse, message: "an unreadable event: \(data.excerpt)")
                }
                if let choice = chunk.choices?.first {
                    if let content = choice.delta?.content, !content.isEmpty { continuation.yield(.content(content)) }
                    if let calls = choice.delta?.toolCalls, !calls.isEmpty { continuation.yield(.toolCalls(calls)) }
                    finishReason = choice.finishReason ?? finishReason
                }
                usage = chunk.usage ?? usage
            }
            return true
        }
        if bodyEnded { throw ProviderError(kind: .connection, message: "the stream ended before [DONE]") }
    }
}

extension OpenAICompatibleProvider: EmbeddingProvider {
    /// `POST {base_url}/embeddings`. The vectors come back in the caller's format whatever the
    /// server sent (some ignore `encoding_format`), in input order.
    func embed(_ request: EmbeddingsRequest, on deployment: Deployment) async throws -> EmbeddingsResponse {
        let format = try EmbeddingsRequest.format(of: request)
        var upstream = request
        upstream.model = deployment.upstreamModel
        upstream.user = nil
        let http = try post("embeddings", JSONCoding.encode(upstream), to: deployment)
        let response = try await HTTPProviderCall.execute(http, client: client, timeout: readTimeout, deployment: deployment)
        let answer = try await HTTPProviderCall.decode(UpstreamEmbeddings.self, from: response, deployment: deployment, what: "unreadable embeddings")
        let inputs = request.input.values
        guard answer.data.count == inputs.count, Set(answer.data.map(\.index)) == Set(inputs.indices) else {
            throw ProviderError(kind: .invalidResponse, message: "\(deployment.name) answered \(answer.data.count) embeddings for \(inputs.count) inputs")
        }
        var data: [EmbeddingsResponse.Embedding] = []
        for embedding in answer.data.sorted(by: { $0.index < $1.index }) {
            guard let values = embedding.embedding.values else {
                throw ProviderError(kind: .invalidResponse, message: "\(deployment.name) answered an embedding that is not float32 numbers")
            }
            data.append(.init(index: embedding.index, embedding: EmbeddingVector(values, format: format)))
        }
        let promptTokens = answer.usage?.promptTokens ?? inputs.map(LocalTokenizer.count).reduce(0, +)
        return EmbeddingsResponse(data: data, model: request.model, usage: .init(promptTokens: promptTokens))
    }
}

/// What the router reads of a streamed chunk: only what it uses, which is also less to decode
/// for every event, and a server that leaves out `id`, `created` or `model` is still understood.
private struct UpstreamChunk: Decodable {
    struct Choice: Decodable {
        var delta: Delta?
        var finishReason: String?

        enum CodingKeys: String, CodingKey {
            case delta
            case finishReason = "finish_reason"
        }
    }

    struct Delta: Decodable {
        var content: String?
        var toolCalls: [JSONValue]?

        enum CodingKeys: String, CodingKey {
            case content
            case toolCalls = "tool_calls"
        }
    }

    var choices: [Choice]?
    var usage: TokenUsage?
}

/// What OpenAI-compatible servers answer to `/embeddings`: only what is used, so a server that
/// leaves out `object` or `usage` is still understood.
private struct UpstreamEmbeddings: Decodable {
    struct Item: Decodable {
        var index: Int
        var embedding: EmbeddingVector
    }

    struct Usage: Decodable {
        var promptTokens: Int

        enum CodingKeys: String, CodingKey { case promptTokens = "prompt_tokens" }
    }

    var data: [Item]
    var usage: Usage?
}
