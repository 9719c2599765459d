import Contracts
import Foundation
import HummingbirdWebSocket
import Logging
import Metrics
import NIOWebSocket
import ServiceLifecycle
import Synchronization
import SwitchyardBus

/// One socket's feed: its tenant's events from the `EVENTS` stream, in stream order, written as
/// fast as the client takes them. The stream is read through a consumer of the socket's own, a
/// batch at a time and only once the last batch was written, so a slow client holds back its own
/// feed and nothing else: its backlog stays in the stream, not in this process's memory.
struct EventFeed: Sendable {
    let subscriber: Subscriber
    let cursors: EventCursors
    let logger: Logger
    static let batch = 64

    func run(to outbound: WebSocketOutboundWriter) async throws {
        let reader = subscriber.reader
        let sent = Counter(label: "switchyard_realtime_events_sent_total")
        do {
            try await withTaskCancellationHandler {
                while !Task.isCancelled {
                    let deliveries = try await reader.next(Self.batch).filter(isWanted)
                    for delivery in deliveries {
                        try await outbound.writeTextMessage(message(delivery))
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

    /// Whether the subscriber asked for the event's type, read off its subject
    /// (`evt.<tenant>.<domain>.<name>`).
    func isWanted(_ delivery: Delivery) -> Bool {
        guard let types = subscriber.types else { return true }
        return delivery.message.subject.split(separator: ".", maxSplits: 2).last.map { types.contains(String($0)) } ?? false
    }

    /// `{"id":"<sealed position>","event":<the envelope as it was published>}`; the envelope is
    /// passed on without being decoded.
    func message(_ delivery: Delivery) -> String {
        let id = cursors.id(tenant: subscriber.tenantID, sequence: delivery.streamSequence)
        return #"{"id":"\#(id)","event":"# + String(decoding: delivery.message.payload, as: UTF8.self) + "}"
    }
}

/// The feeds of the sockets open on this replica: at most `maxPerTenant` of a tenant's, and
/// closed at once when their key is revoked or expires, their tenant is suspended or the
/// service stops.
final class OpenFeeds: Sendable {
    /// Why a socket is closed by the server.
    struct Closing: Sendable {
        var code: WebSocketErrorCode
        var reason: String
    }

    private struct Socket {
        var subscriber: Subscriber
        var close: AsyncStream<Closing>.Continuation
    }

    let maxPerTenant: Int
    private let sockets = Mutex<[UUID: Socket]>([:])
    private let gauge = Gauge(label: "switchyard_realtime_open_sockets")

    init(maxPerTenant: Int) {
        self.maxPerTenant = maxPerTenant
    }

    var count: Int { sockets.withLock { $0.count } }

    /// Runs `feed` until the client closes the socket, the feed fails, or the server closes it.
    /// Messages from the client are read (which answers its pings and its close) and ignored.
    func run(_ feed: EventFeed, inbound: WebSocketInboundStream, outbound: WebSocketOutboundWriter) async throws {
        let (id, tenant) = (UUID(), feed.subscriber.tenantID)
        let (closings, close) = AsyncStream.makeStream(of: Closing.self)
        let admitted = sockets.withLock { sockets in
            guard sockets.values.count(where: { $0.subscriber.tenantID == tenant }) < maxPerTenant else { return false }
            sockets[id] = Socket(subscriber: feed.subscriber, close: close)
            return true
        }
        guard admitted else {
            await feed.subscriber.reader.close()
            let reason = "Your organization has \(maxPerTenant) sockets open on this server, the most it may; close one first."
            try await outbound.close(WebSocketErrorCode(codeNumber: 4429), reason: reason)
            return
        }
        gauge.record(count)
        defer {
            _ = sockets.withLock { $0.removeValue(forKey: id) }
            gauge.record(count)
        }
        let closing: Closing?
        do {
            closing = try await withThrowingTaskGroup(of: Closing?.self) { group in
                group.addTask {
                    try await feed.run(to: outbound)
                    return nil
                }
                group.addTask {
                    for try await _ in inbound {}
                    return nil
                }
                group.addTask {
                    for await closing in closings { return closing }
                    return nil
                }
                if let expiresAt = feed.subscriber.expiresAt {
                    group.addTask {
                        try await Task.sleep(for: .seconds(max(0, expiresAt.timeIntervalSinceNow)))
                        let what = feed.subscriber.apiKeyID == nil ? "Your sign-in expired." : "The API key expired."
                        return Closing(code: .policyViolation, reason: what)
                    }
                }
                defer { group.cancelAll() }
                return try await group.next() ?? nil
            }
        } catch {
            feed.logger.warning("event feed failed; the socket is closed", metadata: ["error": "\(error)"])
            try await outbound.close(.unexpectedServerError, reason: "The event feed failed; reconnect with last_event_id.")
            return
        }
        if let closing {
            try await outbound.close(closing.code, reason: closing.reason)
        }
    }

    /// Closes every socket opened with the key.
    func close(key: UUID) {
        close(Closing(code: .policyViolation, reason: "The API key was revoked.")) { $0.apiKeyID == key }
    }

    func close(member subject: String, of tenant: UUID) {
        close(Closing(code: .policyViolation, reason: "Your roles no longer allow realtime:subscribe.")) {
            $0.tenantID == tenant && $0.subject == subject
        }
    }

    /// Closes every socket of the tenant.
    func close(tenant: UUID) {
        close(Closing(code: .policyViolation, reason: "The organization is suspended.")) { $0.tenantID == tenant }
    }

    /// Closes every socket, as the service stops: its clients reconnect to another replica.
    func closeAll() {
        close(Closing(code: .goingAway, reason: "The server is stopping; reconnect with last_event_id.")) { _ in true }
    }

    private func close(_ closing: Closing, where matches: (Subscriber) -> Bool) {
        sockets.withLock { sockets in
            for socket in sockets.values where matches(socket.subscriber) { socket.close.yield(closing) }
        }
    }
}

/// Closes the open sockets when the service is asked to stop, and waits (a few seconds at most)
/// until their close frames are written: the server, asked to stop next, would otherwise end
/// their handlers first, and the clients would not learn to reconnect elsewhere.
struct ClosingSocketsOnShutdown: Service {
    let feeds: OpenFeeds
    static let closeWait = Duration.seconds(5)

    func run() async throws {
        try? await gracefulShutdown()
        feeds.closeAll()
        let deadline = ContinuousClock.now + Self.closeWait
        while feeds.count > 0, ContinuousClock.now < deadline {
            try? await Task.sleep(for: .milliseconds(10))
        }
    }
}
