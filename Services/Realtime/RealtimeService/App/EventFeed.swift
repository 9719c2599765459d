import Contracts
import Foundation
import HummingbirdWebSocket
import Logging
import Metrics
import Synchronization
import SwitchyardBus

/// One socket's feed: its tenant's events from the `EVENTS` stream, in stream order, written as
/// fast as the client takes them. The stream is read through a consumer of the socket's own, a
/// batch at a time and only once the last batch was written, so a slow client holds back its own
/// feed and nothing else: its backlog stays in the stream, not in this process's memory.
struct EventFeed: Sendable {
    let subscriber: Subscriber
    let logger: Logger
    static let batch = 64

    func run(to outbound: WebSocketOutboundWriter) async throws {
        let reader = subscriber.reader
        let sent = Counter(label: "switchyard_realtime_events_sent_total")
        do {
            try await withTaskCancellationHandler {
                while !Task.isCancelled {
                    let deliveries = try await reader.next(Self.batch)
                    for delivery in deliveries {
                        try await outbound.writeTextMessage(Self.message(delivery))
                    }
                    sent.increment(by: deliveries.count)
                }
            } onCancel: {
                reader.interrupt()
            }
        } catch {
            await reader.close()
            throw error
        }
        await reader.close()
    }

    /// `{"id":<stream sequence>,"event":<the envelope as it was published>}`; the envelope is
    /// passed on without being decoded.
    static func message(_ delivery: Delivery) -> String {
        #"{"id":\#(delivery.streamSequence),"event":"# + String(decoding: delivery.message.payload, as: UTF8.self) + "}"
    }
}

/// The feeds of the sockets open on this replica, by API key, so that a revoked key's sockets
/// close at once.
final class OpenFeeds: Sendable {
    private let revokers = Mutex<[UUID: [UUID: AsyncStream<Void>.Continuation]]>([:])
    private let gauge = Gauge(label: "switchyard_realtime_open_sockets")

    var count: Int { revokers.withLock { $0.values.reduce(0) { $0 + $1.count } } }

    /// Runs `feed` until the client closes the socket, the feed fails or the key is revoked.
    /// Messages from the client are read (which answers its pings and its close) and ignored.
    func run(_ feed: EventFeed, inbound: WebSocketInboundStream, outbound: WebSocketOutboundWriter) async throws {
        let (key, socket) = (feed.subscriber.apiKeyID, UUID())
        let (revoked, revoke) = AsyncStream.makeStream(of: Void.self)
        revokers.withLock { $0[key, default: [:]][socket] = revoke }
        gauge.record(count)
        defer {
            revokers.withLock { revokers in
                revokers[key]?[socket] = nil
                if revokers[key]?.isEmpty == true { revokers[key] = nil }
            }
            gauge.record(count)
        }
        enum End { case clientLeft, revoked }
        let end: End
        do {
            end = try await withThrowingTaskGroup(of: End.self) { group in
                group.addTask {
                    try await feed.run(to: outbound)
                    return .clientLeft
                }
                group.addTask {
                    for try await _ in inbound {}
                    return .clientLeft
                }
                group.addTask {
                    for await _ in revoked { return .revoked }
                    return .clientLeft
                }
                defer { group.cancelAll() }
                return try await group.next() ?? .clientLeft
            }
        } catch {
            feed.logger.warning("event feed failed; the socket is closed", metadata: ["error": "\(error)"])
            try await outbound.close(.unexpectedServerError, reason: "The event feed failed; reconnect with last_event_id.")
            return
        }
        if end == .revoked {
            try await outbound.close(.policyViolation, reason: "The API key was revoked.")
        }
    }

    /// Closes every socket opened with the key.
    func close(key: UUID) {
        revokers.withLock { $0[key]?.values.forEach { $0.yield() } }
    }
}
