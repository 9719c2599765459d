import Foundation

// The OpenAI chat completions shapes, as the gateway receives them and the router answers.
// Fields Switchyard does not act on are carried so providers see what the caller sent.

public struct ChatMessage: Codable, Sendable, Equatable {
    /// `system`, `developer`, `user`, `assistant` or `tool`.
    public var role: String
    public var content: MessageContent?
    public var name: String?
    public var toolCalls: [JSONValue]?
    public var toolCallID: String?

    public init(role: String, content: MessageContent?, name: String? = nil, toolCalls: [JSONValue]? = nil, toolCallID: String? = nil) {
        self.role = role
        self.content = content
        self.name = name
        self.toolCalls = toolCalls
        self.toolCallID = toolCallID
    }

    public static func user(_ text: String) -> ChatMessage { ChatMessage(role: "user", content: .text(text)) }
    public static func system(_ text: String) -> ChatMessage { ChatMessage(role: "system", content: .text(text)) }
    public static func assistant(_ text: String) -> ChatMessage { ChatMessage(role: "assistant", content: .text(text)) }

    enum CodingKeys: String, CodingKey {
        case role, content, name
        case toolCalls = "tool_calls"
        case toolCallID = "tool_call_id"
    }
}

/// A message's content: a string, or parts (`{"type": "text", "text": …}` and others).
public enum MessageContent: Codable, Sendable, Equatable {
    case text(String)
    case parts([JSONValue])

    /// The text of the content; the text parts joined when it has parts.
    public var text: String {
        switch self {
        case .text(let text):
            return text
        case .parts(let parts):
            return parts.compactMap { part -> String? in
                guard case .object(let fields) = part, fields["type"] == .string("text"),
                      case .string(let text) = fields["text"] else { return nil }
                return text
            }.joined(separator: "\n")
        }
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if let text = try? container.decode(String.self) {
            self = .text(text)
        } else {
            self = .parts(try container.decode([JSONValue].self))
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        switch self {
        case .text(let text): try container.encode(text)
        case .parts(let parts): try container.encode(parts)
        }
    }
}

/// A field OpenAI accepts as one value or a list of them (`stop`, embeddings' `input`).
public enum OneOrMany<Element: Codable & Sendable & Equatable>: Codable, Sendable, Equatable {
    case one(Element)
    case many([Element])

    public var values: [Element] {
        switch self {
        case .one(let value): [value]
        case .many(let values): values
        }
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if let one = try? container.decode(Element.self) { self = .one(one) } else { self = .many(try container.decode([Element].self)) }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        switch self {
        case .one(let value): try container.encode(value)
        case .many(let values): try container.encode(values)
        }
    }
}

/// `stop`: one string or a list of them.
public typealias StopSequences = OneOrMany<String>

public struct StreamOptions: Codable, Sendable, Equatable {
    /// When true, a last chunk with empty choices carries the usage of the whole stream.
    public var includeUsage: Bool?

    public init(includeUsage: Bool?) { self.includeUsage = includeUsage }

    enum CodingKeys: String, CodingKey { case includeUsage = "include_usage" }
}

public struct ChatCompletionRequest: Codable, Sendable, Equatable {
    public var model: String
    public var messages: [ChatMessage]
    public var maxTokens: Int?
    public var maxCompletionTokens: Int?
    public var temperature: Double?
    public var topP: Double?
    public var n: Int?
    public var stream: Bool?
    public var streamOptions: StreamOptions?
    public var stop: StopSequences?
    public var presencePenalty: Double?
    public var frequencyPenalty: Double?
    public var seed: Int64?
    public var user: String?
    public var tools: [JSONValue]?
    public var toolChoice: JSONValue?
    public var responseFormat: JSONValue?
    /// The members this type does not name (`parallel_tool_calls`, `reasoning_effort`,
    /// `logit_bias`, `metadata`, …), as they came: an OpenAI-compatible deployment receives
    /// them with the rest of the request, so a parameter OpenAI adds works without a release.
    public var otherParameters: [String: JSONValue] = [:]

    public init(model: String, messages: [ChatMessage], maxTokens: Int? = nil, stream: Bool? = nil) {
        self.model = model
        self.messages = messages
        self.maxTokens = maxTokens
        self.stream = stream
    }

    /// The completion budget the caller set: `max_completion_tokens`, else `max_tokens`.
    public var completionTokenLimit: Int? { maxCompletionTokens ?? maxTokens }

    enum CodingKeys: String, CodingKey {
        case model, messages
        case maxTokens = "max_tokens"
        case maxCompletionTokens = "max_completion_tokens"
        case temperature
        case topP = "top_p"
        case n, stream
        case streamOptions = "stream_options"
        case stop
        case presencePenalty = "presence_penalty"
        case frequencyPenalty = "frequency_penalty"
        case seed, user, tools
        case toolChoice = "tool_choice"
        case responseFormat = "response_format"
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        model = try container.decode(String.self, forKey: .model)
        messages = try container.decode([ChatMessage].self, forKey: .messages)
        maxTokens = try container.decodeIfPresent(Int.self, forKey: .maxTokens)
        maxCompletionTokens = try container.decodeIfPresent(Int.self, forKey: .maxCompletionTokens)
        temperature = try container.decodeIfPresent(Double.self, forKey: .temperature)
        topP = try container.decodeIfPresent(Double.self, forKey: .topP)
        n = try container.decodeIfPresent(Int.self, forKey: .n)
        stream = try container.decodeIfPresent(Bool.self, forKey: .stream)
        streamOptions = try container.decodeIfPresent(StreamOptions.self, forKey: .streamOptions)
        stop = try container.decodeIfPresent(StopSequences.self, forKey: .stop)
        presencePenalty = try container.decodeIfPresent(Double.self, forKey: .presencePenalty)
        frequencyPenalty = try container.decodeIfPresent(Double.self, forKey: .frequencyPenalty)
        seed = try container.decodeIfPresent(Int64.self, forKey: .seed)
        user = try container.decodeIfPresent(String.self, forKey: .user)
        tools = try container.decodeIfPresent([JSONValue].self, forKey: .tools)
        toolChoice = try container.decodeIfPresent(JSONValue.self, forKey: .toolChoice)
        responseFormat = try container.decodeIfPresent(JSONValue.self, forKey: .responseFormat)
        let names = try (decoder as? TapeDecoder)?.memberNames() ?? decoder.container(keyedBy: AnyKey.self).allKeys.map(\.stringValue)
        guard names.contains(where: { CodingKeys(rawValue: $0) == nil }) else { return }
        let members = try decoder.container(keyedBy: AnyKey.self)
        for name in names where CodingKeys(rawValue: name) == nil {
            otherParameters[name] = try members.decode(JSONValue.self, forKey: AnyKey(name))
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(model, forKey: .model)
        try container.encode(messages, forKey: .messages)
        try container.encodeIfPresent(maxTokens, forKey: .maxTokens)
        try container.encodeIfPresent(maxCompletionTokens, forKey: .maxCompletionTokens)
        try container.encodeIfPresent(temperature, forKey: .temperature)
        try container.encodeIfPresent(topP, forKey: .topP)
        try container.encodeIfPresent(n, forKey: .n)
        try container.encodeIfPresent(stream, forKey: .stream)
        try container.encodeIfPresent(streamOptions, forKey: .streamOptions)
        try container.encodeIfPresent(stop, forKey: .stop)
        try container.encodeIfPresent(presencePenalty, forKey: .presencePenalty)
        try container.encodeIfPresent(frequencyPenalty, forKey: .frequencyPenalty)
        try container.encodeIfPresent(seed, forKey: .seed)
        try container.encodeIfPresent(user, forKey: .user)
        try container.encodeIfPresent(tools, forKey: .tools)
        try container.encodeIfPresent(toolChoice, forKey: .toolChoice)
        try container.encodeIfPresent(responseFormat, forKey: .responseFormat)
        guard !otherParameters.isEmpty else { return }
        var members = encoder.container(keyedBy: AnyKey.self)
        for (name, value) in otherParameters.sorted(by: { $0.key < $1.key }) {
            try members.encode(value, forKey: AnyKey(name))
        }
    }
}

public struct TokenUsage: Codable, Sendable, Equatable {
    public var promptTokens: Int
    public var completionTokens: Int
    public var totalTokens: Int

    public init(promptTokens: Int, completionTokens: Int) {
        self.promptTokens = promptTokens
        self.completionTokens = completionTokens
        self.totalTokens = promptTokens + completionTokens
    }

    enum CodingKeys: String, CodingKey {
        case promptTokens = "prompt_tokens"
        case completionTokens = "completion_tokens"
        case totalTokens = "total_tokens"
    }
}

public struct ChatCompletion: Codable, Sendable, Equatable {
    public struct Choice: Codable, Sendable, Equatable {
        public var index: Int
        public var message: ChatMessage
        /// `stop`, `length`, `tool_calls` or `content_filter`.
        public var finishReason: String?

        public init(index: Int, message: ChatMessage, finishReason: String?) {
            self.index = index
            self.message = message
            self.finishReason = finishReason
        }

        enum CodingKeys: String, CodingKey {
            case index, message
            case finishReason = "finish_reason"
        }
    }

    public var id: String
    public var object = "chat.completion"
    /// Unix seconds.
    public var created: Int64
    public var model: String
    public var choices: [Choice]
    public var usage: TokenUsage?

    public init(id: String, created: Int64, model: String, choices: [Choice], usage: TokenUsage?) {
        self.id = id
        self.created = created
        self.model = model
        self.choices = choices
        self.usage = usage
    }
}

public struct ChatCompletionChunk: Codable, Sendable, Equatable {
    public struct Delta: Codable, Sendable, Equatable {
        public var role: String?
        public var content: String?
        public var toolCalls: [JSONValue]?

        public init(role: String? = nil, content: String? = nil, toolCalls: [JSONValue]? = nil) {
            self.role = role
            self.content = content
            self.toolCalls = toolCalls
        }

        enum CodingKeys: String, CodingKey {
            case role, content
            case toolCalls = "tool_calls"
        }
    }

    public struct Choice: Codable, Sendable, Equatable {
        public var index: Int
        public var delta: Delta
        public var finishReason: String?

        public init(index: Int, delta: Delta, finishReason: String? = nil) {
            self.index = index
            self.delta = delta
            self.finishReason = finishReason
        }

        public func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode(index, forKey: .index)
            try container.encode(delta, forKey: .delta)
            try container.encode(finishReason, forKey: .finishReason)  // null until the end, as OpenAI sends it
        }

        enum CodingKeys: String, CodingKey {
            case index, delta
            case finishReason = "finish_reason"
        }
    }

    public var id: String
    public var object = "chat.completion.chunk"
    public var created: Int64
    public var model: String
    public var choices: [Choice]
    /// Only on the last chunk, and only when the caller asked with `stream_options.include_usage`.
    public var usage: TokenUsage?

    public init(id: String, created: Int64, model: String, choices: [Choice], usage: TokenUsage? = nil) {
        self.id = id
        self.created = created
        self.model = model
        self.choices = choices
        self.usage = usage
    }
}

public struct EmbeddingsRequest: Codable, Sendable, Equatable {
    public var model: String
    public var input: EmbeddingInput
    /// `float` (the default) or `base64`.
    public var encodingFormat: String?
    public var dimensions: Int?
    public var user: String?

    public init(model: String, input: EmbeddingInput) {
        self.model = model
        self.input = input
    }

    enum CodingKeys: String, CodingKey {
        case model, input
        case encodingFormat = "encoding_format"
        case dimensions, user
    }
}

/// Embeddings' `input`: one string or a list of strings.
public typealias EmbeddingInput = OneOrMany<String>

public struct EmbeddingsResponse: Codable, Sendable, Equatable {
    public struct Embedding: Codable, Sendable, Equatable {
        public var object = "embedding"
        public var index: Int
        public var embedding: EmbeddingVector

        public init(index: Int, embedding: EmbeddingVector) {
            self.index = index
            self.embedding = embedding
        }
    }

    public struct Usage: Codable, Sendable, Equatable {
        public var promptTokens: Int
        public var totalTokens: Int

        public init(promptTokens: Int) {
            self.promptTokens = promptTokens
            self.totalTokens = promptTokens
        }

        enum CodingKeys: String, CodingKey {
            case promptTokens = "prompt_tokens"
            case totalTokens = "total_tokens"
        }
    }

    public var object = "list"
    public var data: [Embedding]
    public var model: String
    public var usage: Usage

    public init(data: [Embedding], model: String, usage: Usage) {
        self.data = data
        self.model = model
        self.usage = usage
    }
}

/// An embedding as the caller asked for it: a list of numbers (`encoding_format: "float"`, the
/// default) or their float32 bytes, little-endian, in base64 (`"base64"`, which OpenAI's Python
/// SDK asks for unless told otherwise).
public enum EmbeddingVector: Codable, Sendable, Equatable {
    case floats([Float])
    case base64(String)

    public enum Format: String, Sendable, CaseIterable {
        case float, base64
    }

    public init(_ values: [Float], format: Format) {
        switch format {
        case .float:
            self = .floats(values)
        case .base64:
            var bytes = Data(capacity: values.count * 4)
            for value in values {
                withUnsafeBytes(of: value.bitPattern.littleEndian) { bytes.append(contentsOf: $0) }
            }
            self = .base64(bytes.base64EncodedString())
        }
    }

    /// The numbers, from either form; nil for base64 that is not a whole number of float32s.
    public var values: [Float]? {
        switch self {
        case .floats(let values):
            return values
        case .base64(let text):
            guard let bytes = Data(base64Encoded: text), bytes.count % 4 == 0 else { return nil }
            return stride(from: 0, to: bytes.count, by: 4).map { offset in
                let pattern = bytes[bytes.startIndex + offset..<bytes.startIndex + offset + 4]
                    .enumerated().reduce(UInt32(0)) { $0 | UInt32($1.element) << (8 * UInt32($1.offset)) }
                return Float(bitPattern: pattern)
            }
        }
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if let text = try? container.decode(String.self) {
            self = .base64(text)
        } else {
            self = .floats(try container.decode([Float].self))
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        switch self {
        case .floats(let values): try container.encode(values)
        case .base64(let text): try container.encode(text)
        }
    }
}
