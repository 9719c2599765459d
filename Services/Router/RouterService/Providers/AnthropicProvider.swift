import AsyncHTTPClient
import Contracts
import Foundation
import NIOCore

/// Anthropic's Messages API, translated to and from the OpenAI shapes: system messages become
/// `system`, `max_tokens` is always sent (Anthropic requires it), stop reasons and usage are
/// mapped back, and its event stream becomes provider events.
struct AnthropicProvider: ModelProvider {
    let client: HTTPClient
    let environment: [String: String]
    var readTimeout: TimeAmount = .seconds(60)
    /// Anthropic requires `max_tokens`; this is used when the caller set none.
    static let defaultMaxTokens = 4096
    static let apiVersion = "2023-06-01"

    func chat(_ request: ChatCompletionRequest, on deployment: Deployment, stream: Bool) -> AsyncThrowingStream<ProviderEvent, any Error> {
        providerEvents { continuation in try await self.run(request, on: deployment, stream: stream, continuation) }
    }

    private func run(
        _ request: ChatCompletionRequest, on deployment: Deployment, stream: Bool,
        _ continuation: AsyncThrowingStream<ProviderEvent, any Error>.Continuation
    ) async throws {
        let body = try JSONCoding.encode(AnthropicRequest(request, model: deployment.upstreamModel, stream: stream))
        var http = HTTPClientRequest(url: url(deployment, path: "messages"))
        http.method = .POST
        http.headers.add(name: "Content-Type", value: "application/json")
        http.headers.add(name: "anthropic-version", value: Self.apiVersion)
        if let variable = deployment.credentialVariable, let key = environment[variable] {
            http.headers.add(name: "x-api-key", value: key)
        }
        http.body = .bytes(ByteBuffer(data: body))
        let response = try await HTTPProviderCall.execute(http, client: client, timeout: readTimeout, deployment: deployment)
        if stream {
            try await relayEvents(response.body, continuation)
        } else {
            let answer: AnthropicResponse
            do {
                answer = try JSONCoding.decode(AnthropicResponse.self, from: Data(buffer: try await HTTPProviderCall.collect(response.body)))
            } catch let error as ProviderError {
                throw error
            } catch {
                throw ProviderError(kind: .invalidResponse, message: "\(deployment.name) answered an unreadable message: \(error)")
            }
            let text = answer.content.compactMap(\.text).joined()
            if !text.isEmpty { continuation.yield(.content(text)) }
            continuation.yield(.finished(
                reason: Self.finishReason(answer.stopReason),
                usage: TokenUsage(promptTokens: answer.usage.inputTokens, completionTokens: answer.usage.outputTokens ?? 0)))
        }
    }

    private func url(_ deployment: Deployment, path: String) -> String {
        let base = deployment.baseURL ?? "https://api.anthropic.com/v1"
        return base.hasSuffix("/") ? base + path : base + "/" + path
    }

    /// `message_start` carries the input tokens, `content_block_delta` the text,
    /// `message_delta` the stop reason and output tokens, `message_stop` the end.
    private func relayEvents(_ body: HTTPClientResponse.Body, _ continuation: AsyncThrowingStream<ProviderEvent, any Error>.Continuation) async throws {
        var lines = ServerSentEventLines()
        var inputTokens = 0
        var outputTokens: Int?
        var stopReason: String?
        let bodyEnded = try await HTTPProviderCall.forEachBuffer(of: body) { buffer in
            for data in lines.append(buffer) {
                guard let event = try? JSONCoding.decode(AnthropicStreamEvent.self, from: Data(data.utf8)) else {
                    throw ProviderError(kind: .invalidResponse, message: "an unreadable event: \(data.prefix(200))")
                }
                switch event.type {
                case "message_start":
                    inputTokens = event.message?.usage.inputTokens ?? inputTokens
                    outputTokens = event.message?.usage.outputTokens ?? outputTokens
                case "content_block_delta":
                    if let text = event.delta?.text, !text.isEmpty { continuation.yield(.content(text)) }
                case "message_delta":
                    stopReason = event.delta?.stopReason ?? stopReason
                    outputTokens = event.usage?.outputTokens ?? outputTokens
                case "message_stop":
                    continuation.yield(.finished(
                        reason: Self.finishReason(stopReason),
                        usage: outputTokens.map { TokenUsage(promptTokens: inputTokens, completionTokens: $0) }))
                    return false
                case "error":
                    throw ProviderError(kind: .status(529), message: "the stream reported an error: \(data.prefix(300))")
                default:
                    break  // ping, content_block_start, content_block_stop
                }
            }
            return true
        }
        if bodyEnded { throw ProviderError(kind: .connection, message: "the stream ended before message_stop") }
    }

    /// Anthropic's stop reasons in OpenAI's words.
    static func finishReason(_ stopReason: String?) -> String? {
        switch stopReason {
        case "end_turn", "stop_sequence": "stop"
        case "max_tokens": "length"
        case "tool_use": "tool_calls"
        case nil: nil
        case let other?: other
        }
    }
}

/// The Messages API request.
struct AnthropicRequest: Encodable {
    struct Message: Encodable {
        var role: String
        var content: String
    }

    var model: String
    var system: String?
    var messages: [Message]
    var maxTokens: Int
    var temperature: Double?
    var topP: Double?
    var stopSequences: [String]?
    var stream: Bool

    /// System and developer messages become `system`; tool messages are sent as user text.
    init(_ request: ChatCompletionRequest, model: String, stream: Bool) {
        self.model = model
        let system = request.messages.filter { $0.role == "system" || $0.role == "developer" }.compactMap { $0.content?.text }
        self.system = system.isEmpty ? nil : system.joined(separator: "\n\n")
        messages = request.messages.filter { $0.role != "system" && $0.role != "developer" }.map {
            Message(role: $0.role == "assistant" ? "assistant" : "user", content: $0.content?.text ?? "")
        }
        maxTokens = request.completionTokenLimit ?? AnthropicProvider.defaultMaxTokens
        temperature = request.temperature
        topP = request.topP
        stopSequences = request.stop?.values
        self.stream = stream
    }

    enum CodingKeys: String, CodingKey {
        case model, system, messages
        case maxTokens = "max_tokens"
        case temperature
        case topP = "top_p"
        case stopSequences = "stop_sequences"
        case stream
    }
}

struct AnthropicUsage: Decodable {
    var inputTokens: Int
    var outputTokens: Int?

    enum CodingKeys: String, CodingKey {
        case inputTokens = "input_tokens"
        case outputTokens = "output_tokens"
    }
}

struct AnthropicResponse: Decodable {
    struct Block: Decodable {
        var type: String
        var text: String?
    }

    var content: [Block]
    var stopReason: String?
    var usage: AnthropicUsage

    enum CodingKeys: String, CodingKey {
        case content
        case stopReason = "stop_reason"
        case usage
    }
}

struct AnthropicStreamEvent: Decodable {
    struct Message: Decodable {
        var usage: AnthropicUsage
    }

    struct Delta: Decodable {
        var text: String?
        var stopReason: String?

        enum CodingKeys: String, CodingKey {
            case text
            case stopReason = "stop_reason"
        }
    }

    struct DeltaUsage: Decodable {
        var outputTokens: Int?

        enum CodingKeys: String, CodingKey { case outputTokens = "output_tokens" }
    }

    var type: String
    var message: Message?
    var delta: Delta?
    var usage: DeltaUsage?
}
