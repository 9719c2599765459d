import Contracts
import Foundation
import Logging
import PostgresNIO
import SwitchyardBus
import SwitchyardDatabase

/// A request the administration refuses, naming the field.
public struct AdministrationError: Error, Equatable, CustomStringConvertible {
    public var field: String
    public var message: String

    public init(field: String, message: String) {
        self.field = field
        self.message = message
    }

    public var description: String { "\(field): \(message)" }
}

/// The changes to tenants and their credentials, shared by the admin API and the CLI. Each
/// change is stored with its audit entry in one tenant transaction, then announced on the bus
/// (`tenant.created`, `apikey.created`, `apikey.revoked`, `member.changed`, `quota.limits_changed`,
/// `budget.changed`). An announcement lost to a crash in between is made up for by the gateways'
/// cache lifetimes.
public struct Administration: Sendable {
    let database: Database
    let bus: Bus
    /// Who is acting, for the audit log: `operator`, `cli`, `apikey:<id>` or `jwt:<subject>`.
    let actor: String

    public init(database: Database, bus: Bus, actor: String) {
        self.database = database
        self.bus = bus
        self.actor = actor
    }

    /// Creates a tenant, or returns the existing one with this id unchanged (`created` false).
    public func createTenant(_ id: UUID = .timeOrdered(), name: String) async throws -> (tenant: TenantInfo, created: Bool) {
        let name = try Self.checkedName(name)
        let (tenant, created) = try await database.withTenant(id) { tx in
            let created = try await TenantRepository.create(name: name, in: tx)
            if created { try await AuditLog.append(actor: actor, action: "tenant.create", target: Subject.token(id), in: tx) }
            return (try await TenantRepository.find(in: tx)!, created)
        }
        if created { try await bus.publish(Envelope(tenantID: id, payload: TenantCreated(name: name))) }
        return (TenantInfo(tenant), created)
    }

    public func tenant(_ id: UUID) async throws -> TenantInfo? {
        try await database.withTenant(id) { try await TenantRepository.find(in: $0) }.map(TenantInfo.init)
    }

    /// Creates a key and returns it with its secret, shown this once; nil when there is no such tenant.
    public func createKey(tenant: UUID, _ request: CreateAPIKeyRequest, now: Date = Date()) async throws -> APIKeyInfo? {
        let name = try Self.checkedName(request.name)
        if let models = request.allowedModels, models.isEmpty || models.contains(where: { $0.isEmpty }) {
            throw AdministrationError(field: "allowed_models", message: "allowed_models must list model names; leave it out for every model.")
        }
        if let expiresAt = request.expiresAt, expiresAt <= now {
            throw AdministrationError(field: "expires_at", message: "expires_at must be in the future.")
        }
        if let field = request.limits?.invalidField {
            throw AdministrationError(field: "limits.\(field)", message: "\(field) must be a positive whole number.")
        }
        let created = try await database.withTenant(tenant) { tx -> (APIKeyRecord, APIKeySecret)? in
            guard try await TenantRepository.find(in: tx) != nil else { return nil }
            let (record, secret) = try await APIKeyRepository.create(
                name: name, role: request.role, allowedModels: request.allowedModels, expiresAt: request.expiresAt, in: tx)
            if let limits = request.limits { _ = try await QuotaLimitsRepository.setKeyLimits(limits, keyID: record.id, in: tx) }
            try await AuditLog.append(
                actor: actor, action: "apikey.create", target: Subject.token(record.id),
                detailsJSON: try Self.details(["name": name, "role": request.role.rawValue]), in: tx)
            return (record, secret)
        }
        guard let (record, secret) = created else { return nil }
        try await bus.publish(Envelope(tenantID: tenant, payload: APIKeyCreated(
            apiKeyID: record.id, name: record.name, prefix: record.prefix, role: record.role,
            expiresAt: record.expiresAt, allowedModels: record.allowedModels)))
        var info = APIKeyInfo(record)
        info.key = secret.value
        return info
    }

    public func keys(tenant: UUID) async throws -> [APIKeyInfo] {
        try await database.withTenant(tenant) { try await APIKeyRepository.list(in: $0) }.map(APIKeyInfo.init)
    }

    /// Revokes a key of `tenant` and announces it, so every gateway drops it; nil when the
    /// tenant has no such key. Revoking twice keeps the first time.
    public func revokeKey(_ id: UUID, tenant: UUID) async throws -> APIKeyInfo? {
        let revoked = try await database.withTenant(tenant) { tx -> APIKeyRecord? in
            guard let record = try await APIKeyRepository.revoke(id: id, in: tx) else { return nil }
            try await AuditLog.append(actor: actor, action: "apikey.revoke", target: Subject.token(id), in: tx)
            return record
        }
        guard let revoked else { return nil }
        try await bus.publish(Envelope(tenantID: tenant, payload: APIKeyRevoked(
            apiKeyID: id, prefix: revoked.prefix, revokedAt: revoked.revokedAt ?? Date())))
        return APIKeyInfo(revoked)
    }

    /// Which tenant a key belongs to: for the platform operator, who names keys by id alone.
    public func tenant(ofKey id: UUID) async throws -> UUID? {
        let rows = try await database.client.query("SELECT api_key_tenant(\(id))")
        for try await tenant in rows.decode(UUID?.self) { return tenant }
        return nil
    }

    // MARK: Members

    /// Makes `subject` a member of the tenant with these roles, or changes the roles of one who
    /// is; nil when there is no such tenant. Every gateway applies the change to the next call.
    public func setMember(_ subject: String, _ request: SetMemberRequest, tenant: UUID) async throws -> (member: MemberInfo, created: Bool)? {
        let subject = try Self.checkedSubject(subject)
        let roles = Array(Set(request.roles)).sorted()
        guard !roles.isEmpty else { throw AdministrationError(field: "roles", message: "roles must name at least one role.") }
        if let email = request.email, !Self.isText(email, length: 3...320) || !email.contains("@") || email.contains(where: \.isWhitespace) {
            throw AdministrationError(field: "email", message: "email must be an address like name@example.com.")
        }
        let set = try await database.withTenant(tenant) { tx -> (MemberRecord, Bool)? in
            guard try await TenantRepository.find(in: tx) != nil else { return nil }
            let (record, created) = try await MemberRepository.set(subject: subject, roles: roles, email: request.email, in: tx)
            try await AuditLog.append(
                actor: actor, action: created ? "member.add" : "member.roles.set", target: subject,
                detailsJSON: try Self.details(["roles": roles.map(\.rawValue).joined(separator: ",")]), in: tx)
            return (record, created)
        }
        guard let (record, created) = set else { return nil }
        try await bus.publish(Envelope(tenantID: tenant, payload: MemberChanged(subject: subject, roles: record.roles)))
        return (MemberInfo(record), created)
    }

    public func members(tenant: UUID) async throws -> [MemberInfo] {
        try await database.withTenant(tenant) { try await MemberRepository.list(in: $0) }.map(MemberInfo.init)
    }

    public func member(_ subject: String, tenant: UUID) async throws -> MemberInfo? {
        try await database.withTenant(tenant) { try await MemberRepository.find(subject: subject, in: $0) }.map(MemberInfo.init)
    }

    /// Removes the member and announces it; nil when the tenant has no such member.
    public func removeMember(_ subject: String, tenant: UUID) async throws -> MemberInfo? {
        let removed = try await database.withTenant(tenant) { tx -> MemberRecord? in
            guard let record = try await MemberRepository.remove(subject: subject, in: tx) else { return nil }
            try await AuditLog.append(actor: actor, action: "member.remove", target: subject, in: tx)
            return record
        }
        guard let removed else { return nil }
        try await bus.publish(Envelope(tenantID: tenant, payload: MemberChanged(subject: subject, roles: [])))
        return MemberInfo(removed)
    }

    /// An identity provider's subject: 1 to 255 characters, none of them control characters.
    static func checkedSubject(_ subject: String) throws(AdministrationError) -> String {
        guard isText(subject, length: 1...255), !subject.trimmingCharacters(in: .whitespaces).isEmpty else {
            throw AdministrationError(field: "subject", message: "subject must be the identity provider's `sub`: 1 to 255 characters, no control characters.")
        }
        return subject
    }

    /// Sets the tenant's limits; false when there is no such tenant.
    public func setTenantLimits(_ limits: QuotaLimits, tenant: UUID) async throws -> Bool {
        if let field = limits.invalidField {
            throw AdministrationError(field: field, message: "\(field) must be a positive whole number.")
        }
        let found = try await database.withTenant(tenant) { tx -> Bool in
            guard try await TenantRepository.find(in: tx) != nil else { return false }
            try await QuotaLimitsRepository.setTenantLimits(limits, in: tx)
            try await AuditLog.append(actor: actor, action: "tenant.limits.set", target: Subject.token(tenant),
                                      detailsJSON: String(decoding: try JSONCoding.encode(limits), as: UTF8.self), in: tx)
            return true
        }
        if found { try await bus.publish(Envelope(tenantID: tenant, payload: QuotaLimitsChanged(apiKeyID: nil, limits: limits))) }
        return found
    }

    /// Sets a key's limits; false when the tenant has no such key.
    public func setKeyLimits(_ limits: QuotaLimits, key: UUID, tenant: UUID) async throws -> Bool {
        if let field = limits.invalidField {
            throw AdministrationError(field: field, message: "\(field) must be a positive whole number.")
        }
        let found = try await database.withTenant(tenant) { tx -> Bool in
            guard try await QuotaLimitsRepository.setKeyLimits(limits, keyID: key, in: tx) else { return false }
            try await AuditLog.append(actor: actor, action: "apikey.limits.set", target: Subject.token(key),
                                      detailsJSON: String(decoding: try JSONCoding.encode(limits), as: UTF8.self), in: tx)
            return true
        }
        if found { try await bus.publish(Envelope(tenantID: tenant, payload: QuotaLimitsChanged(apiKeyID: key, limits: limits))) }
        return found
    }

    /// Sets the tenant's monthly budget; false when there is no such tenant.
    public func setTenantBudget(_ budget: Budget, tenant: UUID) async throws -> Bool {
        if let field = budget.invalidField { throw AdministrationError(field: field, message: Self.budgetRule(field)) }
        let found = try await database.withTenant(tenant) { tx -> Bool in
            guard try await TenantRepository.find(in: tx) != nil else { return false }
            try await BudgetRepository.setTenantBudget(budget, in: tx)
            try await AuditLog.append(actor: actor, action: "tenant.budget.set", target: Subject.token(tenant),
                                      detailsJSON: String(decoding: try JSONCoding.encode(budget), as: UTF8.self), in: tx)
            return true
        }
        if found { try await bus.publish(Envelope(tenantID: tenant, payload: BudgetChanged(apiKeyID: nil, budget: budget))) }
        return found
    }

    /// Sets a key's monthly budget; false when the tenant has no such key.
    public func setKeyBudget(_ budget: Budget, key: UUID, tenant: UUID) async throws -> Bool {
        if let field = budget.invalidField { throw AdministrationError(field: field, message: Self.budgetRule(field)) }
        let found = try await database.withTenant(tenant) { tx -> Bool in
            guard try await BudgetRepository.setKeyBudget(budget, keyID: key, in: tx) else { return false }
            try await AuditLog.append(actor: actor, action: "apikey.budget.set", target: Subject.token(key),
                                      detailsJSON: String(decoding: try JSONCoding.encode(budget), as: UTF8.self), in: tx)
            return true
        }
        if found { try await bus.publish(Envelope(tenantID: tenant, payload: BudgetChanged(apiKeyID: key, budget: budget))) }
        return found
    }

    public func budget(tenant: UUID) async throws -> Budget? {
        try await database.withTenant(tenant) { try await BudgetRepository.tenantBudget(in: $0) }
    }

    private static func budgetRule(_ field: String) -> String {
        field == "amount_micros"
            ? "amount_micros must be a positive whole number of micro-USD."
            : "thresholds must be 1 to 10 distinct ascending percentages from 1 to 100."
    }

    public func limits(tenant: UUID) async throws -> QuotaLimits {
        try await database.withTenant(tenant) { try await QuotaLimitsRepository.tenantLimits(in: $0) }
    }

    public func auditEntries(tenant: UUID, after: Int64 = 0, limit: Int = 100) async throws -> [AuditEntryInfo] {
        try await database.withTenant(tenant) { try await AuditLog.entries(after: after, limit: limit, in: $0) }
    }

    /// A name of 1 to 200 characters that are not all white space, stored trimmed.
    static func checkedName(_ name: String) throws(AdministrationError) -> String {
        let trimmed = name.trimmingCharacters(in: .whitespacesAndNewlines)
        guard isText(trimmed, length: 1...200) else {
            throw AdministrationError(field: "name", message: "name must be 1 to 200 characters, not all white space, no control characters.")
        }
        return trimmed
    }

    /// Whether `text` has a length in `length` as PostgreSQL counts it (code points) and no
    /// control characters, which PostgreSQL refuses (NUL) or which fool a reader of the log.
    static func isText(_ text: String, length: ClosedRange<Int>) -> Bool {
        length.contains(text.unicodeScalars.count) && !text.unicodeScalars.contains { CharacterSet.controlCharacters.contains($0) }
    }

    private static func details(_ fields: [String: String]) throws -> String {
        String(decoding: try JSONCoding.encode(fields), as: UTF8.self)
    }
}

extension TenantInfo {
    init(_ tenant: Tenant) {
        self.init(id: tenant.id, name: tenant.name, status: tenant.status.rawValue, createdAt: tenant.createdAt)
    }
}

extension APIKeyInfo {
    init(_ record: APIKeyRecord) {
        self.init(id: record.id, tenantID: record.tenantID, name: record.name, prefix: record.prefix, role: record.role,
                  allowedModels: record.allowedModels, expiresAt: record.expiresAt, revokedAt: record.revokedAt)
    }
}

extension MemberInfo {
    init(_ record: MemberRecord) {
        self.init(tenantID: record.tenantID, subject: record.subject, email: record.email, roles: record.roles,
                  createdAt: record.createdAt, updatedAt: record.updatedAt)
    }
}
