import Foundation

/// Interest in the first message on a subject that `matches`, registered when this is made, so
/// a message caused by what the caller does next is not missed: the subscription and the
/// caller's later publishes leave on the same connection, in order.
public final class AwaitedMessage: Sendable {
    private let subscription: Subscription
    private let messages: AsyncStream<NATSMessage>

    public init(bus: Bus, subject: String, matching: @escaping @Sendable (NATSMessage) -> Bool) throws(BusError) {
        let (messages, continuation) = AsyncStream.makeStream(of: NATSMessage.self, bufferingPolicy: .bufferingOldest(1))
        subscription = try Subscription(
            bus: bus, subject: subject,
            onMessage: { message in if matching(message) { continuation.yield(message) } },
            onComplete: { continuation.finish() })
        self.messages = messages
    }

    /// The message, or nil when none came within `timeout`. Ends the interest either way.
    public func next(within timeout: Duration) async -> NATSMessage? {
        defer { subscription.drain() }
        return await withTaskGroup(of: NATSMessage?.self) { group in
            group.addTask { [messages] in
                for await message in messages { return message }
                return nil
            }
            group.addTask {
                try? await Task.sleep(for: timeout)
                return nil
            }
            let first = await group.next() ?? nil
            group.cancelAll()
            return first
        }
    }
}
