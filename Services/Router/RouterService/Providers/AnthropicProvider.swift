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
    static let apiVersion = "2023-06-01"

    func complete(_ request: ChatCompletionRequest, on deployment: Deployment) async throws -> [ProviderEvent] {
        let response = try await send(request, on: deployment, stream: false)
        let answer = try await HTTPProviderCall.decode(AnthropicResponse.self, from: response, deployment: deployment, what: "an unreadable message")
        var events: [ProviderEvent] = []
        let text = answer.content.compactMap(\.text).joined()
        if !text.isEmpty { events.append(.content(text)) }
        let calls = answer.content.filter { $0.type == "tool_use" }.map { ToolCalls.whole($0) }
        if !calls.isEmpty { events.append(.toolCalls(calls)) }
        events.append(.finished(
            reason: Self.finishReason(answer.stopReason),
            usage: TokenUsage(promptTokens: answer.usage.inputTokens, completionTokens: answer.usage.outputTokens ?? 0)))
        return events
    }

    func stream(_ request: ChatCompletionRequest, on deployment: Deployment) -> AsyncThrowingStream<ProviderEvent, any Error> {
        providerEvents { continuation in
            try await self.relayEvents(try await self.send(request, on: deployment, stream: true).body, continuation)
        }
    }

    private func send(_ request: ChatCompletionRequest, on deployment: Deployment, stream: Bool) async throws -> HTTPClientResponse {
        let body = try JSONCoding.encode(AnthropicRequest(request, on: deployment, stream: stream))
        var http = HTTPClientRequest(url: url(deployment, path: "messages"))
        http.method = .POST
        http.headers.add(name: "Content-Type", value: "application/json")
        http.headers.add(name: "anthropic-version", value: Self.apiVersion)
        if let variable = deployment.credentialVariable, let key = environment[variable] {
            http.headers.add(name: "x-api-key", value: key)
        }
        http.body = .bytes(ByteBuffer(data: body))
        return try await HTTPProviderCall.execute(http, client: client, timeout: readTimeout, deployment: deployment)
    }

    private func url(_ deployment: Deployment, path: String) -> String {
        let base = deployment.baseURL ?? "https://api.anthropic.com/v1"
        return base.hasSuffix("/") ? base + path : base + "/" + path
    }

    /// `message_start` carries the input tokens, `content_block_start` a tool call's id and
    /// name, `content_block_delta` the text and a tool call's arguments in fragments,
    /// `message_delta` the stop reason and output tokens, `message_stop` the end.
    private func relayEvents(_ body: HTTPClientResponse.Body, _ continuation: AsyncThrowingStream<ProviderEvent, any Error>.Continuation) async throws {
        var lines = ServerSentEventLines()
        var inputTokens = 0
        var outputTokens: Int?
        var stopReason: String?
        // Anthropic numbers content blocks; OpenAI numbers tool calls.
        var toolCallOfBlock: [Int: Int] = [:]
        let bodyEnded = try await HTTPProviderCall.forEachBuffer(of: body) { buffer in
            for data in try lines.append(buffer) {
                guard let event = try? JSONCoding.decode(AnthropicStreamEvent.self, from: data) else {
                    throw ProviderError(kind: .invalidResponse, message: "an unreadable event: \(data.excerpt)")
                }
                switch event.type {
                case "message_start":
                    inputTokens = event.message?.usage.inputTokens ?? inputTokens
                    outputTokens = event.message?.usage.outputTokens ?? outputTokens
                case "content_block_start":
                    if let block = event.contentBlock, block.type == "tool_use", let index = event.index {
                        let ordinal = toolCallOfBlock.count
                        toolCallOfBlock[index] = ordinal
                        continuation.yield(.toolCalls([ToolCalls.start(block, ordinal: ordinal)]))
                    }
                case "content_block_delta":
                    if let text = event.delta?.text, !text.isEmpty { continuation.yield(.content(text)) }
                    if let json = event.delta?.partialJSON, !json.isEmpty, let ordinal = event.index.flatMap({ toolCallOfBlock[$0] }) {
                        continuation.yield(.toolCalls([ToolCalls.arguments(json, ordinal: ordinal)]))
                    }
                case "message_delta":
                    stopReason = event.delta?.stopReason ?? stopReason
                    outputTokens = event.usage?.outputTokens ?? outputTokens
                case "message_stop":
                    continuation.yield(.finished(
                        reason: Self.finishReason(stopReason),
                        usage: outputTokens.map { TokenUsage(promptTokens: inputTokens, completionTokens: $0) }))
                    return false
                case "error":
                    throw ProviderError(kind: .status(529), message: "the stream reported an error: \(data.excerpt)")
                default:
                    break  // ping, content_block_stop
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
        /// Text, or content blocks (`text`, `tool_use`, `tool_result`).
        var content: JSONValue
    }

    var model: String
    var system: String?
    var messages: [Message]
    var maxTokens: Int
    var temperature: Double?
    var topP: Double?
    var stopSequences: [String]?
    var tools: [JSONValue]?
    var toolChoice: JSONValue?
    var stream: Bool

    /// System and developer messages become `system`; an assistant's tool calls become
    /// `tool_use` blocks and tool messages `tool_result` blocks of a user turn.
    init(_ request: ChatCompletionRequest, on deployment: Deployment, stream: Bool) {
        model = deployment.upstreamModel
        let system = request.messages.filter { $0.role == "system" || $0.role == "developer" }.compactMap { $0.content?.text }
        self.system = system.isEmpty ? nil : system.joined(separator: "\n\n")
        var messages: [Message] = []
        for message in request.messages where message.role != "system" && message.role != "developer" {
            let text = message.content?.text ?? ""
            switch message.role {
            case "assistant" where message.toolCalls?.isEmpty == false:
                let blocks = (text.isEmpty ? [] : [JSONValue.object(["type": .string("text"), "text": .string(text)])])
                    + (message.toolCalls ?? []).map(ToolCalls.toolUse)
                messages.append(Message(role: "assistant", content: .array(blocks)))
            case "tool":
                let result = JSONValue.object([
                    "type": .string("tool_result"), "tool_use_id": .string(message.toolCallID ?? ""), "content": .string(text),
                ])
                // The results of one turn's calls go back together, in one user turn.
                if let last = messages.last, last.role == "user", case .array(let blocks) = last.content,
                   blocks.allSatisfy({ ToolCalls.string($0, "type") == "tool_result" }) {
                    messages[messages.count - 1].content = .array(blocks + [result])
                } else {
                    messages.append(Message(role: "user", content: .array([result])))
                }
            default:
                messages.append(Message(role: message.role == "assistant" ? "assistant" : "user", content: .string(text)))
            }
        }
        self.messages = messages
        maxTokens = request.completionTokenLimit ?? deployment.completionTokensAtMost
        temperature = request.temperature
        topP = request.topP
        stopSequences = request.stop?.values
        tools = request.tools.map { $0.compactMap(ToolCalls.anthropicTool) }
        toolChoice = request.toolChoice.flatMap(ToolCalls.anthropicChoice)
        self.stream = stream
    }

    enum CodingKeys: String, CodingKey {
        case model, system, messages
        case maxTokens = "max_tokens"
        case temperature
        case topP = "top_p"
        case stopSequences = "stop_sequences"
        case tools
        case toolChoice = "tool_choice"
        case stream
    }
}

/// Tool definitions, choices and calls between OpenAI's shapes and Anthropic's.
enum ToolCalls {
    /// `{"type":"function","function":{"name","description","parameters"}}` →
    /// `{"name","description","input_schema"}`.
    static func anthropicTool(_ tool: JSONValue) -> JSONValue? {
        guard case .object(let function)? = field(tool, "function"), case .string(let name)? = function["name"] else { return nil }
        var converted: [String: JSONValue] = ["name": .string(name), "input_schema": function["parameters"] ?? .object(["type": .string("object")])]
        if let description = function["description"] { converted["description"] = description }
        return .object(converted)
    }

    /// `auto`, `required`, `none` or one named function, in Anthropic's words.
    static func anthropicChoice(_ choice: JSONValue) -> JSONValue? {
        switch choice {
        case .string("auto"): .object(["type": .string("auto")])
        case .string("required"): .object(["type": .string("any")])
        case .string("none"): .object(["type": .string("none")])
        default: string(field(choice, "function") ?? .null, "name").map { .object(["type": .string("tool"), "name": .string($0)]) }
        }
    }

    /// An assistant's OpenAI tool call as a `tool_use` block; its arguments are JSON text.
    static func toolUse(_ call: JSONValue) -> JSONValue {
        let function = field(call, "function") ?? .null
        let arguments = string(function, "arguments").flatMap { try? JSONCoding.decode(JSONValue.self, from: Data($0.utf8)) }
        return .object([
            "type": .string("tool_use"), "id": .string(string(call, "id") ?? ""), "name": .string(string(function, "name") ?? ""),
            "input": arguments ?? .object([:]),
        ])
    }

    /// A whole answer's `tool_use` block as an OpenAI tool call.
    static func whole(_ block: AnthropicResponse.Block) -> JSONValue {
        let arguments = (try? JSONCoding.encode(block.input ?? .object([:]))).map { String(decoding: $0, as: UTF8.self) } ?? "{}"
        return .object([
            "id": .string(block.id ?? ""), "type": .string("function"),
            "function": .object(["name": .string(block.name ?? ""), "arguments": .string(arguments)]),
        ])
    }

    /// The first delta of a streamed tool call: its id and name.
    static func start(_ block: AnthropicResponse.Block, ordinal: Int) -> JSONValue {
        .object([
            "index": .integer(Int64(ordinal)), "id": .string(block.id ?? ""), "type": .string("function"),
            "function": .object(["name": .string(block.name ?? ""), "arguments": .string("")]),
        ])
    }

    /// A fragment of a streamed tool call's arguments.
    static func arguments(_ fragment: String, ordinal: Int) -> JSONValue {
        .object(["index": .integer(Int64(ordinal)), "function": .object(["arguments": .string(fragment)])])
    }

    static func field(_ value: JSONValue, _ key: String) -> JSONValue? {
        if case .object(let object) = value { object[key] } else { nil }
    }

    static func string(_ value: JSONValue, _ key: String) -> String? {
        if case .string(let text)? = field(value, key) { text } else { nil }
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
    /// A content block: `text`, or `tool_use` with its id, name and input.
    struct Block: Decodable {
        var type: String
        var text: String?
        var id: String?
        var name: String?
        var input: JSONValue?
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
        /// A fragment of a tool call's input (`input_json_delta`).
        var partialJSON: String?
        var stopReason: String?

        enum CodingKeys: String, CodingKey {
            case text
            case partialJSON = "partial_json"
            case stopReason = "stop_reason"
        }
    }

    struct DeltaUsage: Decodable {
        var outputTokens: Int?

        enum CodingKeys: String, CodingKey { case outputTokens = "output_tokens" }
    }

    var type: String
    var index: Int?
    var message: Message?
    var contentBlock: AnthropicResponse.Block?
    var delta: Delta?
    var usage: DeltaUsage?

    enum CodingKeys: String, CodingKey {
        case type, index, message
        case contentBlock = "content_block"
        case delta, usage
    }
}
