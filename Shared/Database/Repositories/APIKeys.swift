import Contracts
import Crypto
import Foundation
import PostgresNIO

/// An API key's secret form, `sk-sy-<prefix id><secret>`: shown once, then only its hash is kept.
public struct APIKeySecret: Sendable, CustomStringConvertible {
    public static let scheme = "sk-sy-"
    /// Characters after the scheme that form the public lookup prefix.
    static let prefixLength = 10
    /// 32 random bytes in unpadded base64url.
    static let secretLength = 43

    public let value: String

    /// A new key from the system's secure random generator.
    public static func generate() -> APIKeySecret {
        var generator = SystemRandomNumberGenerator()
        let identifier = (0..<prefixLength).map { _ in alphabet.randomElement(using: &generator)! }
        let secret = Data((0..<32).map { _ in UInt8.random(in: .min ... .max, using: &generator) })
        return APIKeySecret(unchecked: scheme + String(identifier) + base64URL(secret))
    }

    /// Accepts text shaped like a key, without checking it against the database.
    public init?(_ value: String) {
        guard value.hasPrefix(Self.scheme), value.count == Self.scheme.count + Self.prefixLength + Self.secretLength,
              value.utf8.allSatisfy({ $0 < 0x80 && (Self.alphabetBytes.contains($0) || $0 == UInt8(ascii: "-") || $0 == UInt8(ascii: "_")) })
        else { return nil }
        self.value = value
    }

    private init(unchecked value: String) { self.value = value }

    /// The part stored in clear and used to find the key: `sk-sy-` and 10 characters.
    public var prefix: String { String(value.prefix(Self.scheme.count + Self.prefixLength)) }

    public var hash: Data { Data(SHA256.hash(data: Data(value.utf8))) }

    /// Compares in time independent of where the hashes differ.
    public func matches(hash stored: Data) -> Bool {
        let computed = hash
        guard computed.count == stored.count else { return false }
        return zip(computed, stored).reduce(UInt8(0)) { $0 | ($1.0 ^ $1.1) } == 0
    }

    /// Never the secret: only the prefix, so a key printed in a log is harmless.
    public var description: String { prefix + "…" }

    private static let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789")
    private static let alphabetBytes = Set(alphabet.map { $0.asciiValue! })

    private static func base64URL(_ data: Data) -> String {
        data.base64EncodedString().replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
    }
}

public struct APIKeyRecord: Sendable, Equatable {
    public var id: UUID
    public var tenantID: UUID
    public var name: String
    public var prefix: String
    public var role: Role
    public var allowedModels: [String]?
    public var expiresAt: Date?
    public var revokedAt: Date?
}

/// What resolving a presented key found.
public struct ResolvedAPIKey: Sendable, Equatable {
    public var id: UUID
    public var tenantID: UUID
    public var role: Role
    public var allowedModels: [String]?
    public var expiresAt: Date?

    public init(id: UUID, tenantID: UUID, role: Role, allowedModels: [String]?, expiresAt: Date?) {
        self.id = id
        self.tenantID = tenantID
        self.role = role
        self.allowedModels = allowedModels
        self.expiresAt = expiresAt
    }
}

public enum APIKeyRejection: Error, Equatable {
    case malformed, unknown, revoked, expired, tenantSuspended

    /// What the caller is told, in OpenAI's words where OpenAI has some.
    public var message: String {
        switch self {
        case .malformed, .unknown: "Incorrect API key provided."
        case .revoked: "This API key has been revoked."
        case .expired: "This API key has expired."
        case .tenantSuspended: "This API key's organization is suspended."
        }
    }

    /// The error body's `code`.
    public var code: String { self == .tenantSuspended ? "account_deactivated" : "invalid_api_key" }
}

public enum APIKeyRepository {
    /// Stores a new key for the transaction's tenant and returns it with its secret, which is
    /// not stored and cannot be shown again.
    public static func create(
        name: String, role: Role, allowedModels: [String]? = nil, expiresAt: Date? = nil, in tx: TenantTransaction
    ) async throws -> (APIKeyRecord, APIKeySecret) {
        let secret = APIKeySecret.generate()
        let record = APIKeyRecord(
            id: .timeOrdered(), tenantID: tx.tenantID, name: name, prefix: secret.prefix, role: role,
            allowedModels: allowedModels, expiresAt: expiresAt?.roundedToMilliseconds, revokedAt: nil)
        try await tx.execute("""
            INSERT INTO api_keys (id, tenant_id, name, prefix, secret_hash, role, allowed_models, expires_at)
            VALUES (\(record.id), \(tx.tenantID), \(name), \(record.prefix), \(secret.hash), \(role.rawValue),
                    \(allowedModels), \(record.expiresAt))
            """)
        return (record, secret)
    }

    /// Marks the key revoked; returns it, or nil when this tenant has no such key.
    public static func revoke(id: UUID, in tx: TenantTransaction) async throws -> APIKeyRecord? {
        let rows = try await tx.query("""
            UPDATE api_keys SET revoked_at = COALESCE(revoked_at, now()) WHERE id = \(id)
            RETURNING id, tenant_id, name, prefix, role, allowed_models, expires_at, revoked_at
            """)
        for try await row in rows.decode((UUID, UUID, String, String, String, [String]?, Date?, Date?).self) {
            return APIKeyRecord(row)
        }
        return nil
    }

    public static func list(in tx: TenantTransaction) async throws -> [APIKeyRecord] {
        let rows = try await tx.query("""
            SELECT id, tenant_id, name, prefix, role, allowed_models, expires_at, revoked_at
            FROM api_keys ORDER BY created_at
            """)
        var records: [APIKeyRecord] = []
        for try await row in rows.decode((UUID, UUID, String, String, String, [String]?, Date?, Date?).self) {
            records.append(APIKeyRecord(row))
        }
        return records
    }

    /// Finds the key a caller presented, before any tenant is known, through the one
    /// `SECURITY DEFINER` function that may look across tenants, and checks its secret,
    /// revocation, expiry and tenant.
    public static func resolve(_ presented: String, using database: Database, now: Date = Date()) async throws -> Result<ResolvedAPIKey, APIKeyRejection> {
        guard let secret = APIKeySecret(presented) else { return .failure(.malformed) }
        let rows = try await database.client.query("""
            SELECT id, tenant_id, secret_hash, role, allowed_models, expires_at, revoked_at, tenant_status
            FROM resolve_api_key(\(secret.prefix))
            """)
        for try await (id, tenantID, hash, role, models, expiresAt, revokedAt, tenantStatus) in rows.decode(
            (UUID, UUID, Data, String, [String]?, Date?, Date?, String).self
        ) {
            guard secret.matches(hash: hash), let role = Role(rawValue: role) else { return .failure(.unknown) }
            if revokedAt != nil { return .failure(.revoked) }
            if let expiresAt, expiresAt <= now { return .failure(.expired) }
            if tenantStatus != Tenant.Status.active.rawValue { return .failure(.tenantSuspended) }
            return .success(ResolvedAPIKey(id: id, tenantID: tenantID, role: role, allowedModels: models, expiresAt: expiresAt))
        }
        return .failure(.unknown)
    }
}

extension APIKeyRecord {
    init(_ row: (UUID, UUID, String, String, String, [String]?, Date?, Date?)) {
        self.init(
            id: row.0, tenantID: row.1, name: row.2, prefix: row.3, role: Role(rawValue: row.4) ?? .viewer,
            allowedModels: row.5, expiresAt: row.6, revokedAt: row.7)
    }
}
