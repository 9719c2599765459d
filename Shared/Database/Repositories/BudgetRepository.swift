import Contracts
import Foundation
import PostgresNIO

/// Budgets of a tenant (`api_key_id` null) and of its keys.
public enum BudgetRepository {
    public static func tenantBudget(in tx: TenantTransaction) async throws -> Budget? {
        try await first(tx.query("SELECT amount_micros, thresholds, policy FROM budgets WHERE api_key_id IS NULL"))
    }

    public static func keyBudget(_ keyID: UUID, in tx: TenantTransaction) async throws -> Budget? {
        try await first(tx.query("SELECT amount_micros, thresholds, policy FROM budgets WHERE api_key_id = \(keyID)"))
    }

    public static func setTenantBudget(_ budget: Budget, in tx: TenantTransaction) async throws {
        try await tx.execute("""
            INSERT INTO budgets (tenant_id, api_key_id, amount_micros, thresholds, policy)
            VALUES (\(tx.tenantID), NULL, \(budget.amountMicros), \(budget.thresholds.map(Int32.init)), \(budget.policy.rawValue))
            ON CONFLICT (tenant_id, COALESCE(api_key_id, '00000000-0000-0000-0000-000000000000')) DO UPDATE SET
                amount_micros = EXCLUDED.amount_micros, thresholds = EXCLUDED.thresholds, policy = EXCLUDED.policy, updated_at = now()
            """)
    }

    /// False when the tenant has no such key.
    public static func setKeyBudget(_ budget: Budget, keyID: UUID, in tx: TenantTransaction) async throws -> Bool {
        let rows = try await tx.query("""
            INSERT INTO budgets (tenant_id, api_key_id, amount_micros, thresholds, policy)
            SELECT tenant_id, id, \(budget.amountMicros), \(budget.thresholds.map(Int32.init)), \(budget.policy.rawValue)
            FROM api_keys WHERE id = \(keyID)
            ON CONFLICT (tenant_id, COALESCE(api_key_id, '00000000-0000-0000-0000-000000000000')) DO UPDATE SET
                amount_micros = EXCLUDED.amount_micros, thresholds = EXCLUDED.thresholds, policy = EXCLUDED.policy, updated_at = now()
            RETURNING api_key_id
            """)
        for try await _ in rows { return true }
        return false
    }

    private static func first(_ rows: PostgresRowSequence) async throws -> Budget? {
        for try await (amount, thresholds, policy) in rows.decode((Int64, [Int32], String).self) {
            return Budget(amountMicros: amount, thresholds: thresholds.map(Int.init), policy: Budget.Policy(rawValue: policy) ?? .block)
        }
        return nil
    }
}
