import Contracts
import Foundation
import Hummingbird
import Synchronization

/// An Anthropic Messages API server on loopback: JSON or its event stream, as the request asks.
final class FakeAnthropicUpstream: Sendable {
    struct Answer: Sendable {
        var tokens: [String]
        var inputTokens: Int
        var outputTokens: Int
        /// `end_turn`, `max_tokens`, `stop_sequence`, `tool_use`
        var stopReason: String
        /// A `tool_use` block after the text: its id, name and input as JSON text.
        var toolUse: ToolUse? = nil
        /// A stream's `error` event of this type right after the text, instead of its end.
        var errorAfterText: String? = nil
    }

    struct ToolUse: Sendable {
        var id: String
        var name: String
        var input: String
    }

    struct Received: Sendable {
        var body: [String: JSONValue]
        var apiKey: String?
        var version: String?
    }

    private let answer: Answer
    private let received = Mutex<[Received]>([])

    init(_ answer: Answer) {
        self.answer = answer
    }

    var requests: [Received] { received.withLock { $0 } }

    func start() async throws -> (url: String, server: Task<Void, any Error>) {
        let router = Router()
        router.post("v1/messages") { request, _ -> Response in
            let data = try await request.body.collect(upTo: 1 << 20)
            let body = (try? JSONCoding.decode([String: JSONValue].self, from: Data(buffer: data))) ?? [:]
            self.received.withLock {
                $0.append(Received(body: body, apiKey: request.headers[.init("x-api-key")!], version: request.headers[.init("anthropic-version")!]))
            }
            return body["stream"] == .bool(true) ? self.events() : self.message()
        }
        let (port, server) = try await serveOnFreePort(router)
        return ("http://127.0.0.1:\(port)/v1", server)
    }

    private func message() -> Response {
        let text = answer.tokens.joined().replacingOccurrences(of: "\"", with: "\\\"")
        let toolBlock = answer.toolUse.map { #",{"type":"tool_use","id":"\#($0.id)","name":"\#($0.name)","input":\#($0.input)}"# } ?? ""
        let body = """
            {"id":"msg_1","type":"message","role":"assistant","model":"claude-test",
             "content":[{"type":"text","text":"\(text)"}\(toolBlock)],"stop_reason":"\(answer.stopReason)","stop_sequence":null,
             "usage":{"input_tokens":\(answer.inputTokens),"output_tokens":\(answer.outputTokens)}}
            """
        return Response(status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(string: body)))
    }

    private func events() -> Response {
        var events = [
            ("message_start", #"{"type":"message_start","message":{"id":"msg_1","type":"message","role":"assistant","content":[],"model":"claude-test","stop_reason":null,"usage":{"input_tokens":\#(answer.inputTokens),"output_tokens":1}}}"#),
            ("content_block_start", #"{"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}"#),
            ("ping", #"{"type":"ping"}"#),
        ]
        for token in answer.tokens {
            events.append(("content_block_delta", #"{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"\#(token)"}}"#))
        }
        if let error = answer.errorAfterText {
            events.append(("error", #"{"type":"error","error":{"type":"\#(error)","message":"Overloaded"}}"#))
            return Response(status: .ok, headers: [.contentType: "text/event-stream"], body: .init(byteBuffer: ByteBuffer(string: Self.text(of: events))))
        }
        events.append(("content_block_stop", #"{"type":"content_block_stop","index":0}"#))
        if let tool = answer.toolUse {
            let half = tool.input.index(tool.input.startIndex, offsetBy: tool.input.count / 2)
            let fragments = [String(tool.input[..<half]), String(tool.input[half...])].map {
                $0.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"")
            }
            events.append(("content_block_start", #"{"type":"content_block_start","index":1,"content_block":{"type":"tool_use","id":"\#(tool.id)","name":"\#(tool.name)","input":{}}}"#))
            for fragment in fragments {
                events.append(("content_block_delta", #"{"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":"\#(fragment)"}}"#))
            }
            events.append(("content_block_stop", #"{"type":"content_block_stop","index":1}"#))
        }
        events += [
            ("message_delta", #"{"type":"message_delta","delta":{"stop_reason":"\#(answer.stopReason)","stop_sequence":null},"usage":{"output_tokens":\#(answer.outputTokens)}}"#),
            ("message_stop", #"{"type":"message_stop"}"#),
        ]
        return Response(status: .ok, headers: [.contentType: "text/event-stream"], body: .init(byteBuffer: ByteBuffer(string: Self.text(of: events))))
    }

    private static func text(of events: [(String, String)]) -> String {
        events.map { "event: \($0.0)\ndata: \($0.1)\n\n" }.joined()
    }
}
