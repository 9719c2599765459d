import Contracts
import Foundation
import Logging

/// Reads the messages a stream stores, in stream order and a batch at a time, through a
/// consumer made for this one read: nothing is acknowledged, and the consumer is deleted when the
/// read ends (or by the server a minute after its reader is gone). Reading by sequence costs a
/// request per message instead, and reads every subject's messages to find one subject's.
public final class StreamReader: Sendable {
    let bus: Bus
    let spec: ConsumerSpec
    private let subscription: PullSubscription

    /// `filterSubject` picks the messages read, wildcards allowed (`evt.<tenant>.>`).
    public init(bus: Bus, stream: String, filterSubject: String, logger: Logger) async throws {
        var spec = ConsumerSpec(name: "read-\(Subject.token(UUID()))", filterSubject: filterSubject)
        spec.stream = stream
        // A fetch ends at once with what the consumer has; an empty one means the read is done.
        spec.fetchWait = .milliseconds(100)
        let configuration = ConsumerConfiguration(
            name: spec.name, ackPolicy: "none", filterSubject: filterSubject,
            inactiveThreshold: Duration.seconds(60).nanoseconds)
        _ = try await bus.jetStreamAPI(
            "CONSUMER.CREATE.\(stream).\(spec.name)",
            payload: JSONCoding.encode(ConsumerCreateRequest(streamName: stream, config: configuration)),
            answer: ConsumerInformation.self, operation: "reader \(spec.name) on \(stream)")
        self.bus = bus
        self.spec = spec
        subscription = try PullSubscription(bus: bus, spec: spec, logger: logger)
    }

    /// Up to `batch` of the next messages, in stream order; none once the reader has caught up
    /// with the stream's end.
    public func next(_ batch: Int) async throws -> [Delivery] {
        try await subscription.fetch(batch)
    }

    /// Stops the read and deletes its consumer.
    public func close() async {
        subscription.close()
        try? await bus.deleteConsumer(stream: spec.stream, name: spec.name)
    }
}
