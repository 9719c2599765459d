/// A core NATS subscription whose messages the connection's event loop hands to `onMessage`
/// (which must not block).
///
/// `onComplete` runs once after a drain, or when the bus closes: then no more messages come.
/// Released without a drain, the subscription ends quietly.
final class Subscription: Sendable {
    private let connection: CoreConnection
    private let sid: UInt64
    let subject: String

    init(
        bus: Bus, subject: String, queue: String? = nil,
        onMessage: @escaping @Sendable (NATSMessage) -> Void,
        onComplete: @escaping @Sendable () -> Void = {}
    ) throws(BusError) {
        connection = bus.core
        sid = try bus.core.subscribe(subject: subject, queue: queue, onMessage: onMessage, onComplete: onComplete)
        self.subject = subject
    }

    /// Stops interest; messages already sent by the server are still delivered, then `onComplete` runs.
    func drain() {
        connection.drain(sid)
    }

    deinit {
        connection.unsubscribe(sid)
    }
}
