import Contracts
import Foundation
import Logging

/// Reads the messages a stream stores, in stream order and a batch at a time, through a
/// consumer made for this one read: nothing is acknowledged, and the consumer is deleted when the
/// read ends (or by the server a minute after its reader is gone). Reading by sequence costs a
/// request per message instead, and reads every subject's messages to find one subject's.
public final class StreamReader: Sendable {
    /// Where a read begins.
    public enum Start: Sendable, Equatable {
        /// At the stream's first message.
        case first
        /// At the first message stored after the reader is made.
        case new
        /// At the message after this stream sequence.
        case after(UInt64)
    }

    let bus: Bus
    let spec: ConsumerSpec
    private let subscription: PullSubscription

    /// `filterSubject` picks the messages read, wildcards allowed (`evt.<tenant>.>`). A `next`
    /// that finds nothing waits up to `wait` for the first message to be stored: a short wait
    /// reads what the stream holds and ends, a long one follows it as it grows.
    public init(
        bus: Bus, stream: String, filterSubject: String, from start: Start = .first, wait: Duration = .milliseconds(100), logger: Logger
    ) async throws {
        var spec = ConsumerSpec(name: "read-\(Subject.token(UUID()))", filterSubject: filterSubject)
        spec.stream = stream
        spec.fetchWait = wait
        var configuration = ConsumerConfiguration(
            name: spec.name, ackPolicy: "none", filterSubject: filterSubject,
            inactiveThreshold: Duration.seconds(60).nanoseconds)
        switch start {
        case .first: configuration.deliverPolicy = "all"
        case .new: configuration.deliverPolicy = "new"
        case .after(let sequence):
            configuration.deliverPolicy = "by_start_sequence"
            configuration.optStartSequence = sequence + 1
        }
        _ = try await bus.jetStreamAPI(
            "CONSUMER.CREATE.\(stream).\(spec.name)",
            payload: JSONCoding.encode(ConsumerCreateRequest(streamName: stream, config: configuration)),
            answer: ConsumerInformation.self, operation: "reader \(spec.name) on \(stream)")
        self.bus = bus
        self.spec = spec
        subscription = try PullSubscription(bus: bus, spec: spec, logger: logger)
    }

    /// Up to `batch` of the next messages, in stream order: those stored already, or else the
    /// first to be stored within the reader's wait; none when none came.
    public func next(_ batch: Int) async throws -> [Delivery] {
        try await subscription.fetch(batch)
    }

    /// Ends a `next` under way at once, with what it had, and reads nothing more; for a task
    /// being cancelled, which `close` then follows.
    public func interrupt() {
        subscription.close()
    }

    /// Stops the read and deletes its consumer.
    public func close() async {
        subscription.close()
        try? await bus.deleteConsumer(stream: spec.stream, name: spec.name)
    }
}
