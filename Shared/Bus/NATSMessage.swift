import Foundation

/// A NATS message: what the core connection reads and writes.
public struct NATSMessage: Sendable {
    public var subject: String
    public var replyTo: String?
    /// Header names as sent; one value each (Switchyard never repeats a header).
    public var headers: [String: String]
    public var payload: Data

    public init(subject: String, replyTo: String? = nil, headers: [String: String] = [:], payload: Data = Data()) {
        self.subject = subject
        self.replyTo = replyTo
        self.headers = headers
        self.payload = payload
    }
}

/// Header names Switchyard puts on its messages.
public enum BusHeader {
    /// JetStream's deduplication key: the envelope id of an event.
    public static let messageID = "Nats-Msg-Id"
    /// Unix milliseconds after which the caller no longer waits for the reply.
    public static let deadline = "Switchyard-Deadline"
    /// Carried from the gateway's request through every service and event it causes.
    public static let correlationID = "Switchyard-Correlation-Id"
    public static let eventType = "Switchyard-Event-Type"
    /// Present on a reply that is an error: the body is a `ServiceFault`.
    public static let fault = "Switchyard-Fault"
    /// The position of a chunk in a streamed reply, from 0.
    public static let chunk = "Switchyard-Chunk"
    /// Present on the last chunk of a streamed reply.
    public static let final = "Switchyard-Final"
    /// On a request for a streamed reply: how many chunks the callee may send ahead of what
    /// the caller has read.
    public static let streamWindow = "Switchyard-Stream-Window"
    /// On a message to a stream's control subject: `cancel` or `read`.
    public static let streamControl = "Switchyard-Stream-Control"
    /// With `read`: how many chunks the caller has read so far.
    public static let streamRead = "Switchyard-Stream-Read"
    /// On a replayed dead letter: the only consumer that should handle it.
    public static let replayFor = "Switchyard-Replay-For"

    // Set on dead letters.
    public static let deadLetterConsumer = "Switchyard-DLQ-Consumer"
    public static let deadLetterSubject = "Switchyard-DLQ-Subject"
    public static let deadLetterStream = "Switchyard-DLQ-Stream"
    public static let deadLetterSequence = "Switchyard-DLQ-Stream-Sequence"
    public static let deadLetterDeliveries = "Switchyard-DLQ-Deliveries"
    public static let deadLetterError = "Switchyard-DLQ-Error"
    public static let deadLetterFailedAt = "Switchyard-DLQ-Failed-At"
}
