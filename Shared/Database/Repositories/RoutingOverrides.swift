import Contracts
import Foundation
import PostgresNIO

/// The transaction's tenant's routing of catalog models (`routing_overrides`).
public enum RoutingOverrideRepository {
    /// Stores the override of `override.model`, replacing one there was; `created` says which.
    public static func set(_ override: RoutingOverride, in tx: TenantTransaction) async throws -> (RoutingOverride, created: Bool) {
        let names = override.deployments?.map(\.name)
        let weights = override.deployments.flatMap { choices in
            choices.allSatisfy { $0.weight != nil } ? choices.map { Int32($0.weight!) } : nil
        }
        let rows = try await tx.query("""
            INSERT INTO routing_overrides (tenant_id, model, strategy, deployments, weights)
            VALUES (\(tx.tenantID), \(override.model), \(override.strategy), \(names), \(weights))
            ON CONFLICT (tenant_id, model) DO UPDATE SET
                strategy = EXCLUDED.strategy, deployments = EXCLUDED.deployments, weights = EXCLUDED.weights, updated_at = now()
            RETURNING \(unescaped: columns), xmax = 0
            """)
        for try await row in rows.decode((String, String?, [String]?, [Int32]?, Date, Bool).self) {
            return (RoutingOverride((row.0, row.1, row.2, row.3, row.4)), row.5)
        }
        throw PostgresMissingRow(statement: "INSERT INTO routing_overrides")
    }

    public static func find(model: String, in tx: TenantTransaction) async throws -> RoutingOverride? {
        try await overrides(tx.query("SELECT \(unescaped: columns) FROM routing_overrides WHERE model = \(model)")).first
    }

    public static func list(in tx: TenantTransaction) async throws -> [RoutingOverride] {
        try await overrides(tx.query("SELECT \(unescaped: columns) FROM routing_overrides ORDER BY model"))
    }

    /// Removes the override; returns what it was, or nil when the model had none.
    public static func remove(model: String, in tx: TenantTransaction) async throws -> RoutingOverride? {
        try await overrides(tx.query("DELETE FROM routing_overrides WHERE model = \(model) RETURNING \(unescaped: columns)")).first
    }

    private static let columns = "model, strategy, deployments, weights, updated_at"

    private static func overrides(_ rows: PostgresRowSequence) async throws -> [RoutingOverride] {
        var overrides: [RoutingOverride] = []
        for try await row in rows.decode((String, String?, [String]?, [Int32]?, Date).self) { overrides.append(RoutingOverride(row)) }
        return overrides
    }
}

extension RoutingOverride {
    init(_ row: (model: String, strategy: String?, deployments: [String]?, weights: [Int32]?, updatedAt: Date)) {
        let choices = row.deployments.map { names in
            names.enumerated().map { index, name in
                DeploymentChoice(name: name, weight: row.weights.map { Int($0[index]) })
            }
        }
        self.init(model: row.model, strategy: row.strategy, deployments: choices, updatedAt: row.updatedAt)
    }
}
