import CHiredis
import Contracts
import Crypto
import Foundation
import Logging
import NIOCore
import NIOPosix
import Synchronization

/// A Redis reply copied out of hiredis.
public enum RedisValue: Sendable, Equatable {
    case string(Data)
    case status(String)
    case integer(Int64)
    case array([RedisValue])
    case null
    /// An error reply inside a pipeline (a single command throws `RedisError.server` instead).
    case error(String)

    public var text: String? {
        switch self {
        case .string(let data): String(decoding: data, as: UTF8.self)
        case .status(let text): text
        case .integer(let value): String(value)
        default: nil
        }
    }

    public var integer: Int64? {
        switch self {
        case .integer(let value): value
        case .string, .status: text.flatMap { Int64($0) }
        default: nil
        }
    }
}

public enum RedisError: Error, CustomStringConvertible, Equatable {
    case unreachable(url: String, reason: String)
    case connectionLost(String)
    case server(String)
    case invalidURL(String)
    case closed

    public var description: String {
        switch self {
        case .unreachable(let url, let reason): "Redis is not reachable at \(url): \(reason)"
        case .connectionLost(let reason): "lost the connection to Redis: \(reason)"
        case .server(let message): "Redis answered an error: \(message)"
        case .invalidURL(let reason): "invalid Redis URL: \(reason)"
        case .closed: "the Redis client is closed"
        }
    }
}

/// A Lua script run with EVALSHA; loaded on the first NOSCRIPT (a new or flushed server).
public struct RedisScript: Sendable {
    public let source: String
    public let sha1: String

    public init(_ source: String) {
        self.source = source
        self.sha1 = Insecure.SHA1.hash(data: Data(source.utf8)).map { String(format: "%02x", $0) }.joined()
    }
}

/// A Redis client on SwiftNIO's event loops: one connection per event loop (opened when first
/// needed), each carrying any number of commands at once, in order (Redis answers a
/// connection's commands in the order they came). A command sent from a task running on an event
/// loop goes out on that loop's connection and its reply resumes the task there: no thread is
/// switched and none blocks. Replies are parsed by hiredis's reader. A connection that fails, or
/// whose oldest command waits past the timeout, is closed, failing what it carried; the next
/// command opens a new one.
public final class RedisClient: Sendable {
    public struct Endpoint: Sendable, Equatable {
        public var host: String
        public var port: Int
        public var password: String?
        public var database: Int

        /// Reads `redis://[:password@]host[:port][/database]`.
        public init(url: String) throws(RedisError) {
            guard let components = URLComponents(string: url), components.scheme == "redis" else {
                throw .invalidURL("expected redis://host:port")
            }
            guard let host = components.serverHost, !host.isEmpty else { throw .invalidURL("no host") }
            self.host = host
            self.port = components.port ?? 6379
            self.password = components.password
            let path = components.path.trimmingCharacters(in: CharacterSet(charactersIn: "/"))
            guard let database = path.isEmpty ? 0 : Int(path) else { throw .invalidURL("database \(path) is not a number") }
            self.database = database
        }
    }

    let endpoint: Endpoint
    let url: String
    let timeout: Duration
    /// One per event loop, found by the loop's identity; with `connections: 1`, one in all.
    private let slots: [ObjectIdentifier: RedisConnectionSlot]
    private let allSlots: [RedisConnectionSlot]
    private let nextSlot = Atomic(0)
    private let isClosed = Atomic(false)

    /// `connections`: at most one per event loop of the group; fewer share loops.
    public init(url: String, connections: Int? = nil, timeout: Duration = .seconds(2),
                group: MultiThreadedEventLoopGroup = .singleton) throws(RedisError) {
        self.endpoint = try Endpoint(url: url)
        self.url = url
        self.timeout = timeout
        var loops: [any EventLoop] = []
        for loop in group.makeIterator() { loops.append(loop) }
        let used = loops.prefix(max(1, min(connections ?? loops.count, loops.count)))
        let slots = used.map { RedisConnectionSlot(loop: $0) }
        self.allSlots = slots
        self.slots = Dictionary(uniqueKeysWithValues: zip(used.map { ObjectIdentifier($0) }, slots))
    }

    /// Runs one command, e.g. `["SET", key, value, "PX", "1000"]`.
    @discardableResult
    public func command(_ arguments: [String]) async throws -> RedisValue {
        let value = try await pipeline([arguments])[0]
        if case .error(let message) = value { throw RedisError.server(message) }
        return value
    }

    /// Sends every command before reading any reply: one round trip for all of them.
    public func pipeline(_ commands: [[String]]) async throws -> [RedisValue] {
        guard !isClosed.load(ordering: .relaxed) else { throw RedisError.closed }
        let slot = slotForCaller()
        let channel = try await slot.channel(connect: connect)
        let promises = commands.map { _ in channel.eventLoop.makePromise(of: RedisValue.self) }
        Self.send(zip(commands, promises).map { RedisRequest(arguments: $0, reply: $1) }, on: channel)
        var values: [RedisValue] = []
        values.reserveCapacity(promises.count)
        for promise in promises { values.append(try await promise.futureResult.get()) }
        return values
    }

    /// Runs a script by its SHA-1; when the server does not know it (a new, restarted or flushed
    /// server), sends its source with EVAL, which runs it and keeps it for the next EVALSHA. One
    /// command, so a flush between loading and running cannot fail the call.
    public func evaluate(_ script: RedisScript, keys: [String], arguments: [String]) async throws -> RedisValue {
        let rest = [String(keys.count)] + keys + arguments
        do {
            return try await command(["EVALSHA", script.sha1] + rest)
        } catch RedisError.server(let message) where message.hasPrefix("NOSCRIPT") {
            return try await command(["EVAL", script.source] + rest)
        }
    }

    public func ping() async throws {
        let reply = try await command(["PING"])
        guard reply.text == "PONG" else { throw RedisError.server("PING answered \(reply)") }
    }

    public func close() async {
        guard !isClosed.exchange(true, ordering: .relaxed) else { return }
        for slot in allSlots { await slot.close() }
    }

    /// Writes `requests` on the channel's event loop, or fails them when the channel has closed.
    /// Checked there, where the channel changes state: a channel that closed between the caller
    /// taking it and this write has its handlers removed a moment later, and a write reaching no
    /// handler would leave its reply waiting for ever.
    private static func send(_ requests: [RedisRequest], on channel: any Channel) {
        @Sendable func write() {
            guard channel.isActive else {
                let error = RedisError.connectionLost("the connection closed before the command was sent")
                for request in requests { request.reply.fail(error) }
                return
            }
            for request in requests { channel.write(request, promise: nil) }
            channel.flush()
        }
        if channel.eventLoop.inEventLoop { write() } else { channel.eventLoop.execute { write() } }
    }

    /// The connection of the event loop the caller runs on, or the next one in turn.
    private func slotForCaller() -> RedisConnectionSlot {
        if let loop = MultiThreadedEventLoopGroup.currentEventLoop, let slot = slots[ObjectIdentifier(loop)] { return slot }
        return allSlots[nextSlot.wrappingAdd(1, ordering: .relaxed).oldValue % allSlots.count]
    }

    /// Opens a connection on `loop`, signed in and on the endpoint's database.
    private func connect(on loop: any EventLoop) async throws -> any Channel {
        let (url, timeout, endpoint) = (self.url, self.timeout, self.endpoint)
        let channel: any Channel
        do {
            channel = try await ClientBootstrap(group: loop)
                .connectTimeout(TimeAmount(timeout))
                .channelOption(.socketOption(.so_keepalive), value: 1)
                .channelOption(.tcpOption(.tcp_nodelay), value: 1)
                .channelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture {
                        try channel.pipeline.syncOperations.addHandler(ByteToMessageHandler(RedisReplyDecoder()))
                        try channel.pipeline.syncOperations.addHandler(RedisCommandHandler(timeout: timeout))
                    }
                }
                .connect(host: endpoint.host, port: endpoint.port).get()
        } catch {
            throw RedisError.unreachable(url: url, reason: "\(error)")
        }
        var setup: [[String]] = []
        if let password = endpoint.password { setup.append(["AUTH", password]) }
        if endpoint.database != 0 { setup.append(["SELECT", String(endpoint.database)]) }
        for arguments in setup {
            let reply = channel.eventLoop.makePromise(of: RedisValue.self)
            Self.send([RedisRequest(arguments: arguments, reply: reply)], on: channel)
            if case .error(let message) = try await reply.futureResult.get() {
                try? await channel.close()
                throw RedisError.server(message)
            }
        }
        return channel
    }
}

/// The connection of one event loop: opened by the first command that needs it, shared by every
/// command until it closes; the next command then opens another.
final class RedisConnectionSlot: Sendable {
    private enum State {
        case none
        case opening(EventLoopFuture<any Channel>)
        case open(any Channel)
    }

    let loop: any EventLoop
    private let state = Mutex<State>(.none)

    init(loop: any EventLoop) { self.loop = loop }

    func channel(connect: @escaping @Sendable (any EventLoop) async throws -> any Channel) async throws -> any Channel {
        let opening: EventLoopFuture<any Channel> = state.withLock { state in
            switch state {
            case .open(let channel) where channel.isActive:
                return loop.makeSucceededFuture(channel)
            case .opening(let future):
                return future
            case .none, .open:
                let promise = loop.makePromise(of: (any Channel).self)
                promise.completeWithTask { try await connect(self.loop) }
                state = .opening(promise.futureResult)
                return promise.futureResult
            }
        }
        do {
            let channel = try await opening.get()
            state.withLock { state in
                if case .opening(let future) = state, future === opening { state = .open(channel) }
            }
            return channel
        } catch {
            // The next command tries again.
            state.withLock { state in
                if case .opening(let future) = state, future === opening { state = .none }
            }
            throw error
        }
    }

    func close() async {
        let channel: (any Channel)? = state.withLock { state in
            defer { state = .none }
            if case .open(let channel) = state { return channel }
            return nil
        }
        try? await channel?.close()
    }
}

/// A command on its way, with where its reply goes.
struct RedisRequest {
    var arguments: [String]
    var reply: EventLoopPromise<RedisValue>
}

/// Writes commands in RESP and hands each reply to the oldest command waiting; fails every
/// waiting command when the connection ends, and closes a connection whose oldest command has
/// waited past the timeout (Redis answers in order, so the rest would wait longer still).
final class RedisCommandHandler: ChannelDuplexHandler {
    typealias InboundIn = RedisValue
    typealias OutboundIn = RedisRequest
    typealias OutboundOut = ByteBuffer

    private let timeout: TimeAmount
    private var waiting = CircularBuffer<(reply: EventLoopPromise<RedisValue>, deadline: NIODeadline)>()
    private var watchdog: Scheduled<Void>?

    init(timeout: Duration) {
        self.timeout = TimeAmount(timeout)
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        let request = unwrapOutboundIn(data)
        var buffer = context.channel.allocator.buffer(capacity: request.arguments.reduce(16) { $0 + $1.utf8.count + 16 })
        buffer.writeStaticString("*")
        buffer.writeString(String(request.arguments.count))
        buffer.writeStaticString("\r\n")
        for argument in request.arguments {
            buffer.writeStaticString("$")
            buffer.writeString(String(argument.utf8.count))
            buffer.writeStaticString("\r\n")
            buffer.writeString(argument)
            buffer.writeStaticString("\r\n")
        }
        waiting.append((request.reply, .now() + timeout))
        if watchdog == nil { watch(context) }
        context.write(wrapOutboundOut(buffer), promise: promise)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard let (reply, _) = waiting.popFirst() else {
            context.fireErrorCaught(RedisError.connectionLost("a reply no command waited for"))
            context.close(promise: nil)
            return
        }
        reply.succeed(unwrapInboundIn(data))
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        failAll(RedisError.connectionLost("\(error)"))
        context.close(promise: nil)
    }

    func channelInactive(context: ChannelHandlerContext) {
        failAll(RedisError.connectionLost("the server closed the connection"))
        watchdog?.cancel()
        watchdog = nil
        context.fireChannelInactive()
    }

    /// Checks the oldest waiting command's deadline until nothing waits.
    private func watch(_ context: ChannelHandlerContext) {
        let check = context.eventLoop.assumeIsolated()
        watchdog = check.scheduleTask(in: .nanoseconds(timeout.nanoseconds / 4)) { [self] in
            watchdog = nil
            guard let oldest = waiting.first else { return }
            if oldest.deadline < .now() {
                failAll(RedisError.connectionLost("no reply within \(timeout)"))
                context.close(promise: nil)
            } else {
                watch(context)
            }
        }
    }

    private func failAll(_ error: RedisError) {
        while let (reply, _) = waiting.popFirst() { reply.fail(error) }
    }
}

/// Parses replies with hiredis's reader, copying each into a `RedisValue`.
final class RedisReplyDecoder: ByteToMessageDecoder {
    typealias InboundOut = RedisValue

    private let reader: UnsafeMutablePointer<redisReader>

    init() {
        reader = redisReaderCreate()
    }

    deinit {
        redisReaderFree(reader)
    }

    func decode(context: ChannelHandlerContext, buffer: inout ByteBuffer) throws -> DecodingState {
        if buffer.readableBytes > 0 {
            let fed = buffer.withUnsafeReadableBytes { bytes in
                redisReaderFeed(reader, bytes.baseAddress?.assumingMemoryBound(to: CChar.self), bytes.count)
            }
            buffer.moveReaderIndex(forwardBy: buffer.readableBytes)
            guard fed == REDIS_OK else { throw RedisError.connectionLost(errorText) }
        }
        // Every whole reply the bytes so far hold; the rest waits in the reader for more.
        while true {
            var reply: UnsafeMutableRawPointer?
            guard redisReaderGetReply(reader, &reply) == REDIS_OK else { throw RedisError.connectionLost(errorText) }
            guard let reply else { return .needMoreData }
            let value = RedisValue(copying: reply.assumingMemoryBound(to: redisReply.self))
            freeReplyObject(reply)
            context.fireChannelRead(wrapInboundOut(value))
        }
    }

    func decodeLast(context: ChannelHandlerContext, buffer: inout ByteBuffer, seenEOF: Bool) throws -> DecodingState {
        try decode(context: context, buffer: &buffer)
    }

    private var errorText: String {
        withUnsafeBytes(of: reader.pointee.errstr) { bytes in
            String(decoding: bytes.prefix { $0 != 0 }, as: UTF8.self)
        }
    }
}

extension RedisValue {
    /// Copies a reply tree; `freeReplyObject` frees the C tree afterwards.
    init(copying reply: UnsafeMutablePointer<redisReply>) {
        let value = reply.pointee
        switch value.type {
        case REDIS_REPLY_STRING:
            self = .string(value.str.map { Data(bytes: $0, count: value.len) } ?? Data())
        case REDIS_REPLY_STATUS:
            self = .status(value.str.map { String(cString: $0) } ?? "")
        case REDIS_REPLY_ERROR:
            self = .error(value.str.map { String(cString: $0) } ?? "")
        case REDIS_REPLY_INTEGER:
            self = .integer(value.integer)
        case REDIS_REPLY_ARRAY:
            self = .array((0..<value.elements).map { RedisValue(copying: value.element[$0]!) })
        default:
            self = .null
        }
    }
}
