import Contracts
import Foundation
import NIOCore

/// A JetStream stream Switchyard keeps.
public struct StreamSpec: Sendable, Equatable {
    public var name: String
    public var subjects: [String]
    /// How long a published message id is remembered for deduplication.
    public var duplicateWindow: Duration
    /// Messages older than this are removed; nil keeps them until limits or purge.
    public var maxAge: Duration?

    public init(name: String, subjects: [String], duplicateWindow: Duration = .seconds(120), maxAge: Duration? = nil) {
        self.name = name
        self.subjects = subjects
        self.duplicateWindow = duplicateWindow
        self.maxAge = maxAge
    }

    /// Every event of every tenant.
    public static let events = StreamSpec(name: "EVENTS", subjects: [Subject.allEvents])
    /// Messages consumers could not handle, kept until an operator replays or purges them.
    public static let deadLetters = StreamSpec(name: "DLQ", subjects: [Subject.allDeadLetters])
}

/// The server's acknowledgement of a stored message.
public struct PublishAck: Sendable, Equatable {
    public var stream: String
    public var sequence: UInt64
    /// True when a message with the same `Nats-Msg-Id` was stored already: nothing new was stored.
    public var duplicate: Bool
}

/// What a stream answers a publish: where it stored the message, or why not.
private struct StreamAcknowledgement: Decodable {
    var stream: String?
    var seq: UInt64?
    var duplicate: Bool?
    var error: APIRefusal.Failure?
}

/// A stored message read back by sequence.
public struct StoredMessage: Sendable {
    public var sequence: UInt64
    public var message: NATSMessage
    public var storedAt: Date
}

/// A durable consumer's progress through its stream.
public struct ConsumerBacklog: Sendable, Equatable {
    /// Messages not yet delivered.
    public var pending: UInt64
    /// Delivered and not yet acknowledged.
    public var unacknowledged: Int64
    /// The stream sequence up to which every message the consumer takes is acknowledged.
    public var ackFloor: UInt64

    /// Nothing waiting and nothing in hand.
    public var isCaughtUp: Bool { pending == 0 && unacknowledged == 0 }
}

/// Counts and bounds of a stream.
public struct StreamState: Sendable, Equatable {
    public var messages: UInt64
    public var firstSequence: UInt64
    public var lastSequence: UInt64
}

extension Bus {
    /// Creates the streams, or brings an existing stream's subjects and limits to the spec.
    /// Safe to run from every replica at every start.
    public func ensureStreams(_ specs: [StreamSpec] = [.events, .deadLetters]) async throws {
        for spec in specs {
            try await ensureStream(spec)
        }
    }

    private func ensureStream(_ spec: StreamSpec) async throws {
        let operation = "stream \(spec.name)"
        let configuration = try JSONCoding.encode(StreamConfiguration(spec))
        func create() async throws {
            // The server answers a stream that exists with the same configuration as if it had
            // made it.
            _ = try await jetStreamAPI("STREAM.CREATE.\(spec.name)", payload: configuration, answer: StreamInformation.self, operation: operation)
        }
        do {
            do {
                try await create()
            } catch let error as BusError where error.jetStreamCode == JetStreamErrorCode.subjectsOverlap {
                // Another client created the stream between this one's lookup and its add
                // (every service and test run does this at start): add again, which now finds
                // it by name.
                try await create()
            }
        } catch let error as BusError where error.jetStreamCode == JetStreamErrorCode.streamNameInUse {
            _ = try await jetStreamAPI("STREAM.UPDATE.\(spec.name)", payload: configuration, answer: StreamInformation.self, operation: operation)
        }
        logger.debug("stream ready", metadata: ["stream": "\(spec.name)"])
    }

    /// Stores an event in `EVENTS` and waits for the server's acknowledgement. The envelope id
    /// is the message id, so publishing the same envelope again stores nothing new.
    @discardableResult
    public func publish<Payload>(_ envelope: Envelope<Payload>) async throws -> PublishAck {
        var headers = [
            BusHeader.messageID: envelope.id.uuidString.lowercased(),
            BusHeader.eventType: envelope.type.description,
        ]
        if let correlationID = envelope.correlationID { headers[BusHeader.correlationID] = correlationID }
        let message = NATSMessage(subject: envelope.subject, headers: headers, payload: try JSONCoding.encode(envelope))
        return try await publishToStream(message)
    }

    /// Stores a message in the stream that holds its subject and waits for the acknowledgement.
    ///
    /// A JetStream publish is a request on the message's subject that the stream answers with
    /// its acknowledgement; it goes through the connection's reply inbox like any request, so no
    /// thread waits for it.
    public func publishToStream(_ message: NATSMessage, timeout: Duration = .seconds(5)) async throws -> PublishAck {
        let operation = "publish \(message.subject)"
        let reply = try await exchange(message, timeout: timeout)
        if reply.headers["Status"] == "503" {
            throw BusError.jetStream(operation: operation, code: 503, detail: "no stream stores \(message.subject)")
        }
        guard let answer = try? JSONCoding.decode(StreamAcknowledgement.self, from: reply.payload) else {
            throw BusError.failed(operation: operation, status: "unreadable acknowledgement", detail: String(decoding: reply.payload, as: UTF8.self))
        }
        if let error = answer.error { throw error.busError(operation) }
        guard let stream = answer.stream, let sequence = answer.seq else {
            throw BusError.failed(operation: operation, status: "no acknowledgement", detail: "")
        }
        return PublishAck(stream: stream, sequence: sequence, duplicate: answer.duplicate ?? false)
    }

    /// The message at `sequence`, or nil when there is none (never stored, deleted or purged).
    public func storedMessage(stream: String, sequence: UInt64) async throws -> StoredMessage? {
        let operation = "get \(stream) #\(sequence)"
        let answer: StoredMessageAnswer
        do {
            answer = try await jetStreamAPI(
                "STREAM.MSG.GET.\(stream)", payload: JSONCoding.encode(SequenceRequest(seq: sequence)),
                answer: StoredMessageAnswer.self, operation: operation)
        } catch let error as BusError where error.jetStreamCode == JetStreamErrorCode.noMessageFound {
            return nil
        }
        let stored = answer.message
        guard let payload = Data(base64Encoded: stored.data ?? ""),
              let headerBlock = Data(base64Encoded: stored.hdrs ?? ""),
              let storedAt = JSONCoding.parse(stored.time) else {
            throw BusError.failed(operation: operation, status: "unreadable message", detail: "")
        }
        let headers = headerBlock.isEmpty ? [:] : CoreProtocolDecoder.parseHeaders(ByteBuffer(bytes: headerBlock))
        return StoredMessage(
            sequence: stored.seq, message: NATSMessage(subject: stored.subject, headers: headers, payload: payload),
            storedAt: storedAt)
    }

    /// Deletes a consumer of `stream`; nothing happens when there is none.
    public func deleteConsumer(stream: String, name: String) async throws {
        do {
            try await jetStreamCommand("CONSUMER.DELETE.\(stream).\(name)", operation: "delete consumer \(name) on \(stream)")
        } catch let error as BusError where error.jetStreamCode == JetStreamErrorCode.consumerNotFound {
            return
        }
    }

    public func streamState(_ stream: String) async throws -> StreamState {
        let state = try await jetStreamAPI("STREAM.INFO.\(stream)", answer: StreamInformation.self, operation: "stream info \(stream)").state
        return StreamState(messages: state.messages, firstSequence: state.firstSequence, lastSequence: state.lastSequence)
    }

    /// How many messages of the stream are on subjects matching `filter` (wildcards allowed).
    /// The server lists the matching subjects a page at a time; every page is read.
    public func messageCount(stream: String, subjects filter: String) async throws -> UInt64 {
        var count: UInt64 = 0
        var subjectsRead = 0
        while true {
            let page = try await jetStreamAPI(
                "STREAM.INFO.\(stream)", payload: JSONCoding.encode(StreamInfoRequest(subjectsFilter: filter, offset: subjectsRead)),
                answer: StreamInformation.self, operation: "stream info \(stream)")
            let subjects = page.state.subjects ?? [:]
            count += subjects.values.reduce(0, +)
            subjectsRead += subjects.count
            guard let total = page.total, !subjects.isEmpty, subjectsRead < total else { return count }
        }
    }

    /// How far behind a durable consumer is: messages not yet delivered, delivered but not yet
    /// acknowledged, and the stream sequence below which every message it takes is acknowledged.
    public func consumerBacklog(stream: String, consumer: String) async throws -> ConsumerBacklog {
        let info = try await jetStreamAPI(
            "CONSUMER.INFO.\(stream).\(consumer)", answer: ConsumerInformation.self, operation: "consumer info \(consumer) on \(stream)")
        return ConsumerBacklog(pending: info.numPending, unacknowledged: info.numAckPending, ackFloor: info.ackFloor.streamSequence)
    }

    /// Removes one message; false when it was not there.
    @discardableResult
    public func deleteStoredMessage(stream: String, sequence: UInt64) async throws -> Bool {
        do {
            try await jetStreamCommand(
                "STREAM.MSG.DELETE.\(stream)", payload: JSONCoding.encode(SequenceRequest(seq: sequence, noErase: true)),
                operation: "delete \(stream) #\(sequence)")
            return true
        } catch BusError.jetStream(_, let code, let detail)
            where code == JetStreamErrorCode.noMessageFound || code == JetStreamErrorCode.sequenceNotFound
            // The server answers a missing sequence with 10057, "no message found", through the
            // generic deletion failure code.
            || (code == JetStreamErrorCode.messageDeleteFailed && detail.contains("no message found")) {
            return false
        }
    }

    /// Removes every message of the stream on `subject` (a filter with wildcards), or all.
    public func purge(stream: String, subject: String? = nil) async throws {
        try await jetStreamCommand(
            "STREAM.PURGE.\(stream)", payload: JSONCoding.encode(PurgeRequest(filter: subject)), operation: "purge \(stream)")
    }

    /// A deletion or purge: done when the server answers `{"success": true}`.
    private func jetStreamCommand(_ endpoint: String, payload: Data = Data(), operation: String) async throws {
        let answer = try await jetStreamAPI(endpoint, payload: payload, answer: SuccessAnswer.self, operation: operation)
        guard answer.success else {
            throw BusError.failed(operation: operation, status: "not done", detail: "the server answered without success")
        }
    }
}
