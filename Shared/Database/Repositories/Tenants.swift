import Contracts
import Foundation
import PostgresNIO

public struct Tenant: Sendable, Equatable {
    public enum Status: String, Sendable { case active, suspended }
    public var id: UUID
    public var name: String
    public var status: Status
    public var createdAt: Date
}

/// Tenants as rows of the tenant's own scope: creating one is writing the first row under its id.
public enum TenantRepository {
    /// Creates the tenant; returns false when a tenant with this id existed already.
    public static func create(name: String, in tx: TenantTransaction) async throws -> Bool {
        let rows = try await tx.query("""
            INSERT INTO tenants (tenant_id, name) VALUES (\(tx.tenantID), \(name))
            ON CONFLICT (tenant_id) DO NOTHING RETURNING tenant_id
            """)
        for try await _ in rows { return true }
        return false
    }

    public static func find(in tx: TenantTransaction) async throws -> Tenant? {
        let rows = try await tx.query("SELECT tenant_id, name, status, created_at FROM tenants WHERE tenant_id = \(tx.tenantID)")
        for try await (id, name, status, createdAt) in rows.decode((UUID, String, String, Date).self) {
            return Tenant(id: id, name: name, status: Tenant.Status(rawValue: status) ?? .suspended, createdAt: createdAt)
        }
        return nil
    }
}
