import Foundation

// Event payloads. Each names its type and version; the envelope carries the tenant.

public struct TenantCreated: EventPayload {
    public static let eventType = EventType(domain: "tenant", name: "created")
    public static let version = 1
    public var name: String

    public init(name: String) { self.name = name }
}

public struct TenantSuspended: EventPayload {
    public static let eventType = EventType(domain: "tenant", name: "suspended")
    public static let version = 1
    public var reason: String

    public init(reason: String) { self.reason = reason }
}

public struct TenantReactivated: EventPayload {
    public static let eventType = EventType(domain: "tenant", name: "reactivated")
    public static let version = 1

    public init() {}
}

public struct APIKeyCreated: EventPayload {
    public static let eventType = EventType(domain: "apikey", name: "created")
    public static let version = 1
    public var apiKeyID: UUID
    public var name: String
    /// The public lookup prefix, e.g. `sk-sy-AbCd1234`; never the secret.
    public var prefix: String
    public var role: Role
    public var expiresAt: Date?
    /// Models the key may call; nil means every model the tenant may use.
    public var allowedModels: [String]?

    public init(apiKeyID: UUID, name: String, prefix: String, role: Role, expiresAt: Date? = nil, allowedModels: [String]? = nil) {
        self.apiKeyID = apiKeyID
        self.name = name
        self.prefix = prefix
        self.role = role
        self.expiresAt = expiresAt
        self.allowedModels = allowedModels
    }

    enum CodingKeys: String, CodingKey {
        case apiKeyID = "api_key_id"
        case name, prefix, role
        case expiresAt = "expires_at"
        case allowedModels = "allowed_models"
    }
}

/// Gateways drop a revoked key from their caches when they see this.
public struct APIKeyRevoked: EventPayload {
    public static let eventType = EventType(domain: "apikey", name: "revoked")
    public static let version = 1
    public var apiKeyID: UUID
    public var prefix: String
    public var revokedAt: Date

    public init(apiKeyID: UUID, prefix: String, revokedAt: Date) {
        self.apiKeyID = apiKeyID
        self.prefix = prefix
        self.revokedAt = revokedAt.roundedToMilliseconds
    }

    enum CodingKeys: String, CodingKey {
        case apiKeyID = "api_key_id"
        case prefix
        case revokedAt = "revoked_at"
    }
}

/// A member's roles were set (`roles` non-empty) or the member was removed (`roles` empty).
/// Gateways drop the member from their caches, so the change applies to the next call.
public struct MemberChanged: EventPayload {
    public static let eventType = EventType(domain: "member", name: "changed")
    public static let version = 1
    /// The identity provider's `sub` for the person.
    public var subject: String
    public var roles: [Role]

    public init(subject: String, roles: [Role]) {
        self.subject = subject
        self.roles = roles
    }
}

/// Gateways drop a tenant's cached keys when its limits or its keys' limits change, so the new
/// limits apply at once.
public struct QuotaLimitsChanged: EventPayload {
    public static let eventType = EventType(domain: "quota", name: "limits_changed")
    public static let version = 1
    /// The key whose limits changed; nil for the tenant's own.
    public var apiKeyID: UUID?
    public var limits: QuotaLimits

    public init(apiKeyID: UUID?, limits: QuotaLimits) {
        self.apiKeyID = apiKeyID
        self.limits = limits
    }

    enum CodingKeys: String, CodingKey {
        case apiKeyID = "api_key_id"
        case limits
    }
}

/// Routers drop a tenant's cached routing when it changes, so the change applies to the next
/// calls. `override` is nil when the tenant's routing of the model was removed.
public struct RoutingChanged: EventPayload {
    public static let eventType = EventType(domain: "routing", name: "changed")
    public static let version = 1
    public var model: String
    public var override: RoutingOverride?

    public init(model: String, override: RoutingOverride?) {
        self.model = model
        self.override = override
    }
}

/// Gateways re-read a tenant's budgets when they change.
public struct BudgetChanged: EventPayload {
    public static let eventType = EventType(domain: "budget", name: "changed")
    public static let version = 1
    /// The key whose budget changed; nil for the tenant's own.
    public var apiKeyID: UUID?
    public var budget: Budget

    public init(apiKeyID: UUID?, budget: Budget) {
        self.apiKeyID = apiKeyID
        self.budget = budget
    }

    enum CodingKeys: String, CodingKey {
        case apiKeyID = "api_key_id"
        case budget
    }
}

/// Spending in a budget period reached a threshold: published once per threshold per period.
public struct BudgetThresholdCrossed: EventPayload {
    public static let eventType = EventType(domain: "budget", name: "threshold_crossed")
    public static let version = 1
    /// The key whose budget it is; nil for the tenant's own.
    public var apiKeyID: UUID?
    /// The percentage of the budget reached, e.g. 80.
    public var thresholdPercent: Int
    public var budgetMicros: Int64
    /// Spending (with calls still running) when it was crossed.
    public var spentMicros: Int64
    /// The period, e.g. `2026-11`.
    public var period: String

    public init(apiKeyID: UUID?, thresholdPercent: Int, budgetMicros: Int64, spentMicros: Int64, period: String) {
        self.apiKeyID = apiKeyID
        self.thresholdPercent = thresholdPercent
        self.budgetMicros = budgetMicros
        self.spentMicros = spentMicros
        self.period = period
    }

    enum CodingKeys: String, CodingKey {
        case apiKeyID = "api_key_id"
        case thresholdPercent = "threshold_percent"
        case budgetMicros = "budget_micros"
        case spentMicros = "spent_micros"
        case period
    }
}

/// One model call, published once by the router. Billing prices it into the ledger.
public struct UsageRecorded: EventPayload {
    public static let eventType = EventType(domain: "usage", name: "recorded")
    public static let version = 1

    public enum Status: String, Codable, Sendable {
        /// The provider answered in full.
        case succeeded
        /// The provider failed; tokens it still reported are counted.
        case failed
        /// The caller left before the end; tokens produced until then are counted.
        case cancelled
    }

    /// The gateway's `x-request-id`.
    public var requestID: String
    public var apiKeyID: UUID?
    /// The model name the tenant asked for.
    public var model: String
    /// The catalog deployment that answered.
    public var deployment: String
    public var promptTokens: Int
    public var completionTokens: Int
    /// Integer micro-USD at the catalog price in force when the call was made.
    public var costMicros: Int64
    public var latencyMs: Int
    /// Time to first token of a streamed answer.
    public var ttftMs: Int?
    public var status: Status

    public init(
        requestID: String, apiKeyID: UUID?, model: String, deployment: String,
        promptTokens: Int, completionTokens: Int, costMicros: Int64,
        latencyMs: Int, ttftMs: Int? = nil, status: Status
    ) {
        self.requestID = requestID
        self.apiKeyID = apiKeyID
        self.model = model
        self.deployment = deployment
        self.promptTokens = promptTokens
        self.completionTokens = completionTokens
        self.costMicros = costMicros
        self.latencyMs = latencyMs
        self.ttftMs = ttftMs
        self.status = status
    }

    public var totalTokens: Int { promptTokens + completionTokens }

    enum CodingKeys: String, CodingKey {
        case requestID = "request_id"
        case apiKeyID = "api_key_id"
        case model, deployment
        case promptTokens = "prompt_tokens"
        case completionTokens = "completion_tokens"
        case costMicros = "cost_micros"
        case latencyMs = "latency_ms"
        case ttftMs = "ttft_ms"
        case status
    }
}
