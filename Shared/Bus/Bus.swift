import Contracts
import Foundation
import Logging
import NIOPosix
import Synchronization

/// Switchyard's connection to NATS: the one way its services talk.
///
/// One connection (`core`, on SwiftNIO) carries everything: publishes, subscriptions, requests
/// and replies, the fetches of pull consumers and JetStream's management API (streams,
/// consumers, reading stored messages), which is requests on `$JS.API.` subjects. Messages are
/// parsed on an event loop with no thread between the socket and the task waiting for them.
public final class Bus: Sendable {
    public struct Options: Sendable {
        public var url: String
        /// Shown by the server in its connection list.
        public var name: String
        public var connectTimeout: Duration = .seconds(2)
        public var reconnectWait: Duration = .milliseconds(250)
        /// The client pings the server this often and reconnects after two unanswered pings:
        /// a server that hangs without closing the connection is left within three intervals.
        public var pingInterval: Duration = .seconds(30)

        public init(url: String, name: String) {
            self.url = url
            self.name = name
        }
    }

    let core: CoreConnection
    let logger: Logger
    private let state = Mutex(false)  // closed
    /// Created on first use: one subscription that receives every reply of this connection.
    private let replyInbox = Mutex<ReplyInbox?>(nil)

    private init(core: CoreConnection, logger: Logger) {
        self.core = core
        self.logger = logger
    }

    /// Connects, or throws `BusError.unreachable` naming the URL when no server answers. Once
    /// connected, the client reconnects for ever and buffers publishes while it does.
    public static func connect(_ options: Options, logger: Logger) async throws -> Bus {
        let core = try await CoreConnection.connect(
            .init(url: options.url, name: options.name, connectTimeout: options.connectTimeout,
                  reconnectWait: options.reconnectWait, pingInterval: options.pingInterval),
            eventLoop: MultiThreadedEventLoopGroup.singleton.next(), logger: logger)
        logger.info("connected to NATS", metadata: ["url": "\(options.url)"])
        return Bus(core: core, logger: logger)
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

    /// False while the connection is being made again.
    public var isConnected: Bool { core.isConnected }

    /// Publishes on core NATS: no stream, no acknowledgement. Replies and acks use this. It
    /// returns once the message is queued; it is written on the connection's next turn.
    public func publish(_ message: NATSMessage) throws {
        try core.publish(message)
    }

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
        await core.close()
        logger.info("NATS connection closed")
    }
}

extension Duration {
    /// Whole milliseconds.
    public var milliseconds: Int64 {
        components.seconds * 1000 + components.attoseconds / 1_000_000_000_000_000
    }

    /// Whole nanoseconds, as JetStream's API takes durations.
    var nanoseconds: Int64 {
        components.seconds * 1_000_000_000 + components.attoseconds / 1_000_000_000
    }
}
