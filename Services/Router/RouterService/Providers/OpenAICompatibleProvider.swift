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

    func chat(_ request: ChatCompletionRequest, on deployment: Deployment, stream: Bool) -> AsyncThrowingStream<ProviderEvent, any Error> {
        providerEvents { continuation in try await self.run(request, on: deployment, stream: stream, continuation) }
    }

    private func run(
        _ request: ChatCompletionRequest, on deployment: Deployment, stream: Bool,
        _ continuation: AsyncThrowingStream<ProviderEvent, any Error>.Continuation
    ) async throws {
        var upstream = request
        upstream.model = deployment.upstreamModel
        upstream.stream = stream
        upstream.streamOptions = stream ? StreamOptions(includeUsage: true) : nil
        guard let base = deployment.baseURL else {
            throw ProviderError(kind: .connection, message: "\(deployment.name) has no base_url")
        }
        var http = HTTPClientRequest(url: base.hasSuffix("/") ? base + "chat/completions" : base + "/chat/completions")
        http.method = .POST
        http.headers.add(name: "Content-Type", value: "application/json")
        if let variable = deployment.credentialVariable, let key = environment[variable] {
            http.headers.add(name: "Authorization", value: "Bearer \(key)")
        }
        http.body = .bytes(ByteBuffer(data: try JSONCoding.encode(upstream)))
        let response = try await HTTPProviderCall.execute(http, client: client, timeout: readTimeout, deployment: deployment)
        if stream {
            try await relayEvents(response.body, continuation)
            return
        }
        let completion: ChatCompletion
        do {
            completion = try JSONCoding.decode(ChatCompletion.self, from: Data(buffer: try await HTTPProviderCall.collect(response.body)))
        } catch let error as ProviderError {
            throw error
        } catch {
            throw ProviderError(kind: .invalidResponse, message: "\(deployment.name) answered an unreadable completion: \(error)")
        }
        let choice = completion.choices.first
        if let text = choice?.message.content?.text, !text.isEmpty { continuation.yield(.content(text)) }
        continuation.yield(.finished(reason: choice?.finishReason, usage: completion.usage))
    }

    /// Reads `data: {chunk}` events until `data: [DONE]`, yielding content as it arrives.
    private func relayEvents(_ body: HTTPClientResponse.Body, _ continuation: AsyncThrowingStream<ProviderEvent, any Error>.Continuation) async throws {
        var lines = ServerSentEventLines()
        var finishReason: String?
        var usage: TokenUsage?
        let bodyEnded = try await HTTPProviderCall.forEachBuffer(of: body) { buffer in
            for data in lines.append(buffer) {
                if data == "[DONE]" {
                    continuation.yield(.finished(reason: finishReason, usage: usage))
                    return false
                }
                guard let chunk = try? JSONCoding.decode(ChatCompletionChunk.self, from: Data(data.utf8)) else {
                    throw ProviderError(kind: .invalidResponse, message: "an unreadable event: \(data.prefix(200))")
                }
                if let choice = chunk.choices.first {
                    if let content = choice.delta.content, !content.isEmpty { continuation.yield(.content(content)) }
                    finishReason = choice.finishReason ?? finishReason
                }
                usage = chunk.usage ?? usage
            }
            return true
        }
        if bodyEnded { throw ProviderError(kind: .connection, message: "the stream ended before [DONE]") }
    }
}
