import Contracts
import Foundation
import Logging
import Metrics
import NIOCore
import NIOPosix
import Synchronization

/// Core NATS — publish, subscribe, and so request and reply — on a SwiftNIO channel.
///
/// Messages are parsed on the connection's event loop and handed to their subscription's
/// callback there, so a reply resumes its waiting task without passing through another
/// thread. Publishes from any thread are gathered and written once per event-loop turn.
///
/// Once connected it reconnects for ever: publishes wait in memory meanwhile, and subscriptions
/// are made again on the new connection. Publishes also wait while the server reads slower than
/// they come (the channel is not writable). Either way at most `pendingBytesLimit` wait: a
/// publish beyond fails at once rather than grow memory without bound.
final class CoreConnection: Sendable {
    struct Options: Sendable {
        /// One or more servers, comma-separated, tried in turn: `nats://[user:password@]host:port`
        /// or `nats://token@host:port`.
        var url: String
        var name: String
        var connectTimeout: Duration
        var reconnectWait: Duration
        /// A `PING` this often; the connection is made again when `maxPingsOut` go unanswered.
        var pingInterval: Duration
        var maxPingsOut = 2
        /// Bytes of publishes held while reconnecting or while the server is not reading; a
        /// publish beyond this fails instead of waiting.
        var pendingBytesLimit = 8 * 1024 * 1024
    }

    private struct Subscriber {
        let subject: String
        let queue: String?
        let onMessage: @Sendable (NATSMessage) -> Void
        let onComplete: @Sendable () -> Void
        /// Unsubscribed; `onComplete` runs once the server confirms it sends nothing more.
        var isDraining = false
    }

    private enum Phase {
        case connected(Channel)
        case reconnecting
        case closed
    }

    private struct State {
        var phase: Phase = .reconnecting
        var subscribers: [UInt64: Subscriber] = [:]
        var nextSID: UInt64 = 1
        /// Written by any thread, handed to the channel once per event-loop turn while it is
        /// writable.
        var outgoing = ByteBuffer()
        var isFlushScheduled = false
        /// What each `PING` sent is waiting for, in order: a draining subscription's id, or nil.
        var pongWaiters: [UInt64?] = []
        var pingsOut = 0
        var maxPayload = 1024 * 1024
        var keepAlive: RepeatedTask?
    }

    let options: Options
    let eventLoop: any EventLoop
    private let servers: [ServerAddress]
    private let logger: Logger
    private let state = Mutex(State())

    private init(options: Options, servers: [ServerAddress], eventLoop: any EventLoop, logger: Logger) {
        self.options = options
        self.servers = servers
        self.eventLoop = eventLoop
        self.logger = logger
    }

    /// Connects to the first server that answers, or throws `BusError.unreachable`.
    static func connect(_ options: Options, eventLoop: any EventLoop, logger: Logger) async throws -> CoreConnection {
        let servers = try ServerAddress.parse(options.url)
        let connection = CoreConnection(options: options, servers: servers, eventLoop: eventLoop, logger: logger)
        var lastError: (any Error)?
        for server in servers {
            do {
                try await connection.establish(server).get()
                connection.startKeepAlive()
                return connection
            } catch {
                lastError = error
            }
        }
        connection.state.withLock { $0.phase = .closed }
        let reason = lastError.map { "\($0)" } ?? "no server"
        throw BusError.unreachable(url: options.url, reason: reason)
    }

    var isConnected: Bool {
        state.withLock { if case .connected = $0.phase { true } else { false } }
    }

    // MARK: Publishing

    func publish(_ message: NATSMessage) throws(BusError) {
        guard CoreProtocolEncoder.isValidToken(message.subject), message.replyTo.map(CoreProtocolEncoder.isValidToken) ?? true else {
            throw .failed(operation: "publish \(message.subject)", status: "invalid subject", detail: "")
        }
        for (name, value) in message.headers where !CoreProtocolEncoder.isValidHeader(name: name, value: value) {
            throw .failed(operation: "publish \(message.subject)", status: "invalid header", detail: name)
        }
        let size = message.payload.count + CoreProtocolEncoder.headerBlockLength(message.headers)
        try send(isPublish: true) { state throws(BusError) in
            guard size <= state.maxPayload else {
                throw .failed(operation: "publish \(message.subject)", status: "message too large",
                              detail: "\(size) bytes, the server takes at most \(state.maxPayload)")
            }
            CoreProtocolEncoder.writePublish(message, into: &state.outgoing)
        }
    }

    /// Appends to what goes out next and makes sure it is written this event-loop turn. A
    /// publish fails rather than grow what waits past `pendingBytesLimit` (subscription changes
    /// always pass: they are small, and a drain must complete).
    private func send(isPublish: Bool = false, _ write: (inout State) throws(BusError) -> Void) throws(BusError) {
        let channelToFlush: Channel? = try state.withLock { (state: inout State) throws(BusError) -> Channel? in
            if case .closed = state.phase { throw .closed }
            guard !isPublish || state.outgoing.readableBytes < options.pendingBytesLimit else {
                let reason = if case .connected = state.phase { "NATS is not reading what is sent" } else { "NATS has been unreachable too long" }
                throw .failed(operation: "publish", status: "\(options.pendingBytesLimit / 1024 / 1024) MiB of publishes waiting", detail: reason)
            }
            try write(&state)
            guard case .connected(let channel) = state.phase, !state.isFlushScheduled else { return nil }
            state.isFlushScheduled = true
            return channel
        }
        if let channelToFlush {
            channelToFlush.eventLoop.execute { self.flush(channelToFlush) }
        }
    }

    /// Hands what waits to the channel, unless the channel is not writable: then it waits here,
    /// within the limit, until `writabilityChanged`.
    private func flush(_ channel: Channel) {
        let data: ByteBuffer? = state.withLock { state in
            state.isFlushScheduled = false
            guard case .connected(let current) = state.phase, current === channel, channel.isWritable,
                  state.outgoing.readableBytes > 0 else { return nil }
            defer { state.outgoing = channel.allocator.buffer(capacity: 512) }
            return state.outgoing
        }
        if let data { channel.writeAndFlush(data, promise: nil) }
    }

    /// The channel took what it had: send what waited meanwhile.
    func writabilityChanged(_ channel: Channel) {
        if channel.isWritable { flush(channel) }
    }

    // MARK: Subscriptions

    /// Registers interest in `subject`; `onMessage` runs on the connection's event loop for
    /// every message, and must not block.
    func subscribe(
        subject: String, queue: String?,
        onMessage: @escaping @Sendable (NATSMessage) -> Void, onComplete: @escaping @Sendable () -> Void
    ) throws(BusError) -> UInt64 {
        guard CoreProtocolEncoder.isValidToken(subject), queue.map(CoreProtocolEncoder.isValidToken) ?? true else {
            throw .failed(operation: "subscribe \(subject)", status: "invalid subject", detail: "")
        }
        var sid: UInt64 = 0
        try send { state throws(BusError) in
            sid = state.nextSID
            state.nextSID += 1
            state.subscribers[sid] = Subscriber(subject: subject, queue: queue, onMessage: onMessage, onComplete: onComplete)
            // While reconnecting, the new connection subscribes everything registered.
            if case .connected = state.phase {
                CoreProtocolEncoder.writeSubscribe(subject: subject, queue: queue, sid: sid, into: &state.outgoing)
            }
        }
        return sid
    }

    /// Ends interest in `sid`; messages the server sent before it heard so are still handed
    /// over, then `onComplete` runs.
    func drain(_ sid: UInt64) {
        var completeNow: (@Sendable () -> Void)?
        do {
            try send { state in
                guard let subscriber = state.subscribers[sid], !subscriber.isDraining else { return }
                guard case .connected = state.phase else {
                    state.subscribers[sid] = nil
                    completeNow = subscriber.onComplete
                    return
                }
                state.subscribers[sid]?.isDraining = true
                CoreProtocolEncoder.writeUnsubscribe(sid: sid, into: &state.outgoing)
                state.outgoing.writeStaticString("PING\r\n")
                state.pongWaiters.append(sid)
            }
        } catch {
            // Closed: the close completed every subscription already.
        }
        completeNow?()
    }

    /// Ends interest in `sid` without waiting and without `onComplete`.
    func unsubscribe(_ sid: UInt64) {
        try? send { state in
            guard state.subscribers.removeValue(forKey: sid) != nil, case .connected = state.phase else { return }
            CoreProtocolEncoder.writeUnsubscribe(sid: sid, into: &state.outgoing)
        }
    }

    // MARK: Closing

    /// Writes what is pending, closes the connection, and completes every subscription.
    func close() async {
        let (channel, subscribers, keepAlive): (Channel?, [Subscriber], RepeatedTask?) = state.withLock { state in
            let channel: Channel? = if case .connected(let channel) = state.phase { channel } else { nil }
            guard case .closed = state.phase else {
                state.phase = .closed
                defer {
                    state.subscribers = [:]
                    state.keepAlive = nil
                }
                return (channel, Array(state.subscribers.values), state.keepAlive)
            }
            return (nil, [], nil)
        }
        keepAlive?.cancel()
        if let channel {
            let pending: ByteBuffer = state.withLock { state in
                defer { state.outgoing.clear() }
                return state.outgoing
            }
            // What was published goes out first, unless the server does not take it in time.
            let written = channel.eventLoop.flatSubmit { channel.writeAndFlush(pending) }
            let giveUp = channel.eventLoop.scheduleTask(in: TimeAmount(options.connectTimeout)) { channel.close(promise: nil) }
            try? await written.get()
            giveUp.cancel()
            try? await channel.close()
        }
        for subscriber in subscribers { subscriber.onComplete() }
    }

    // MARK: Connection life

    /// Opens a channel to `server` and completes when the server has accepted the handshake;
    /// then the channel is the connection's, with every subscription made on it.
    private func establish(_ server: ServerAddress) -> EventLoopFuture<Void> {
        let handshake = eventLoop.makePromise(of: ServerInfo.self)
        let connect = ConnectOptions(name: options.name, credentials: server.credentials)
        let bootstrap = ClientBootstrap(group: eventLoop)
            .connectTimeout(TimeAmount(options.connectTimeout))
            .channelOption(ChannelOptions.socketOption(.tcp_nodelay), value: 1)
            .channelInitializer { [self] channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandlers([
                        ByteToMessageHandler(CoreProtocolDecoder()),
                        CoreChannelHandler(connection: self, connect: connect, handshake: handshake),
                    ])
                }
            }
        let connected = bootstrap.connect(host: server.host, port: server.port)
        connected.whenFailure { handshake.fail($0) }
        return connected.flatMap { channel in
            let timeout = channel.eventLoop.scheduleTask(in: TimeAmount(self.options.connectTimeout)) {
                handshake.fail(CoreProtocolError(description: "no handshake from \(server.host):\(server.port) in time"))
            }
            return handshake.futureResult.always { _ in timeout.cancel() }.flatMapError { error in
                channel.close(promise: nil)
                return channel.eventLoop.makeFailedFuture(error)
            }.flatMapThrowing { info in
                try self.adopt(channel, info: info)
            }
        }
    }

    /// Makes `channel` the connection's: subscribes everything registered, then sends what
    /// waited while there was no connection.
    private func adopt(_ channel: Channel, info: ServerInfo) throws {
        let pending: ByteBuffer = try state.withLock { state in
            if case .closed = state.phase {
                channel.close(promise: nil)
                throw BusError.closed
            }
            state.phase = .connected(channel)
            state.pingsOut = 0
            state.pongWaiters = []
            if let maxPayload = info.maxPayload, maxPayload > 0 { state.maxPayload = maxPayload }
            var out = channel.allocator.buffer(capacity: 512 + state.outgoing.readableBytes)
            for (sid, subscriber) in state.subscribers.sorted(by: { $0.key < $1.key }) {
                CoreProtocolEncoder.writeSubscribe(subject: subscriber.subject, queue: subscriber.queue, sid: sid, into: &out)
            }
            out.writeImmutableBuffer(state.outgoing)
            state.outgoing = channel.allocator.buffer(capacity: 512)
            state.isFlushScheduled = false
            return out
        }
        if pending.readableBytes > 0 { channel.writeAndFlush(pending, promise: nil) }
    }

    private func startKeepAlive() {
        let task = eventLoop.scheduleRepeatedTask(initialDelay: TimeAmount(options.pingInterval), delay: TimeAmount(options.pingInterval)) { [weak self] _ in
            self?.ping()
        }
        let closedMeanwhile: RepeatedTask? = state.withLock { state in
            if case .closed = state.phase { return task }
            state.keepAlive = task
            return nil
        }
        closedMeanwhile?.cancel()
    }

    private func ping() {
        let stale: Channel? = state.withLock { state in
            guard case .connected(let channel) = state.phase else { return nil }
            guard state.pingsOut < options.maxPingsOut else { return channel }
            state.pingsOut += 1
            state.pongWaiters.append(nil)
            state.outgoing.writeStaticString("PING\r\n")
            return nil
        }
        if let stale {
            logger.warning("NATS stopped answering pings; reconnecting", metadata: ["url": "\(options.url)"])
            stale.close(promise: nil)
        } else {
            try? send { _ in }  // nothing more to add: this flushes the PING
        }
    }

    // MARK: From the channel (on the event loop)

    func received(_ message: NATSMessage, sid: UInt64) {
        let onMessage = state.withLock { $0.subscribers[sid]?.onMessage }
        onMessage?(message)
    }

    func receivedPong() {
        let drained: Subscriber? = state.withLock { state in
            state.pingsOut = 0
            guard !state.pongWaiters.isEmpty, let sid = state.pongWaiters.removeFirst() else { return nil }
            return state.subscribers.removeValue(forKey: sid)
        }
        drained?.onComplete()
    }

    func receivedError(_ text: String) {
        logger.warning("NATS server error", metadata: ["error": "\(text)", "url": "\(options.url)"])
    }

    /// The connection is closed (and made again) after this.
    func failed(_ error: any Error) {
        logger.warning("NATS connection failed", metadata: ["error": "\(error)", "url": "\(options.url)"])
    }

    /// The channel closed. Unless the connection was closed on purpose, reconnect.
    func channelClosed(_ channel: Channel) {
        let drained: [Subscriber]? = state.withLock { state in
            guard case .connected(let current) = state.phase, current === channel else { return nil }
            state.phase = .reconnecting
            state.isFlushScheduled = false
            // The server forgot the subscriptions with the connection: drains are complete.
            let draining = state.subscribers.filter(\.value.isDraining)
            for sid in draining.keys { state.subscribers[sid] = nil }
            state.pongWaiters = []
            return Array(draining.values)
        }
        guard let drained else { return }
        logger.warning("disconnected from NATS; reconnecting", metadata: ["url": "\(options.url)", "connection": "core"])
        Counter(label: "switchyard_bus_disconnects_total").increment()
        for subscriber in drained { subscriber.onComplete() }
        reconnect(attempt: 0)
    }

    private func reconnect(attempt: Int) {
        eventLoop.scheduleTask(in: TimeAmount(options.reconnectWait)) { [self] in
            if case .closed = state.withLock({ $0.phase }) { return }
            let server = servers[attempt % servers.count]
            establish(server).whenComplete { result in
                switch result {
                case .success:
                    self.logger.info("reconnected to NATS", metadata: ["url": "\(server.host):\(server.port)", "connection": "core"])
                case .failure:
                    self.reconnect(attempt: attempt + 1)
                }
            }
        }
    }
}

/// Reads operations for one channel of a `CoreConnection`: the handshake first (`INFO`, then
/// `CONNECT` and a `PING` whose `PONG` says the server accepted it), then messages and pings.
private final class CoreChannelHandler: ChannelInboundHandler {
    typealias InboundIn = ServerOperation
    typealias OutboundOut = ByteBuffer

    private let connection: CoreConnection
    private let connect: ConnectOptions
    private let handshake: EventLoopPromise<ServerInfo>
    private var info: ServerInfo?
    private var isHandshakeDone = false

    init(connection: CoreConnection, connect: ConnectOptions, handshake: EventLoopPromise<ServerInfo>) {
        self.connection = connection
        self.connect = connect
        self.handshake = handshake
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .message(let message, let sid):
            connection.received(message, sid: sid)
        case .ping:
            context.writeAndFlush(wrapOutboundOut(context.channel.allocator.buffer(staticString: "PONG\r\n")), promise: nil)
        case .pong:
            if isHandshakeDone {
                connection.receivedPong()
            } else if let info {
                isHandshakeDone = true
                handshake.succeed(info)
            }
        case .info(let info):
            guard self.info == nil else { return }
            guard info.tlsRequired != true else {
                handshake.fail(CoreProtocolError(description: "the server requires TLS, which Switchyard's NATS connection does not speak; use a listener without TLS on a private network"))
                context.close(promise: nil)
                return
            }
            guard info.headers != false else {
                handshake.fail(CoreProtocolError(description: "the server does not support message headers (nats-server 2.2 or later does)"))
                context.close(promise: nil)
                return
            }
            self.info = info
            var buffer = context.channel.allocator.buffer(capacity: 256)
            buffer.writeString("CONNECT ")
            buffer.writeBytes((try? JSONEncoder().encode(connect)) ?? Data("{}".utf8))
            buffer.writeStaticString("\r\nPING\r\n")
            context.writeAndFlush(wrapOutboundOut(buffer), promise: nil)
        case .ok:
            break
        case .error(let text):
            if isHandshakeDone {
                connection.receivedError(text)
            } else {
                handshake.fail(CoreProtocolError(description: "the server refused the connection: \(text)"))
            }
        }
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        connection.writabilityChanged(context.channel)
        context.fireChannelWritabilityChanged()
    }

    func channelInactive(context: ChannelHandlerContext) {
        if !isHandshakeDone {
            handshake.fail(CoreProtocolError(description: "the server closed the connection during the handshake"))
        }
        connection.channelClosed(context.channel)
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        if isHandshakeDone {
            connection.failed(error)
        } else {
            handshake.fail(error)
        }
        context.close(promise: nil)
    }
}

/// What the client says about itself in `CONNECT`.
private struct ConnectOptions: Encodable {
    var verbose = false
    var pedantic = false
    var name: String
    var lang = "swift"
    var version = "1.0"
    var `protocol` = 1
    var headers = true
    /// A request nobody serves gets a 503 status reply at once instead of running into its deadline.
    var noResponders = true
    var user: String?
    var pass: String?
    var authToken: String?

    init(name: String, credentials: ServerAddress.Credentials?) {
        self.name = name
        switch credentials {
        case .userPassword(let user, let password):
            self.user = user
            self.pass = password
        case .token(let token):
            authToken = token
        case nil:
            break
        }
    }

    enum CodingKeys: String, CodingKey {
        case verbose, pedantic, name, lang, version, `protocol`, headers, user, pass
        case noResponders = "no_responders"
        case authToken = "auth_token"
    }
}

/// One server of a `NATS_URL`.
struct ServerAddress: Sendable, Equatable {
    enum Credentials: Sendable, Equatable {
        case userPassword(String, String)
        case token(String)
    }

    var host: String
    var port: Int
    var credentials: Credentials?

    /// `nats://host:port`, comma-separated for several; port 4222 when left out.
    static func parse(_ urls: String) throws(BusError) -> [ServerAddress] {
        let servers = try urls.split(separator: ",").map { (text: Substring) throws(BusError) -> ServerAddress in
            let trimmed = text.trimmingCharacters(in: .whitespaces)
            let withScheme = trimmed.contains("://") ? trimmed : "nats://" + trimmed
            guard let components = URLComponents(string: withScheme), components.scheme == "nats",
                  let host = components.serverHost, !host.isEmpty else {
                throw BusError.unreachable(url: urls, reason: "\(trimmed) is not a nats://host:port address")
            }
            let credentials: Credentials? = switch (components.user, components.password) {
            case (let user?, let password?): .userPassword(user, password)
            case (let token?, nil): .token(token)
            default: nil
            }
            return ServerAddress(host: host, port: components.port ?? 4222, credentials: credentials)
        }
        guard !servers.isEmpty else { throw BusError.unreachable(url: urls, reason: "no server address") }
        return servers
    }
}
