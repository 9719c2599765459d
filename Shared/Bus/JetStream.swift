import CNats
import Contracts
import Foundation

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
    struct Failure: Decodable {
        var code: Int?
        var errCode: Int?
        var description: String?

        enum CodingKeys: String, CodingKey {
            case code, description
            case errCode = "err_code"
        }
    }

    var stream: String?
    var seq: UInt64?
    var duplicate: Bool?
    var error: Failure?
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
        try await blocking {
            try withStreamConfig(spec) { config in
                var info: UnsafeMutablePointer<jsStreamInfo>?
                var code = jsErrCode(rawValue: 0)
                var status = js_AddStream(&info, self.jetStream, &config, nil, &code)
                if status != NATS_OK, code == JSStreamSubjectOverlapErr {
                    // Another client created the stream between this one's lookup and its add
                    // (every service and test run does this at start): add again, which now
                    // finds it by name.
                    code = jsErrCode(rawValue: 0)
                    status = js_AddStream(&info, self.jetStream, &config, nil, &code)
                }
                if status != NATS_OK, code == JSStreamNameExistErr {
                    code = jsErrCode(rawValue: 0)
                    status = js_UpdateStream(&info, self.jetStream, &config, nil, &code)
                }
                jsStreamInfo_Destroy(info)
                try check(status, "stream \(spec.name)", jsCode: code)
            }
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
        let inbox = try inbox()
        let (replySubject, waiter) = inbox.expectReply()
        defer { inbox.forget(replySubject) }
        var message = message
        message.replyTo = replySubject
        try publish(message)
        let reply = try await waiter.value(timeout: timeout, subject: message.subject)
        if reply.headers["Status"] == "503" {
            throw BusError.jetStream(operation: operation, code: 503, detail: "no stream stores \(message.subject)")
        }
        guard let answer = try? JSONCoding.decode(StreamAcknowledgement.self, from: reply.payload) else {
            throw BusError.failed(operation: operation, status: "unreadable acknowledgement", detail: String(decoding: reply.payload, as: UTF8.self))
        }
        if let error = answer.error {
            throw BusError.jetStream(operation: operation, code: error.errCode ?? error.code ?? 0, detail: error.description ?? "")
        }
        guard let stream = answer.stream, let sequence = answer.seq else {
            throw BusError.failed(operation: operation, status: "no acknowledgement", detail: "")
        }
        return PublishAck(stream: stream, sequence: sequence, duplicate: answer.duplicate ?? false)
    }

    /// The message at `sequence`, or nil when there is none (never stored, deleted or purged).
    public func storedMessage(stream: String, sequence: UInt64) async throws -> StoredMessage? {
        return try await blocking {
            var cMessage: OpaquePointer?
            var code = jsErrCode(rawValue: 0)
            let status = js_GetMsg(&cMessage, self.jetStream, stream, sequence, nil, &code)
            if status == NATS_NOT_FOUND || code == JSNoMessageFoundErr { return nil }
            try check(status, "get \(stream) #\(sequence)", jsCode: code)
            guard let cMessage else { return nil }
            defer { natsMsg_Destroy(cMessage) }
            // A message read back from a stream carries its stored time in `natsMsg_GetTime` (ns).
            let nanoseconds = natsMsg_GetTime(cMessage)
            return StoredMessage(
                sequence: sequence, message: NATSMessage(copying: cMessage),
                storedAt: Date(timeIntervalSince1970: Double(nanoseconds) / 1_000_000_000))
        }
    }

    /// Deletes a consumer of `stream`; nothing happens when there is none.
    public func deleteConsumer(stream: String, name: String) async throws {
        try await blocking {
            var code = jsErrCode(rawValue: 0)
            let status = js_DeleteConsumer(self.jetStream, stream, name, nil, &code)
            if status == NATS_NOT_FOUND || code == JSConsumerNotFoundErr { return }
            try check(status, "delete consumer \(name) on \(stream)", jsCode: code)
        }
    }

    public func streamState(_ stream: String) async throws -> StreamState {
        return try await blocking {
            var info: UnsafeMutablePointer<jsStreamInfo>?
            var code = jsErrCode(rawValue: 0)
            let status = js_GetStreamInfo(&info, self.jetStream, stream, nil, &code)
            defer { jsStreamInfo_Destroy(info) }
            try check(status, "stream info \(stream)", jsCode: code)
            let state = info!.pointee.State
            return StreamState(messages: state.Msgs, firstSequence: state.FirstSeq, lastSequence: state.LastSeq)
        }
    }

    /// How many messages of the stream are on subjects matching `filter` (wildcards allowed).
    public func messageCount(stream: String, subjects filter: String) async throws -> UInt64 {
        return try await blocking {
            var options = jsOptions()
            jsOptions_Init(&options)
            var info: UnsafeMutablePointer<jsStreamInfo>?
            var code = jsErrCode(rawValue: 0)
            let status = filter.withCString { filter in
                options.Stream.Info.SubjectsFilter = filter
                return js_GetStreamInfo(&info, self.jetStream, stream, &options, &code)
            }
            defer { jsStreamInfo_Destroy(info) }
            try check(status, "stream info \(stream)", jsCode: code)
            guard let subjects = info!.pointee.State.Subjects else { return 0 }
            return (0..<Int(subjects.pointee.Count)).reduce(0) { $0 + subjects.pointee.List[$1].Msgs }
        }
    }

    /// How far behind a durable consumer is: messages not yet delivered, delivered but not yet
    /// acknowledged, and the stream sequence below which every message it takes is acknowledged.
    public func consumerBacklog(stream: String, consumer: String) async throws -> ConsumerBacklog {
        return try await blocking {
            var info: UnsafeMutablePointer<jsConsumerInfo>?
            var code = jsErrCode(rawValue: 0)
            let status = js_GetConsumerInfo(&info, self.jetStream, stream, consumer, nil, &code)
            defer { jsConsumerInfo_Destroy(info) }
            try check(status, "consumer info \(consumer) on \(stream)", jsCode: code)
            let state = info!.pointee
            return ConsumerBacklog(pending: state.NumPending, unacknowledged: state.NumAckPending, ackFloor: state.AckFloor.Stream)
        }
    }

    /// Removes one message; false when it was not there.
    @discardableResult
    public func deleteStoredMessage(stream: String, sequence: UInt64) async throws -> Bool {
        return try await blocking {
            var code = jsErrCode(rawValue: 0)
            let status = js_DeleteMsg(self.jetStream, stream, sequence, nil, &code)
            // The server answers a missing sequence with 10057, "no message found", through the
            // generic deletion failure code.
            if status == NATS_NOT_FOUND || code == JSNoMessageFoundErr || code == JSSequenceNotFoundErr
                || (code == JSStreamMsgDeleteFailed && lastErrorText().contains("no message found")) { return false }
            try check(status, "delete \(stream) #\(sequence)", jsCode: code)
            return true
        }
    }

    /// Removes every message of the stream on `subject` (a filter with wildcards), or all.
    public func purge(stream: String, subject: String? = nil) async throws {
        try await blocking {
            var options = jsOptions()
            jsOptions_Init(&options)
            var code = jsErrCode(rawValue: 0)
            let status = withOptionalCString(subject) { subject in
                options.Stream.Purge.Subject = subject
                return js_PurgeStream(self.jetStream, stream, &options, &code)
            }
            try check(status, "purge \(stream)", jsCode: code)
        }
    }
}

/// Fills a C stream configuration whose strings live as long as `body` runs.
private func withStreamConfig<T>(_ spec: StreamSpec, _ body: (inout jsStreamConfig) throws -> T) throws -> T {
    var config = jsStreamConfig()
    jsStreamConfig_Init(&config)
    config.Storage = js_FileStorage
    config.Duplicates = spec.duplicateWindow.nanoseconds
    config.MaxAge = spec.maxAge?.nanoseconds ?? 0
    let name = strdup(spec.name)
    let subjects = spec.subjects.map { UnsafePointer(strdup($0)) }
    defer {
        free(name)
        subjects.forEach { free(UnsafeMutablePointer(mutating: $0)) }
    }
    config.Name = UnsafePointer(name)
    return try subjects.withUnsafeBufferPointer { buffer in
        config.Subjects = UnsafeMutablePointer(mutating: buffer.baseAddress)
        config.SubjectsLen = Int32(buffer.count)
        return try body(&config)
    }
}

func withOptionalCString<T>(_ string: String?, _ body: (UnsafePointer<CChar>?) throws -> T) rethrows -> T {
    guard let string else { return try body(nil) }
    return try string.withCString(body)
}
