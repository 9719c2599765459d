import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix

// The benchmark's fake OpenAI-compatible upstream: `POST /v1/chat/completions` answers a fixed
// completion, or with `"stream":true` a fixed stream of server-sent events. It does as little as
// a server can, so that it is never what a benchmark measures.
//
//   bench-upstream PORT
//   BENCH_UPSTREAM_CHUNKS             content chunks per stream (16)
//   BENCH_UPSTREAM_INTERVAL_MS        pause between chunks (0)
//   BENCH_UPSTREAM_SOAK_INTERVAL_MS   pause between chunks for the model `bench-soak` (500), so
//                                     its streams stay open long enough to pile up

let environment = ProcessInfo.processInfo.environment
let port = CommandLine.arguments.dropFirst().first.flatMap(Int.init) ?? 9090
let chunkCount = environment["BENCH_UPSTREAM_CHUNKS"].flatMap(Int.init) ?? 16
let interval = TimeAmount.milliseconds(Int64(environment["BENCH_UPSTREAM_INTERVAL_MS"].flatMap(Int.init) ?? 0))
let soakInterval = TimeAmount.milliseconds(Int64(environment["BENCH_UPSTREAM_SOAK_INTERVAL_MS"].flatMap(Int.init) ?? 500))

enum Canned {
    static let completion = ByteBuffer(string: """
        {"id":"chatcmpl-bench","object":"chat.completion","created":1700000000,"model":"bench-chat",\
        "choices":[{"index":0,"message":{"role":"assistant","content":"The quick brown fox jumps over the lazy dog."},\
        "finish_reason":"stop"}],"usage":{"prompt_tokens":24,"completion_tokens":11,"total_tokens":35}}
        """)
    static let first = event(#"{"id":"chatcmpl-bench","object":"chat.completion.chunk","created":1700000000,"model":"bench-chat","choices":[{"index":0,"delta":{"role":"assistant","content":""},"finish_reason":null}]}"#)
    static let chunk = event(#"{"id":"chatcmpl-bench","object":"chat.completion.chunk","created":1700000000,"model":"bench-chat","choices":[{"index":0,"delta":{"content":" word"},"finish_reason":null}]}"#)
    static let last = event(#"{"id":"chatcmpl-bench","object":"chat.completion.chunk","created":1700000000,"model":"bench-chat","choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}"#)
    static func usage(_ completionTokens: Int) -> ByteBuffer {
        event(#"{"id":"chatcmpl-bench","object":"chat.completion.chunk","created":1700000000,"model":"bench-chat","choices":[],"usage":{"prompt_tokens":24,"completion_tokens":\#(completionTokens),"total_tokens":\#(24 + completionTokens)}}"#)
    }
    static let done = ByteBuffer(string: "data: [DONE]\n\n")
    static let notFound = ByteBuffer(string: #"{"error":{"message":"not found","type":"invalid_request_error"}}"#)

    static func event(_ json: String) -> ByteBuffer { ByteBuffer(string: "data: \(json)\n\n") }
}

final class UpstreamHandler: ChannelInboundHandler, @unchecked Sendable {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    private var head: HTTPRequestHead?
    private var body = ByteBuffer()

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head):
            self.head = head
            body.clear()
        case .body(var part):
            body.writeBuffer(&part)
        case .end:
            guard let head else { return }
            respond(to: head, context: context)
        }
    }

    private func respond(to head: HTTPRequestHead, context: ChannelHandlerContext) {
        guard head.method == .POST, head.uri.hasSuffix("/chat/completions") else {
            return write(Canned.notFound, status: .notFound, keepAlive: head.isKeepAlive, context: context)
        }
        let text = body.getString(at: body.readerIndex, length: body.readableBytes) ?? ""
        guard text.contains(#""stream":true"#) else {
            return write(Canned.completion, status: .ok, keepAlive: head.isKeepAlive, context: context)
        }
        let pause = text.contains(#""model":"bench-soak""#) ? soakInterval : interval
        let withUsage = text.contains(#""include_usage":true"#)
        var headers = HTTPHeaders([("content-type", "text/event-stream"), ("cache-control", "no-cache")])
        headers.add(name: "transfer-encoding", value: "chunked")
        if !head.isKeepAlive { headers.add(name: "connection", value: "close") }
        context.write(wrapOutboundOut(.head(HTTPResponseHead(version: head.version, status: .ok, headers: headers))), promise: nil)
        context.writeAndFlush(wrapOutboundOut(.body(.byteBuffer(Canned.first))), promise: nil)
        sendChunks(remaining: chunkCount, pause: pause, withUsage: withUsage, keepAlive: head.isKeepAlive, context: context)
    }

    private func sendChunks(remaining: Int, pause: TimeAmount, withUsage: Bool, keepAlive: Bool, context: ChannelHandlerContext) {
        guard context.channel.isActive else { return }
        guard remaining > 0 else {
            context.write(wrapOutboundOut(.body(.byteBuffer(Canned.last))), promise: nil)
            if withUsage { context.write(wrapOutboundOut(.body(.byteBuffer(Canned.usage(chunkCount)))), promise: nil) }
            context.write(wrapOutboundOut(.body(.byteBuffer(Canned.done))), promise: nil)
            end(keepAlive: keepAlive, context: context)
            return
        }
        context.writeAndFlush(wrapOutboundOut(.body(.byteBuffer(Canned.chunk))), promise: nil)
        if pause == .zero {
            sendChunks(remaining: remaining - 1, pause: pause, withUsage: withUsage, keepAlive: keepAlive, context: context)
        } else {
            let bound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
            context.eventLoop.scheduleTask(in: pause) {
                let (handler, context) = bound.value
                handler.sendChunks(remaining: remaining - 1, pause: pause, withUsage: withUsage, keepAlive: keepAlive, context: context)
            }
        }
    }

    private func write(_ payload: ByteBuffer, status: HTTPResponseStatus, keepAlive: Bool, context: ChannelHandlerContext) {
        var headers = HTTPHeaders([("content-type", "application/json"), ("content-length", String(payload.readableBytes))])
        if !keepAlive { headers.add(name: "connection", value: "close") }
        context.write(wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: status, headers: headers))), promise: nil)
        context.write(wrapOutboundOut(.body(.byteBuffer(payload))), promise: nil)
        end(keepAlive: keepAlive, context: context)
    }

    private func end(keepAlive: Bool, context: ChannelHandlerContext) {
        if keepAlive {
            context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
        } else {
            let bound = NIOLoopBound(context, eventLoop: context.eventLoop)
            context.writeAndFlush(wrapOutboundOut(.end(nil))).whenComplete { _ in bound.value.close(promise: nil) }
        }
    }
}

let group = MultiThreadedEventLoopGroup(numberOfThreads: System.coreCount)
let server = try ServerBootstrap(group: group)
    .serverChannelOption(.backlog, value: 4096)
    .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
    .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
    .childChannelInitializer { channel in
        channel.pipeline.configureHTTPServerPipeline().flatMap { channel.pipeline.addHandler(UpstreamHandler()) }
    }
    .bind(host: "127.0.0.1", port: port)
    .wait()
print("bench-upstream listening on 127.0.0.1:\(server.localAddress?.port ?? port)")
try server.closeFuture.wait()
