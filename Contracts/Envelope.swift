import Foundation

/// The name of an event: a domain and what happened in it, e.g. `usage.recorded`.
public struct EventType: Hashable, Sendable, Codable, CustomStringConvertible {
    public let domain: String
    public let name: String

    public init(domain: String, name: String) {
        precondition(SubjectToken.isValid(domain) && SubjectToken.isValid(name), "invalid event type \(domain).\(name)")
        self.domain = domain
        self.name = name
    }

    /// Parses `domain.name`; nil when it is not exactly two valid subject tokens.
    public init?(_ text: String) {
        let parts = text.split(separator: ".", omittingEmptySubsequences: false).map(String.init)
        guard parts.count == 2, parts.allSatisfy(SubjectToken.isValid) else { return nil }
        self.domain = parts[0]
        self.name = parts[1]
    }

    public var description: String { "\(domain).\(name)" }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        let text = try container.decode(String.self)
        guard let type = EventType(text) else {
            throw DecodingError.dataCorruptedError(in: container, debugDescription: "invalid event type \"\(text)\"")
        }
        self = type
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(description)
    }
}

extension UUID {
    /// The tenant of an event that concerns every tenant (the price book changed, a catalog was
    /// reloaded): the nil UUID, which no tenant has.
    public static let everyTenant = UUID(uuid: (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0))
}

/// What every event payload declares about itself.
public protocol EventPayload: Codable, Sendable, Equatable {
    static var eventType: EventType { get }
    /// Bumped when the payload changes incompatibly; consumers read `version` before `payload`.
    static var version: Int { get }
}

/// The wrapper every event travels in. `id` is time-ordered and doubles as the JetStream
/// `Nats-Msg-Id`, so a retried publish is stored once.
public struct Envelope<Payload: EventPayload>: Codable, Sendable, Equatable {
    public var id: UUID
    public var type: EventType
    public var version: Int
    public var tenantID: UUID
    public var occurredAt: Date
    /// The request or workflow this event belongs to, carried unchanged across services.
    public var correlationID: String?
    /// The id of the event or request that directly caused this one.
    public var causationID: String?
    /// W3C trace context of the producer, when it was traced.
    public var traceparent: String?
    public var payload: Payload

    public init(
        id: UUID = .timeOrdered(),
        tenantID: UUID,
        occurredAt: Date = Date(),
        correlationID: String? = nil,
        causationID: String? = nil,
        traceparent: String? = nil,
        payload: Payload
    ) {
        self.id = id
        self.type = Payload.eventType
        self.version = Payload.version
        self.tenantID = tenantID
        self.occurredAt = occurredAt.roundedToMilliseconds
        self.correlationID = correlationID
        self.causationID = causationID
        self.traceparent = traceparent
        self.payload = payload
    }

    /// The subject this event is published on: `evt.<tenant_id>.<domain>.<event>`.
    public var subject: String { Subject.event(tenant: tenantID, type: type) }

    enum CodingKeys: String, CodingKey {
        case id, type, version
        case tenantID = "tenant_id"
        case occurredAt = "occurred_at"
        case correlationID = "correlation_id"
        case causationID = "causation_id"
        case traceparent, payload
    }
}

/// The part of an envelope that can be read without knowing its payload type: enough to route,
/// deduplicate or dead-letter an event.
public struct EnvelopeHeader: Codable, Sendable, Equatable {
    public var id: UUID
    public var type: EventType
    public var version: Int
    public var tenantID: UUID
    public var occurredAt: Date
    public var correlationID: String?

    enum CodingKeys: String, CodingKey {
        case id, type, version
        case tenantID = "tenant_id"
        case occurredAt = "occurred_at"
        case correlationID = "correlation_id"
    }
}
