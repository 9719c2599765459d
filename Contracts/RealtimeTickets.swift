import Foundation

/// `POST /v1/realtime/tickets`' answer: a short-lived ticket that opens `/v1/realtime` as the
/// caller, for clients that cannot send an Authorization header on a WebSocket (browsers):
/// `new WebSocket(url + "?ticket=" + ticket)`.
public struct RealtimeTicket: Codable, Sendable, Equatable {
    public var object = "realtime.ticket"
    public var ticket: String
    /// The ticket opens sockets until then; a socket it opened lasts as long as the credential
    /// it was issued for.
    public var expiresAt: Date

    public init(ticket: String, expiresAt: Date) {
        self.ticket = ticket
        self.expiresAt = expiresAt
    }

    enum CodingKeys: String, CodingKey {
        case object, ticket
        case expiresAt = "expires_at"
    }
}

/// What a realtime ticket says, signed by the gateway that issued it and read by the realtime
/// service: who may open a socket, for which tenant, until when.
public struct RealtimeTicketClaims: Codable, Sendable, Equatable {
    /// The ticket's own id: it opens one socket, once.
    public var id: UUID
    public var tenantID: UUID
    /// The API key the ticket was issued to: its revocation closes the sockets.
    public var apiKeyID: UUID?
    /// The member (their identity provider's `sub`) the ticket was issued to: a change that
    /// takes `realtime:subscribe` from them closes the sockets.
    public var subject: String?
    /// Until when the ticket opens sockets.
    public var expiresAt: Date
    /// When the credential the ticket was issued for expires, which closes its sockets.
    public var credentialExpiresAt: Date?

    public init(id: UUID = UUID(), tenantID: UUID, apiKeyID: UUID?, subject: String?, expiresAt: Date, credentialExpiresAt: Date?) {
        self.id = id
        self.tenantID = tenantID
        self.apiKeyID = apiKeyID
        self.subject = subject
        self.expiresAt = expiresAt.roundedToMilliseconds
        self.credentialExpiresAt = credentialExpiresAt?.roundedToMilliseconds
    }

    enum CodingKeys: String, CodingKey {
        case id
        case tenantID = "tenant_id"
        case apiKeyID = "api_key_id"
        case subject
        case expiresAt = "expires_at"
        case credentialExpiresAt = "credential_expires_at"
    }
}
