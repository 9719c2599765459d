import Foundation
import NIOCore
import NIOPosix
import SwitchyardRedis
import Synchronization

/// A TCP proxy in front of the test Redis that holds back the commands running one script:
/// such a command, and whatever its connection sends after it, reach Redis only at `release()`.
/// Replies pass untouched. A test sees through it what a service does while a Redis command it
/// sent has not run yet.
final class RedisHoldingProxy: Sendable {
    /// The proxy's address, for a `RedisClient`.
    let url: String
    private let server: any Channel
    private let holds: Holds

    /// Commands held so far (each connection holds its first matching command and what follows).
    var held: Int { holds.count }

    static func started(holding script: RedisScript, upstream: String = TestEnvironment.redisURL) async throws -> RedisHoldingProxy {
        let endpoint = try RedisClient.Endpoint(url: upstream)
        let holds = Holds { arguments in
            guard arguments.count > 1 else { return false }
            switch arguments[0].uppercased() {
            case "EVALSHA": return arguments[1] == script.sha1
            case "EVAL": return arguments[1] == script.source
            default: return false
            }
        }
        let server = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .childChannelInitializer { client in
                client.eventLoop.makeCompletedFuture {
                    try client.pipeline.syncOperations.addHandler(
                        ClientSide(holds: holds, upstreamHost: endpoint.host, upstreamPort: endpoint.port))
                }
            }
            .bind(host: "127.0.0.1", port: 0).get()
        // The upstream's address with the proxy's host and port: its password and database stay.
        var url = URLComponents(string: upstream)!
        url.host = "127.0.0.1"
        url.port = server.localAddress!.port!
        return RedisHoldingProxy(url: url.string!, server: server, holds: holds)
    }

    private init(url: String, server: any Channel, holds: Holds) {
        self.url = url
        self.server = server
        self.holds = holds
    }

    /// Sends what was held and stops holding.
    func release() { holds.release() }

    func close() async throws {
        release()
        try await server.close()
    }

    /// Which commands to hold, and how to let each connection's held commands go.
    fileprivate final class Holds: Sendable {
        private let matches: @Sendable ([String]) -> Bool
        private let state = Mutex<(holding: Bool, count: Int, releases: [@Sendable () -> Void])>((true, 0, []))

        init(matches: @escaping @Sendable ([String]) -> Bool) { self.matches = matches }

        var count: Int { state.withLock { $0.count } }

        /// Whether to hold the command `arguments`; `release` lets its connection go on.
        func hold(_ arguments: [String], release: @escaping @Sendable () -> Void) -> Bool {
            guard matches(arguments) else { return false }
            return state.withLock { state in
                guard state.holding else { return false }
                state.count += 1
                state.releases.append(release)
                return true
            }
        }

        func countHeld() { state.withLock { $0.count += 1 } }

        func release() {
            let releases = state.withLock { state in
                state.holding = false
                defer { state.releases = [] }
                return state.releases
            }
            for release in releases { release() }
        }
    }
}

/// One client's connection: its commands, read whole, go to a connection to Redis of its own,
/// unless held; Redis's replies go straight back.
private final class ClientSide: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer

    private let holds: RedisHoldingProxy.Holds
    private let upstreamHost: String
    private let upstreamPort: Int
    private var redis: (any Channel)?
    /// Bytes that are not yet a whole command.
    private var partial = ByteBuffer()
    /// Commands read before the connection to Redis was open.
    private var unsent: [ByteBuffer] = []
    /// While this connection holds: its held command and every command after it.
    private var held: [ByteBuffer]?

    init(holds: RedisHoldingProxy.Holds, upstreamHost: String, upstreamPort: Int) {
        self.holds = holds
        self.upstreamHost = upstreamHost
        self.upstreamPort = upstreamPort
    }

    func channelActive(context: ChannelHandlerContext) {
        let client = context.channel
        let this = NIOLoopBound(self, eventLoop: context.eventLoop)
        ClientBootstrap(group: context.eventLoop)
            .channelInitializer { redis in
                redis.eventLoop.makeCompletedFuture { try redis.pipeline.syncOperations.addHandler(RelayReplies(to: client)) }
            }
            .connect(host: upstreamHost, port: upstreamPort)
            .whenComplete { result in
                switch result {
                case .success(let redis):
                    this.value.redis = redis
                    for command in this.value.unsent { redis.write(command, promise: nil) }
                    this.value.unsent = []
                    redis.flush()
                case .failure:
                    client.close(promise: nil)
                }
            }
    }

    func channelInactive(context: ChannelHandlerContext) {
        redis?.close(promise: nil)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var bytes = unwrapInboundIn(data)
        partial.writeBuffer(&bytes)
        let this = NIOLoopBound(self, eventLoop: context.eventLoop)
        while let (command, arguments) = Self.nextCommand(&partial) {
            if held != nil {
                held!.append(command)
                holds.countHeld()
            } else if holds.hold(arguments, release: { this.eventLoop.execute { this.value.releaseHeld() } }) {
                held = [command]
            } else {
                send(command)
            }
        }
    }

    private func releaseHeld() {
        let commands = held ?? []
        held = nil
        for command in commands { send(command) }
    }

    private func send(_ command: ByteBuffer) {
        if let redis { redis.writeAndFlush(command, promise: nil) } else { unsent.append(command) }
    }

    /// The next whole command in `buffer` (RESP: an array of bulk strings), taken out of it, and
    /// its arguments; nil while it is not all there.
    private static func nextCommand(_ buffer: inout ByteBuffer) -> (ByteBuffer, [String])? {
        var reader = buffer
        guard let header = readLine(&reader), header.first == "*", let count = Int(header.dropFirst()) else { return nil }
        var arguments: [String] = []
        for _ in 0..<count {
            guard let length = readLine(&reader), length.first == "$", let size = Int(length.dropFirst()),
                reader.readableBytes >= size + 2, let argument = reader.readString(length: size)
            else { return nil }
            reader.moveReaderIndex(forwardBy: 2)
            arguments.append(argument)
        }
        let command = buffer.readSlice(length: reader.readerIndex - buffer.readerIndex)!
        return (command, arguments)
    }

    private static func readLine(_ buffer: inout ByteBuffer) -> String? {
        guard let end = buffer.withUnsafeReadableBytes({ $0.firstIndex(of: UInt8(ascii: "\n")) }), end > 0 else { return nil }
        let line = buffer.readString(length: end - 1)
        buffer.moveReaderIndex(forwardBy: 2)
        return line
    }
}

/// Redis's replies, written back to the client as they come.
private final class RelayReplies: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    private let client: any Channel

    init(to client: any Channel) { self.client = client }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        client.writeAndFlush(unwrapInboundIn(data), promise: nil)
    }

    func channelInactive(context: ChannelHandlerContext) {
        client.close(promise: nil)
    }
}
