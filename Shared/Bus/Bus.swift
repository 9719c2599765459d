import CNats
import Contracts
import Foundation
import Logging
import NIOPosix
import Synchronization

/// Switchyard's connection to NATS: the one way its services talk.
///
/// Two connections to the same server: `core` (SwiftNIO) carries publishes, subscriptions,
/// requests and replies, and the fetches of pull consumers — everything on the hot path — with
/// messages parsed on an event loop and no thread between the socket and the task waiting for
/// them; the C client's connection carries JetStream management (streams, consumers, reading
/// stored messages). Calls of the C client that wait on the server run on `blockingThreads`,
/// never on Swift's cooperative pool.
public final class Bus: @unchecked Sendable {
    public struct Options: Sendable {
        public var url: String
        /// Shown by the server in its connection list.
        public var name: String
        public var connectTimeout: Duration = .seconds(2)
        public var reconnectWait: Duration = .milliseconds(250)
        /// The client pings the server this often and reconnects after two unanswered pings:
        /// a server that hangs without closing the connection is left within three intervals.
        public var pingInterval: Duration = .seconds(30)
        /// Threads for calls that wait on the server.
        public var blockingThreads: Int = 4

        public init(url: String, name: String) {
            self.url = url
            self.name = name
        }
    }

    let core: CoreConnection
    let connection: OpaquePointer
    let jetStream: OpaquePointer
    let blockingThreads: NIOThreadPool
    let logger: Logger
    private let events: ConnectionEventsBox
    private let state = Mutex(false)  // closed
    /// Created on first use: one subscription that receives every reply of this connection.
    private let replyInbox = Mutex<ReplyInbox?>(nil)

    private init(core: CoreConnection, connection: OpaquePointer, jetStream: OpaquePointer, blockingThreads: NIOThreadPool, events: ConnectionEventsBox, logger: Logger) {
        self.core = core
        self.connection = connection
        self.jetStream = jetStream
        self.blockingThreads = blockingThreads
        self.events = events
        self.logger = logger
    }

    /// Connects, or throws `BusError.unreachable` naming the URL when no server answers. Once
    /// connected, the client reconnects for ever and buffers publishes while it does.
    public static func connect(_ options: Options, logger: Logger) async throws -> Bus {
        let core = try await CoreConnection.connect(
            .init(url: options.url, name: options.name, connectTimeout: options.connectTimeout,
                  reconnectWait: options.reconnectWait, pingInterval: options.pingInterval),
            eventLoop: MultiThreadedEventLoopGroup.singleton.next(), logger: logger)
        let threads = NIOThreadPool(numberOfThreads: options.blockingThreads)
        threads.start()
        let events = ConnectionEventsBox(logger: logger, url: options.url)
        do {
            let handles = try await threads.runIfActive {
                try openConnection(options, events: events)
            }
            logger.info("connected to NATS", metadata: ["url": "\(options.url)"])
            return Bus(core: core, connection: handles.connection, jetStream: handles.jetStream, blockingThreads: threads, events: events, logger: logger)
        } catch {
            events.unregister()
            await core.close()
            try? await threads.shutdownGracefully()
            throw error
        }
    }

    /// Connects, makes sure the streams exist, runs `body`, and closes the connection whether
    /// `body` returns or throws: for commands and tests that use the bus for a moment.
    public static func withConnection<T: Sendable>(
        _ options: Options, logger: Logger, _ body: (Bus) async throws -> T
    ) async throws -> T {
        let bus = try await connect(options, logger: logger)
        do {
            try await bus.ensureStreams()
            let result = try await body(bus)
            await bus.close()
            return result
        } catch {
            await bus.close()
            throw error
        }
    }

    private struct Handles: @unchecked Sendable {
        var connection: OpaquePointer
        var jetStream: OpaquePointer
    }

    private static func openConnection(_ options: Options, events: ConnectionEventsBox) throws -> Handles {
        var natsOptions: OpaquePointer?
        try check(natsOptions_Create(&natsOptions), "options")
        defer { natsOptions_Destroy(natsOptions) }
        try check(natsOptions_SetURL(natsOptions, options.url), "url \(options.url)")
        try check(natsOptions_SetName(natsOptions, options.name), "name")
        try check(natsOptions_SetTimeout(natsOptions, options.connectTimeout.milliseconds), "timeout")
        try check(natsOptions_SetMaxReconnect(natsOptions, -1), "reconnect")
        try check(natsOptions_SetReconnectWait(natsOptions, options.reconnectWait.milliseconds), "reconnect wait")
        // JetStream API calls are requests: write at once instead of waiting for the flusher
        // (about 1 ms to 90 µs per round trip on loopback).
        try check(natsOptions_SetSendAsap(natsOptions, true), "send asap")
        try check(natsOptions_SetDisconnectedCB(natsOptions, { _, context in
            ConnectionEventsBox.registered(context)?.disconnected()
        }, events.context), "disconnected callback")
        try check(natsOptions_SetReconnectedCB(natsOptions, { _, context in
            ConnectionEventsBox.registered(context)?.reconnected()
        }, events.context), "reconnected callback")

        var connection: OpaquePointer?
        let status = natsConnection_Connect(&connection, natsOptions)
        if status == NATS_NO_SERVER || status == NATS_TIMEOUT || status == NATS_IO_ERROR {
            throw BusError.unreachable(url: options.url, reason: String(cString: natsStatus_GetText(status)))
        }
        try check(status, "connect to \(options.url)")
        var jetStream: OpaquePointer?
        var jsOptions = jsOptions()
        jsOptions_Init(&jsOptions)
        let jsStatus = natsConnection_JetStream(&jetStream, connection, &jsOptions)
        guard jsStatus == NATS_OK, let connection, let jetStream else {
            natsConnection_Destroy(connection)
            throw busError(jsStatus, "jetstream context")
        }
        return Handles(connection: connection, jetStream: jetStream)
    }

    /// True while both connections are up (false while either reconnects).
    public var isConnected: Bool {
        core.isConnected && natsConnection_Status(connection) == NATS_CONN_STATUS_CONNECTED
    }

    /// Publishes on core NATS: no stream, no acknowledgement. Replies and acks use this. It
    /// returns once the message is queued; it is written on the connection's next turn.
    public func publish(_ message: NATSMessage) throws {
        try core.publish(message)
    }

    /// Runs a call of the C client that waits on the server, off the cooperative pool.
    func blocking<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        guard !isClosed else { throw BusError.closed }
        return try await blockingThreads.runIfActive(body)
    }

    var isClosed: Bool { state.withLock { $0 } }

    func inbox() throws -> ReplyInbox {
        try replyInbox.withLock { inbox in
            if let inbox { return inbox }
            let created = try ReplyInbox(bus: self)
            inbox = created
            return created
        }
    }

    /// Sends what is buffered, then closes. Subscriptions that are still open end with it;
    /// responders and consumers drain themselves first on graceful shutdown.
    public func close() async {
        let wasClosed = state.withLock { closed in
            defer { closed = true }
            return closed
        }
        guard !wasClosed else { return }
        events.closing()
        await core.close()
        try? await blockingThreads.runIfActive { [self] in
            natsConnection_FlushTimeout(connection, 2000)
            natsConnection_Close(connection)
            jsCtx_Destroy(jetStream)
            natsConnection_Destroy(connection)
        }
        try? await blockingThreads.shutdownGracefully()
        events.unregister()
        logger.info("NATS connection closed")
    }
}

/// Logs the C client's (JetStream) connection loss and recovery from the client's own threads.
///
/// The client calls back with a context pointer, possibly after the connection was closed and
/// the `Bus` released. So the pointer is not the box: it is a number looked up in a registry,
/// and a callback that comes after `unregister()` finds nothing and does nothing.
final class ConnectionEventsBox: Sendable {
    let logger: Logger
    let url: String
    private let number: Int
    private let isClosing = Atomic(false)

    private static let registry = Mutex<[Int: ConnectionEventsBox]>([:])
    private static let nextNumber = Atomic(1)

    init(logger: Logger, url: String) {
        self.logger = logger
        self.url = url
        let number = Self.nextNumber.wrappingAdd(1, ordering: .relaxed).oldValue
        self.number = number
        Self.registry.withLock { $0[number] = self }
    }

    /// What the client hands back to the callbacks: the registry number, as a pointer.
    var context: UnsafeMutableRawPointer { UnsafeMutableRawPointer(bitPattern: number)! }

    static func registered(_ context: UnsafeMutableRawPointer?) -> ConnectionEventsBox? {
        guard let context else { return nil }
        return registry.withLock { $0[Int(bitPattern: context)] }
    }

    func unregister() {
        _ = Self.registry.withLock { $0.removeValue(forKey: number) }
    }

    func closing() { isClosing.store(true, ordering: .relaxed) }

    func disconnected() {
        guard !isClosing.load(ordering: .relaxed) else { return }
        logger.warning("disconnected from NATS; reconnecting", metadata: ["url": "\(url)", "connection": "jetstream"])
    }
    func reconnected() { logger.info("reconnected to NATS", metadata: ["url": "\(url)", "connection": "jetstream"]) }
}

extension Duration {
    /// Whole milliseconds, as the C client takes most durations.
    public var milliseconds: Int64 {
        components.seconds * 1000 + components.attoseconds / 1_000_000_000_000_000
    }

    /// Whole nanoseconds, as JetStream's configuration structures take durations.
    var nanoseconds: Int64 {
        components.seconds * 1_000_000_000 + components.attoseconds / 1_000_000_000
    }
}
