import Contracts
import Foundation
import PostgresNIO

public struct MemberRecord: Sendable, Equatable {
    public var tenantID: UUID
    public var subject: String
    public var email: String?
    public var roles: [Role]
    public var createdAt: Date
    public var updatedAt: Date
}

/// The people of the transaction's tenant and their roles.
public enum MemberRepository {
    /// Adds the member or replaces its roles and email; `created` says which.
    public static func set(subject: String, roles: [Role], email: String?, in tx: TenantTransaction) async throws -> (MemberRecord, created: Bool) {
        let rows = try await tx.query("""
            INSERT INTO members (tenant_id, subject, email, roles) VALUES (\(tx.tenantID), \(subject), \(email), \(roles.map(\.rawValue)))
            ON CONFLICT (tenant_id, subject) DO UPDATE SET email = EXCLUDED.email, roles = EXCLUDED.roles, updated_at = now()
            RETURNING \(unescaped: columns), xmax = 0
            """)
        for try await row in rows.decode((UUID, String, String?, [String], Date, Date, Bool).self) {
            return (MemberRecord((row.0, row.1, row.2, row.3, row.4, row.5)), row.6)
        }
        throw PostgresMissingRow(statement: "INSERT INTO members")
    }

    public static func find(subject: String, in tx: TenantTransaction) async throws -> MemberRecord? {
        try await records(tx.query("SELECT \(unescaped: columns) FROM members WHERE subject = \(subject)")).first
    }

    public static func list(in tx: TenantTransaction) async throws -> [MemberRecord] {
        try await records(tx.query("SELECT \(unescaped: columns) FROM members ORDER BY created_at, subject"))
    }

    /// Removes the member; returns what it was, or nil when there was no such member.
    public static func remove(subject: String, in tx: TenantTransaction) async throws -> MemberRecord? {
        try await records(tx.query("DELETE FROM members WHERE subject = \(subject) RETURNING \(unescaped: columns)")).first
    }

    private static let columns = "tenant_id, subject, email, roles, created_at, updated_at"

    private static func records(_ rows: PostgresRowSequence) async throws -> [MemberRecord] {
        var records: [MemberRecord] = []
        for try await row in rows.decode((UUID, String, String?, [String], Date, Date).self) { records.append(MemberRecord(row)) }
        return records
    }
}

/// An `INSERT … RETURNING` that returned nothing, which its constraints make impossible.
struct PostgresMissingRow: Error, CustomStringConvertible {
    var statement: String
    var description: String { "\(statement) returned no row" }
}

extension MemberRecord {
    init(_ row: (UUID, String, String?, [String], Date, Date)) {
        self.init(tenantID: row.0, subject: row.1, email: row.2, roles: row.3.compactMap(Role.init(rawValue:)).sorted(),
                  createdAt: row.4, updatedAt: row.5)
    }
}
