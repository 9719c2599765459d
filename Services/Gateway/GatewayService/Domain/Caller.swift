import Contracts
import Foundation

/// Who is calling, established from the credential before any handler runs.
public struct Caller: Sendable, Equatable {
    public enum Credential: Sendable, Equatable {
        /// A tenant's API key.
        case apiKey(id: UUID)
        /// A bearer token (JWT) from the installation's identity provider, for a member of a tenant.
        case token(subject: String)
        /// The platform operator's admin token: every tenant, admin routes only.
        case platformOperator
    }

    public var credential: Credential
    /// Nil only for the platform operator.
    public var tenantID: UUID?
    /// An API key has one role; a member's token may carry several.
    public var roles: Set<Role>
    /// Models the key may call; nil means every model the tenant may use.
    public var allowedModels: [String]?
    public var tenantLimits: QuotaLimits
    public var keyLimits: QuotaLimits
    public var tenantBudget: Budget? = nil
    public var keyBudget: Budget? = nil
    /// When the credential stops being accepted: a key's expiry, a token's `exp`.
    public var credentialExpiresAt: Date? = nil

    /// Whether a call must be priced before it starts.
    var hasBudget: Bool { tenantBudget != nil || keyBudget != nil }

    /// Whether a call's tokens must be bounded before it starts.
    var hasMonthlyTokenQuota: Bool { tenantLimits.tokensPerMonth != nil || keyLimits.tokensPerMonth != nil }

    public var apiKeyID: UUID? {
        if case .apiKey(let id) = credential { id } else { nil }
    }

    /// Everything the caller's roles allow together.
    public var permissions: Set<Permission> {
        roles.reduce(into: []) { $0.formUnion($1.permissions) }
    }

    /// How the audit log names the caller.
    var auditActor: String {
        switch credential {
        case .apiKey(let id): "apikey:\(Subject.token(id))"
        case .token(let subject): "jwt:\(subject)"
        case .platformOperator: "operator"
        }
    }

    public func may(use model: String) -> Bool {
        allowedModels.map { $0.contains(model) } ?? true
    }

    /// 403 unless the caller may use `model`, which the platform calls for it (`what` says why,
    /// e.g. "documents and searches are embedded with"): the caller pays for it.
    func requireModel(_ model: String, _ what: String) throws(APIError) {
        guard may(use: model) else {
            throw APIError(.permission, "This key may not use `\(model)`, \(what).", code: "model_not_allowed", status: .forbidden)
        }
    }

    /// The caller's tenant, or 403 for the platform operator on a tenant's route.
    func requireTenant() throws(APIError) -> UUID {
        guard let tenantID else {
            throw APIError(.permission, "The admin token is for /admin routes; call the API with a tenant's key.", code: "tenant_required")
        }
        return tenantID
    }

    func require(_ permission: Permission) throws(APIError) {
        if credential == .platformOperator { return }
        guard roles.contains(where: { $0.can(permission) }) else { throw .forbidden(permission) }
    }
}
