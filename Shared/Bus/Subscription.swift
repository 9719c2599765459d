import CNats
import Foundation

/// A core NATS subscription whose messages the client's delivery thread hands to `onMessage`.
///
/// The box travels to C as an unmanaged pointer. It is retained until the client reports the
/// subscription complete (after a drain, an unsubscribe or the connection's close), when no
/// callback can run any more.
final class Subscription: @unchecked Sendable {
    private final class Callbacks: Sendable {
        let onMessage: @Sendable (NATSMessage) -> Void
        let onComplete: @Sendable () -> Void

        init(onMessage: @escaping @Sendable (NATSMessage) -> Void, onComplete: @escaping @Sendable () -> Void) {
            self.onMessage = onMessage
            self.onComplete = onComplete
        }
    }

    let handle: OpaquePointer
    let subject: String

    init(
        bus: Bus, subject: String, queue: String? = nil,
        onMessage: @escaping @Sendable (NATSMessage) -> Void,
        onComplete: @escaping @Sendable () -> Void = {}
    ) throws(BusError) {
        let context = Unmanaged.passRetained(Callbacks(onMessage: onMessage, onComplete: onComplete)).toOpaque()
        let deliver: natsMsgHandler = { _, _, message, context in
            guard let message, let context else { return }
            let callbacks = Unmanaged<Callbacks>.fromOpaque(context).takeUnretainedValue()
            let copy = NATSMessage(copying: message)
            natsMsg_Destroy(message)
            callbacks.onMessage(copy)
        }
        var handle: OpaquePointer?
        let status = if let queue {
            natsConnection_QueueSubscribe(&handle, bus.connection, subject, queue, deliver, context)
        } else {
            natsConnection_Subscribe(&handle, bus.connection, subject, deliver, context)
        }
        guard status == NATS_OK, let handle else {
            Unmanaged<Callbacks>.fromOpaque(context).release()
            throw busError(status, "subscribe \(subject)")
        }
        natsSubscription_SetOnCompleteCB(handle, { context in
            guard let context else { return }
            Unmanaged<Callbacks>.fromOpaque(context).takeRetainedValue().onComplete()
        }, context)
        // Never drop requests for being slow: the queue is bounded by what callers send.
        natsSubscription_SetPendingLimits(handle, -1, -1)
        self.handle = handle
        self.subject = subject
    }

    /// Stops interest; messages already received are still delivered, then `onComplete` runs.
    func drain() {
        natsSubscription_Drain(handle)
    }

    deinit {
        natsSubscription_Destroy(handle)
    }
}
