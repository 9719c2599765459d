import Contracts
import Foundation

/// A message a consumer gave up on, as kept in the `DLQ` stream.
public struct DeadLetter: Sendable {
    /// Its sequence in the `DLQ` stream: how operators name it.
    public var sequence: UInt64
    public var consumer: String
    public var originalSubject: String
    public var originalStream: String
    public var originalSequence: UInt64
    public var deliveries: Int
    public var error: String
    public var failedAt: Date?
    public var message: NATSMessage

    init?(_ stored: StoredMessage) {
        let headers = stored.message.headers
        guard let consumer = headers[BusHeader.deadLetterConsumer],
              let subject = headers[BusHeader.deadLetterSubject] else { return nil }
        sequence = stored.sequence
        self.consumer = consumer
        originalSubject = subject
        originalStream = headers[BusHeader.deadLetterStream] ?? StreamSpec.events.name
        originalSequence = headers[BusHeader.deadLetterSequence].flatMap(UInt64.init) ?? 0
        deliveries = headers[BusHeader.deadLetterDeliveries].flatMap(Int.init) ?? 0
        error = headers[BusHeader.deadLetterError] ?? ""
        failedAt = headers[BusHeader.deadLetterFailedAt].flatMap { try? Date($0, strategy: .iso8601) }
        message = stored.message
    }
}

/// Copies failed messages into the `DLQ` stream, and lists, replays and purges them.
public struct DeadLetterQueue: Sendable {
    let bus: Bus
    public static let stream = StreamSpec.deadLetters.name

    public init(bus: Bus) {
        self.bus = bus
    }

    /// Copies a delivery to `dlq.<consumer>.<subject>` with headers naming where it came from
    /// and why it failed. The copy's message id is its origin, so copying twice stores it once.
    func copy(_ delivery: Delivery, error: String) async throws {
        try await store(
            delivery.message, consumer: delivery.consumer, stream: delivery.stream,
            sequence: delivery.streamSequence, deliveries: delivery.attempt, error: error)
    }

    /// Copies a message still stored in its stream, by sequence.
    func copyStored(stream: String, sequence: UInt64, consumer: String, deliveries: Int, error: String) async throws {
        guard let stored = try await bus.storedMessage(stream: stream, sequence: sequence) else { return }
        try await store(stored.message, consumer: consumer, stream: stream, sequence: sequence, deliveries: deliveries, error: error)
    }

    private func store(
        _ original: NATSMessage, consumer: String, stream: String, sequence: UInt64, deliveries: Int, error: String
    ) async throws {
        var headers = original.headers
        headers[BusHeader.messageID] = "dlq:\(consumer):\(stream):\(sequence)"
        headers[BusHeader.deadLetterConsumer] = consumer
        headers[BusHeader.deadLetterSubject] = original.subject
        headers[BusHeader.deadLetterStream] = stream
        headers[BusHeader.deadLetterSequence] = String(sequence)
        headers[BusHeader.deadLetterDeliveries] = String(deliveries)
        // One header line: newlines would end it.
        headers[BusHeader.deadLetterError] = String(error.prefix(1000)).replacingOccurrences(of: "\n", with: " ")
        headers[BusHeader.deadLetterFailedAt] = Date().formatted(.iso8601)
        headers[BusHeader.replayFor] = nil
        _ = try await bus.publishToStream(NATSMessage(
            subject: Subject.deadLetter(consumer: consumer, originalSubject: original.subject),
            headers: headers, payload: original.payload))
    }

    /// Dead letters in order, optionally of one consumer only.
    public func list(consumer: String? = nil, limit: Int = 100) async throws -> [DeadLetter] {
        let state = try await bus.streamState(Self.stream)
        guard state.messages > 0 else { return [] }
        var letters: [DeadLetter] = []
        var sequence = state.firstSequence
        while sequence <= state.lastSequence && letters.count < limit {
            if let stored = try await bus.storedMessage(stream: Self.stream, sequence: sequence),
               let letter = DeadLetter(stored), consumer == nil || letter.consumer == consumer {
                letters.append(letter)
            }
            sequence += 1
        }
        return letters
    }

    public func show(_ sequence: UInt64) async throws -> DeadLetter? {
        try await bus.storedMessage(stream: Self.stream, sequence: sequence).flatMap(DeadLetter.init)
    }

    /// Publishes the original message again on its subject, marked so that only the consumer
    /// that failed handles it, then removes it from the DLQ. False when there is no such entry.
    public func replay(_ sequence: UInt64) async throws -> Bool {
        guard let letter = try await show(sequence) else { return false }
        var headers = letter.message.headers.filter { !$0.key.hasPrefix("Switchyard-DLQ-") }
        headers[BusHeader.replayFor] = letter.consumer
        // A new id: the original's is still in the stream's duplicate window or the stream.
        headers[BusHeader.messageID] = "replay:\(letter.consumer):\(letter.originalStream):\(letter.originalSequence):\(sequence)"
        _ = try await bus.publishToStream(NATSMessage(subject: letter.originalSubject, headers: headers, payload: letter.message.payload))
        try await bus.deleteStoredMessage(stream: Self.stream, sequence: sequence)
        return true
    }

    /// Removes one entry; false when it was not there.
    public func delete(_ sequence: UInt64) async throws -> Bool {
        try await bus.deleteStoredMessage(stream: Self.stream, sequence: sequence)
    }

    /// Removes every entry, or every entry of one consumer.
    public func purge(consumer: String? = nil) async throws {
        try await bus.purge(stream: Self.stream, subject: consumer.map(Subject.deadLetters(consumer:)))
    }
}
