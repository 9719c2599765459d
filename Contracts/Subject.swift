import Foundation

/// Builders for every NATS subject Switchyard uses, so no service spells one by hand.
public enum Subject {
    /// Every event of every tenant: the subjects of the `EVENTS` stream.
    public static let allEvents = "evt.>"
    /// Every dead letter: the subjects of the `DLQ` stream.
    public static let allDeadLetters = "dlq.>"

    /// `evt.<tenant_id>.<domain>.<event>`
    public static func event(tenant: UUID, type: EventType) -> String {
        "evt.\(token(tenant)).\(type.domain).\(type.name)"
    }

    /// One event type of every tenant, e.g. `evt.*.usage.recorded` for billing's consumer.
    public static func events(ofType type: EventType) -> String {
        "evt.*.\(type.domain).\(type.name)"
    }

    /// Every event of one tenant, e.g. for realtime fan-out.
    public static func events(ofTenant tenant: UUID) -> String {
        "evt.\(token(tenant)).>"
    }

    /// `svc.<service>.<verb>`: a request/reply endpoint served by the queue group `<service>`.
    public static func service(_ service: ServiceName, _ verb: String) -> String {
        precondition(SubjectToken.isValid(verb), "invalid verb \(verb)")
        return "svc.\(service.rawValue).\(verb)"
    }

    /// `dlq.<consumer>.<original subject>`
    public static func deadLetter(consumer: String, originalSubject: String) -> String {
        precondition(SubjectToken.isValid(consumer), "invalid consumer name \(consumer)")
        return "dlq.\(consumer).\(originalSubject)"
    }

    /// Every dead letter of one consumer.
    public static func deadLetters(consumer: String) -> String {
        "dlq.\(consumer).>"
    }

    /// Tenant ids appear in subjects in lowercase, as PostgreSQL prints them.
    public static func token(_ id: UUID) -> String { id.uuidString.lowercased() }
}

public enum SubjectToken {
    /// A subject token is non-empty and holds no separator, wildcard or whitespace.
    public static func isValid(_ token: String) -> Bool {
        !token.isEmpty && token.unicodeScalars.allSatisfy { scalar in
            scalar.value > 0x20 && scalar != "." && scalar != "*" && scalar != ">" && scalar.value != 0x7F
        }
    }
}

/// The seven services, by the name used in subjects, queue groups, logs and metrics.
public enum ServiceName: String, Codable, Sendable, CaseIterable {
    case gateway, router, orchestrator, realtime, ingestion, analytics, billing
}
