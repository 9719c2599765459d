/// A member's or key's role within its tenant.
public enum Role: String, Codable, Sendable, CaseIterable, Comparable {
    case owner, admin, developer, viewer, billing

    /// What this role may do: the one permission matrix every service checks against.
    public var permissions: Set<Permission> { Self.matrix[self]! }

    /// Made once: a gateway checks a permission on every call.
    private static let matrix = Dictionary(uniqueKeysWithValues: allCases.map { ($0, $0.grants) })

    private var grants: Set<Permission> {
        switch self {
        case .owner:
            Set(Permission.allCases)
        case .admin:
            Set(Permission.allCases).subtracting([.tenantManage])
        case .developer:
            [.modelsList, .inference, .usageRead, .analyticsRead, .keysRead,
             .documentsRead, .documentsWrite, .workflowsRead, .workflowsWrite, .workflowsRun,
             .realtimeSubscribe]
        case .viewer:
            [.modelsList, .usageRead, .analyticsRead, .documentsRead, .workflowsRead, .realtimeSubscribe]
        case .billing:
            [.usageRead, .analyticsRead, .invoicesRead, .billingManage]
        }
    }

    public func can(_ permission: Permission) -> Bool { permissions.contains(permission) }

    /// Ordered from most to least powerful, for display.
    public static func < (lhs: Role, rhs: Role) -> Bool {
        allCases.firstIndex(of: lhs)! < allCases.firstIndex(of: rhs)!
    }
}

/// One thing a caller may be allowed to do inside its tenant.
public enum Permission: String, Codable, Sendable, CaseIterable {
    /// `GET /v1/models`
    case modelsList = "models:list"
    /// Chat completions and embeddings: spends the tenant's money.
    case inference
    /// `GET /v1/usage`
    case usageRead = "usage:read"
    /// Read models and the dashboard.
    case analyticsRead = "analytics:read"
    /// `GET /v1/invoices`
    case invoicesRead = "invoices:read"
    /// Budgets, payment methods, marking invoices paid.
    case billingManage = "billing:manage"
    /// List the tenant's API keys (never their secrets).
    case keysRead = "keys:read"
    /// Create and revoke API keys.
    case keysManage = "keys:manage"
    /// List the tenant's members and grant or take away their roles.
    case membersManage = "members:manage"
    case documentsRead = "documents:read"
    case documentsWrite = "documents:write"
    case workflowsRead = "workflows:read"
    case workflowsWrite = "workflows:write"
    case workflowsRun = "workflows:run"
    case realtimeSubscribe = "realtime:subscribe"
    /// Per-tenant model catalog and routing overrides.
    case catalogManage = "catalog:manage"
    case auditRead = "audit:read"
    /// Tenant settings, quotas, suspension and deletion.
    case tenantManage = "tenant:manage"
}
