import AsyncHTTPClient
import Contracts
import Foundation
import NIOCore
import NIOHTTP1

/// Any server that speaks OpenAI's chat completions API: OpenAI itself, vLLM, Ollama,
/// llama.cpp's server, TGI. JSON answers and server-sent events; the key comes from the
/// environment variable the deployment names.
struct OpenAICompatibleProvider: ModelProvider {
    let client: HTTPClient
    let environment: [String: String]
    /// How long a call may wait for the next bytes of an answer.
    var readTimeout: TimeAmount = .seconds(60)

    func chat(_ request: ChatCompletionRequest, on deployment: Deployment, stream: Bool) -> AsyncThrowingStream<ProviderEvent, any Error> {
        AsyncThrowingStream { continuation in
            let task = Task {
                do {
                    try await self.run(request, on: deployment, stream: stream, continuation)
                    continuation.finish()
                } catch {
                    continuation.finish(throwing: error)
                }
            }
            // Cancelling the task cancels the HTTP request: the upstream stops generating.
            continuation.onTermination = { _ in task.cancel() }
        }
    }

    private func run(
        _ request: ChatCompletionRequest, on deployment: Deployment, stream: Bool,
        _ continuation: AsyncThrowingStream<ProviderEvent, any Error>.Continuation
    ) async throws {
        var upstream = request
        upstream.model = deployment.upstreamModel
        upstream.stream = stream
        upstream.streamOptions = stream ? StreamOptions(includeUsage: true) : nil
        let response = try await send(try JSONCoding.encode(upstream), to: "chat/completions", on: deployment)
        if stream {
            try await relayEvents(response.body, continuation)
        } else {
            let body = try await collect(response.body)
            let completion: ChatCompletion
            do {
                completion = try JSONCoding.decode(ChatCompletion.self, from: Data(buffer: body))
            } catch {
                throw ProviderError(kind: .invalidResponse, message: "\(deployment.name) answered an unreadable completion: \(error)")
            }
            let choice = completion.choices.first
            if let text = choice?.message.content?.text, !text.isEmpty { continuation.yield(.content(text)) }
            continuation.yield(.finished(reason: choice?.finishReason, usage: completion.usage))
        }
    }

    private func send(_ body: Data, to path: String, on deployment: Deployment) async throws -> HTTPClientResponse {
        guard let base = deployment.baseURL else {
            throw ProviderError(kind: .connection, message: "\(deployment.name) has no base_url")
        }
        var request = HTTPClientRequest(url: base.hasSuffix("/") ? base + path : base + "/" + path)
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/json")
        if let variable = deployment.credentialVariable, let key = environment[variable] {
            request.headers.add(name: "Authorization", value: "Bearer \(key)")
        }
        request.body = .bytes(ByteBuffer(data: body))
        let response: HTTPClientResponse
        do {
            response = try await client.execute(request, timeout: readTimeout)
        } catch let error as HTTPClientError where error == .readTimeout || error == .deadlineExceeded {
            throw ProviderError(kind: .timeout, message: "\(deployment.name) did not answer in time")
        } catch is CancellationError {
            throw CancellationError()
        } catch {
            throw ProviderError(kind: .connection, message: "\(deployment.name) could not be reached: \(error)")
        }
        guard (200..<300).contains(response.status.code) else {
            let detail = (try? await collect(response.body, limit: 4096)).map { String(buffer: $0) } ?? ""
            throw ProviderError(
                kind: .status(Int(response.status.code)),
                message: "\(deployment.name) answered \(response.status.code): \(detail.prefix(300))",
                retryAfterSeconds: response.headers.first(name: "retry-after").flatMap(Int.init))
        }
        return response
    }

    /// Reads `data: {chunk}` events until `data: [DONE]`, yielding content as it arrives.
    private func relayEvents(_ body: HTTPClientResponse.Body, _ continuation: AsyncThrowingStream<ProviderEvent, any Error>.Continuation) async throws {
        var lines = ServerSentEventLines()
        var finishReason: String?
        var usage: TokenUsage?
        var iterator = body.makeAsyncIterator()
        while true {
            let next: ByteBuffer?
            do {
                next = try await iterator.next()
            } catch is CancellationError {
                throw CancellationError()
            } catch {
                throw ProviderError(kind: .connection, message: "the stream broke off: \(error)")
            }
            guard let buffer = next else { break }
            for data in lines.append(buffer) {
                if data == "[DONE]" {
                    continuation.yield(.finished(reason: finishReason, usage: usage))
                    return
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
        }
        throw ProviderError(kind: .connection, message: "the stream ended before [DONE]")
    }

    private func collect(_ body: HTTPClientResponse.Body, limit: Int = 16 << 20) async throws -> ByteBuffer {
        do {
            return try await body.collect(upTo: limit)
        } catch {
            throw ProviderError(kind: .connection, message: "the answer broke off: \(error)")
        }
    }
}

/// Splits a server-sent event stream into the `data:` payloads of its events.
struct ServerSentEventLines {
    private var pending = ""

    mutating func append(_ buffer: ByteBuffer) -> [String] {
        pending += String(buffer: buffer)
        var payloads: [String] = []
        while let newline = pending.firstIndex(where: { $0 == "\n" || $0 == "\r\n" }) {
            let line = pending[..<newline].trimmingCharacters(in: CharacterSet(charactersIn: "\r"))
            pending = String(pending[pending.index(after: newline)...])
            if line.hasPrefix("data:") {
                payloads.append(line.dropFirst(5).trimmingCharacters(in: .whitespaces))
            }
        }
        return payloads
    }
}
