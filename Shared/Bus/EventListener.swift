import Contracts
import Foundation
import Logging
import ServiceLifecycle

/// Hears every message on a subject as it is published, on core NATS: for state each replica
/// keeps for itself (a gateway's key cache), where every replica must see every message and a
/// message missed while disconnected is made up for by other means (a cache's time to live).
/// Work that must not be missed belongs to a `DurableConsumer`.
public final class EventListener: Service, Sendable {
    let bus: Bus
    let subject: String
    let logger: Logger
    let onMessage: @Sendable (NATSMessage) async -> Void

    public init(bus: Bus, subject: String, logger: Logger, onMessage: @escaping @Sendable (NATSMessage) async -> Void) {
        self.bus = bus
        self.subject = subject
        self.logger = logger
        self.onMessage = onMessage
    }

    public func run() async throws {
        let (messages, continuation) = AsyncStream.makeStream(of: NATSMessage.self)
        let subscription = try Subscription(
            bus: bus, subject: subject,
            onMessage: { continuation.yield($0) },
            onComplete: { continuation.finish() })
        logger.debug("listening", metadata: ["subject": "\(subject)"])
        await withGracefulShutdownHandler {
            for await message in messages {
                await onMessage(message)
            }
        } onGracefulShutdown: {
            subscription.drain()
        }
        withExtendedLifetime(subscription) {}
    }
}

extension EventListener {
    /// Listens to one type of event of every tenant, handing `apply` each one decoded; an
    /// unreadable one is logged and skipped. For caches that drop what an event changed.
    public convenience init<Payload: EventPayload>(
        bus: Bus, events type: Payload.Type, logger: Logger, apply: @escaping @Sendable (Envelope<Payload>) -> Void
    ) {
        self.init(bus: bus, subject: Subject.events(ofType: Payload.eventType), logger: logger) { message in
            guard let event = try? JSONCoding.decode(Envelope<Payload>.self, from: message.payload) else {
                logger.warning("unreadable event ignored", metadata: ["subject": "\(message.subject)"])
                return
            }
            apply(event)
            logger.debug("event applied", metadata: ["event": "\(Payload.eventType)", "tenant_id": "\(Subject.token(event.tenantID))"])
        }
    }
}
