import Contracts
import Foundation
import Hummingbird
import Synchronization

/// An OpenAI-compatible server on loopback for router tests: a real HTTP server whose answers
/// the test sets, and which records what it was asked.
final class FakeOpenAIUpstream: Sendable {
    enum Behaviour: Sendable {
        /// JSON or SSE (as the request asks) with these tokens and this usage.
        case answer(tokens: [String], usage: TokenUsage?, pace: Duration = .zero, finishReason: String = "stop")
        /// One tool call, its arguments streamed in two fragments, `finish_reason` `tool_calls`.
        case toolCall(id: String, name: String, arguments: String)
        /// An HTTP error.
        case fail(status: Int, retryAfter: Int? = nil)
        /// An SSE stream that sends `tokens`, then drops the connection.
        case breakAfter(tokens: [String])
        /// An SSE stream that sends only keep-alive comments, for as long as the client listens.
        case hang
    }

    struct Received: Sendable {
        var body: ChatCompletionRequest?
        var authorization: String?
    }

    /// Answers in turn; the last one repeats.
    private let behaviours: Mutex<[Behaviour]>
    private let received = Mutex<[Received]>([])
    /// Streams the client left before their end.
    private let abandoned = Mutex(0)
    var abandonedCount: Int { abandoned.withLock { $0 } }

    convenience init(_ behaviour: Behaviour) {
        self.init([behaviour])
    }

    init(_ behaviours: [Behaviour]) {
        self.behaviours = Mutex(behaviours)
    }

    var requests: [Received] { received.withLock { $0 } }

    private let receivedEmbeddings = Mutex<[EmbeddingsRequest]>([])
    var embeddingRequests: [EmbeddingsRequest] { receivedEmbeddings.withLock { $0 } }

    /// A whole tool call as OpenAI writes it in a completion's message.
    static func toolCall(id: String, name: String, arguments: String) -> JSONValue {
        .object(["id": .string(id), "type": .string("function"), "function": .object(["name": .string(name), "arguments": .string(arguments)])])
    }

    /// The vector the fake answers for input `index`: nothing like the local model's.
    static func embedding(_ index: Int) -> [Float] { [Float(index) + 0.25, -1, 2] }

    /// Serves until the returned task is cancelled; returns the base URL (`http://127.0.0.1:port/v1`).
    func start() async throws -> (url: String, server: Task<Void, any Error>) {
        let router = Router()
        router.post("v1/chat/completions") { request, _ -> Response in
            let body = try? await request.body.collect(upTo: 1 << 20)
            let decoded = body.flatMap { try? JSONCoding.decode(ChatCompletionRequest.self, from: Data(buffer: $0)) }
            self.received.withLock { $0.append(Received(body: decoded, authorization: request.headers[.authorization])) }
            return self.respond(to: decoded)
        }
        router.post("v1/embeddings") { request, _ -> Response in
            let body = try? await request.body.collect(upTo: 1 << 20)
            let decoded = body.flatMap { try? JSONCoding.decode(EmbeddingsRequest.self, from: Data(buffer: $0)) }
            if let decoded { self.receivedEmbeddings.withLock { $0.append(decoded) } }
            return self.embeddings(for: decoded)
        }
        let (port, server) = try await serveOnFreePort(router)
        return ("http://127.0.0.1:\(port)/v1", server)
    }

    /// Float vectors whatever `encoding_format` says, as some servers do; usage from `.answer`.
    private func embeddings(for request: EmbeddingsRequest?) -> Response {
        let behaviour = behaviours.withLock { queue in queue.count > 1 ? queue.removeFirst() : queue[0] }
        guard case .answer(_, let usage, _, _) = behaviour else { return respond(to: nil, behaviour: behaviour) }
        let vectors = (request?.input.values ?? []).indices.map { #"{"object":"embedding","index":\#($0),"embedding":\#(Self.embedding($0))}"# }
        let usageJSON = usage.map { #","usage":{"prompt_tokens":\#($0.promptTokens),"total_tokens":\#($0.promptTokens)}"# } ?? ""
        let body = #"{"object":"list","model":"\#(request?.model ?? "")","data":[\#(vectors.joined(separator: ","))]\#(usageJSON)}"#
        return Response(status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(string: body)))
    }

    private func respond(to request: ChatCompletionRequest?) -> Response {
        respond(to: request, behaviour: behaviours.withLock { queue in queue.count > 1 ? queue.removeFirst() : queue[0] })
    }

    private func respond(to request: ChatCompletionRequest?, behaviour: Behaviour) -> Response {
        let model = request?.model ?? "unknown"
        switch behaviour {
        case .fail(let status, let retryAfter):
            var headers: HTTPFields = [.contentType: "application/json"]
            if let retryAfter { headers[.retryAfter] = String(retryAfter) }
            let body = #"{"error":{"message":"upstream says no","type":"server_error","code":null,"param":null}}"#
            return Response(status: .init(code: status), headers: headers, body: .init(byteBuffer: ByteBuffer(string: body)))
        case .answer(let tokens, let usage, let pace, let finishReason) where request?.stream == true:
            return sse(model: model, tokens: tokens, usage: usage, pace: pace, finishReason: finishReason, complete: true)
        case .answer(let tokens, let usage, _, let finishReason):
            let completion = ChatCompletion(
                id: "chatcmpl-fake", created: 1, model: model,
                choices: [.init(index: 0, message: .assistant(tokens.joined()), finishReason: finishReason)], usage: usage)
            return Response(status: .ok, headers: [.contentType: "application/json"],
                            body: .init(byteBuffer: ByteBuffer(data: try! JSONCoding.encode(completion))))
        case .toolCall(let id, let name, let arguments) where request?.stream == true:
            let half = arguments.index(arguments.startIndex, offsetBy: arguments.count / 2)
            let deltas: [JSONValue] = [
                .object(["index": .integer(0), "id": .string(id), "type": .string("function"),
                         "function": .object(["name": .string(name), "arguments": .string("")])]),
                .object(["index": .integer(0), "function": .object(["arguments": .string(String(arguments[..<half]))])]),
                .object(["index": .integer(0), "function": .object(["arguments": .string(String(arguments[half...]))])]),
            ]
            var events = deltas.map { delta in
                ChatCompletionChunk(id: "chatcmpl-fake", created: 1, model: model, choices: [.init(index: 0, delta: .init(toolCalls: [delta]), finishReason: nil)])
            }
            events.append(ChatCompletionChunk(id: "chatcmpl-fake", created: 1, model: model, choices: [.init(index: 0, delta: .init(), finishReason: "tool_calls")]))
            let body = events.map { "data: " + String(decoding: try! JSONCoding.encode($0), as: UTF8.self) + "\n\n" }.joined() + "data: [DONE]\n\n"
            return Response(status: .ok, headers: [.contentType: "text/event-stream"], body: .init(byteBuffer: ByteBuffer(string: body)))
        case .toolCall(let id, let name, let arguments):
            let call = FakeOpenAIUpstream.toolCall(id: id, name: name, arguments: arguments)
            let completion = ChatCompletion(
                id: "chatcmpl-fake", created: 1, model: model,
                choices: [.init(index: 0, message: ChatMessage(role: "assistant", content: nil, toolCalls: [call]), finishReason: "tool_calls")],
                usage: TokenUsage(promptTokens: 30, completionTokens: 12))
            return Response(status: .ok, headers: [.contentType: "application/json"],
                            body: .init(byteBuffer: ByteBuffer(data: try! JSONCoding.encode(completion))))
        case .breakAfter(let tokens):
            return sse(model: model, tokens: tokens, usage: nil, pace: .zero, finishReason: "stop", complete: false)
        case .hang:
            return Response(status: .ok, headers: [.contentType: "text/event-stream"], body: .init { writer in
                do {
                    for _ in 0..<600 {
                        try await writer.write(ByteBuffer(string: ": keep-alive\n\n"))
                        try await Task.sleep(for: .milliseconds(50))
                    }
                    try await writer.finish(nil)
                } catch {
                    self.abandoned.withLock { $0 += 1 }
                    throw error
                }
            })
        }
    }

    private func sse(model: String, tokens: [String], usage: TokenUsage?, pace: Duration, finishReason: String, complete: Bool) -> Response {
        return Response(status: .ok, headers: [.contentType: "text/event-stream"], body: .init { writer in
            func event(_ chunk: ChatCompletionChunk) -> ByteBuffer {
                ByteBuffer(string: "data: " + String(decoding: try! JSONCoding.encode(chunk), as: UTF8.self) + "\n\n")
            }
            do {
                try await writer.write(event(ChatCompletionChunk(id: "c", created: 1, model: model, choices: [.init(index: 0, delta: .init(role: "assistant", content: ""))])))
                for token in tokens {
                    if pace > .zero { try await Task.sleep(for: pace) }
                    try await writer.write(event(ChatCompletionChunk(id: "c", created: 1, model: model, choices: [.init(index: 0, delta: .init(content: token))])))
                }
                guard complete else {
                    // Let the tokens reach the client, then drop the connection mid-stream.
                    try await Task.sleep(for: .milliseconds(200))
                    throw CancellationError()
                }
                try await writer.write(event(ChatCompletionChunk(id: "c", created: 1, model: model, choices: [.init(index: 0, delta: .init(), finishReason: finishReason)])))
                if let usage { try await writer.write(event(ChatCompletionChunk(id: "c", created: 1, model: model, choices: [], usage: usage))) }
                try await writer.write(ByteBuffer(string: "data: [DONE]\n\n"))
                try await writer.finish(nil)
            } catch {
                if complete { self.abandoned.withLock { $0 += 1 } }
                throw error
            }
        })
    }
}
