import Foundation

// The admin API's bodies (`/admin/...`): tenants, API keys, members, limits, the audit log and dead letters.

/// `{"object": "list", "data": [...]}`, as OpenAI lists things.
public struct ListOf<Item: Codable & Sendable & Equatable>: Codable, Sendable, Equatable {
    public var object = "list"
    public var data: [Item]

    public init(_ data: [Item]) { self.data = data }
}

public struct CreateTenantRequest: Codable, Sendable, Equatable {
    public var name: String

    public init(name: String) { self.name = name }
}

public struct TenantInfo: Codable, Sendable, Equatable {
    public var object = "tenant"
    public var id: UUID
    public var name: String
    /// `active` or `suspended`.
    public var status: String
    public var createdAt: Date

    public init(id: UUID, name: String, status: String, createdAt: Date) {
        self.id = id
        self.name = name
        self.status = status
        self.createdAt = createdAt
    }

    enum CodingKeys: String, CodingKey {
        case object, id, name, status
        case createdAt = "created_at"
    }
}

public struct CreateAPIKeyRequest: Codable, Sendable, Equatable {
    public var name: String
    public var role: Role
    /// Models the key may call; absent means every model the tenant may use.
    public var allowedModels: [String]?
    public var expiresAt: Date?
    /// Limits on this key, beside the tenant's.
    public var limits: QuotaLimits?

    public init(name: String, role: Role, allowedModels: [String]? = nil, expiresAt: Date? = nil, limits: QuotaLimits? = nil) {
        self.name = name
        self.role = role
        self.allowedModels = allowedModels
        self.expiresAt = expiresAt
        self.limits = limits
    }

    enum CodingKeys: String, CodingKey {
        case name, role
        case allowedModels = "allowed_models"
        case expiresAt = "expires_at"
        case limits
    }
}

/// An API key as listed: never its secret.
public struct APIKeyInfo: Codable, Sendable, Equatable {
    public var object = "api_key"
    public var id: UUID
    public var tenantID: UUID
    public var name: String
    /// The public start of the key, e.g. `sk-sy-AbCd123456`.
    public var prefix: String
    public var role: Role
    public var allowedModels: [String]?
    public var expiresAt: Date?
    public var revokedAt: Date?
    /// The secret, in the answer to its creation only: it is not stored and cannot be shown again.
    public var key: String?

    public init(id: UUID, tenantID: UUID, name: String, prefix: String, role: Role, allowedModels: [String]?,
                expiresAt: Date?, revokedAt: Date?, key: String? = nil) {
        self.id = id
        self.tenantID = tenantID
        self.name = name
        self.prefix = prefix
        self.role = role
        self.allowedModels = allowedModels
        self.expiresAt = expiresAt
        self.revokedAt = revokedAt
        self.key = key
    }

    enum CodingKeys: String, CodingKey {
        case object, id
        case tenantID = "tenant_id"
        case name, prefix, role
        case allowedModels = "allowed_models"
        case expiresAt = "expires_at"
        case revokedAt = "revoked_at"
        case key
    }
}

/// `PUT /admin/tenants/{id}/members/{subject}`: makes the person a member with these roles, or
/// changes the roles of one who is.
public struct SetMemberRequest: Codable, Sendable, Equatable {
    public var roles: [Role]
    /// For people reading the member list; not used to authenticate.
    public var email: String?

    public init(roles: [Role], email: String? = nil) {
        self.roles = roles
        self.email = email
    }
}

/// A person of the tenant, known by the `sub` claim of the tokens the identity provider issues
/// them. A member's roles here are what their tokens may do in this tenant.
public struct MemberInfo: Codable, Sendable, Equatable {
    public var object = "member"
    public var tenantID: UUID
    public var subject: String
    public var email: String?
    public var roles: [Role]
    public var createdAt: Date
    public var updatedAt: Date

    public init(tenantID: UUID, subject: String, email: String?, roles: [Role], createdAt: Date, updatedAt: Date) {
        self.tenantID = tenantID
        self.subject = subject
        self.email = email
        self.roles = roles
        self.createdAt = createdAt
        self.updatedAt = updatedAt
    }

    enum CodingKeys: String, CodingKey {
        case object
        case tenantID = "tenant_id"
        case subject, email, roles
        case createdAt = "created_at"
        case updatedAt = "updated_at"
    }
}

public struct AuditEntryInfo: Codable, Sendable, Equatable {
    public var seq: Int64
    public var occurredAt: Date
    /// `operator`, `cli` or `apikey:<id>`.
    public var actor: String
    /// e.g. `apikey.create`, `tenant.limits.set`.
    public var action: String
    public var target: String?

    public init(seq: Int64, occurredAt: Date, actor: String, action: String, target: String?) {
        self.seq = seq
        self.occurredAt = occurredAt
        self.actor = actor
        self.action = action
        self.target = target
    }

    enum CodingKeys: String, CodingKey {
        case seq
        case occurredAt = "occurred_at"
        case actor, action, target
    }
}

/// A dead letter as the admin API shows it.
public struct DeadLetterInfo: Codable, Sendable, Equatable {
    /// Its sequence in the `DLQ` stream: how it is named in the other calls.
    public var sequence: UInt64
    public var consumer: String
    public var originalSubject: String
    public var deliveries: Int
    public var error: String
    public var failedAt: Date?
    public var headers: [String: String]
    /// The message as it was published, as text.
    public var payload: String

    public init(sequence: UInt64, consumer: String, originalSubject: String, deliveries: Int, error: String,
                failedAt: Date?, headers: [String: String], payload: String) {
        self.sequence = sequence
        self.consumer = consumer
        self.originalSubject = originalSubject
        self.deliveries = deliveries
        self.error = error
        self.failedAt = failedAt
        self.headers = headers
        self.payload = payload
    }

    enum CodingKeys: String, CodingKey {
        case sequence, consumer
        case originalSubject = "original_subject"
        case deliveries, error
        case failedAt = "failed_at"
        case headers, payload
    }
}
