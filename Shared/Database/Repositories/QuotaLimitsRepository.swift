import Contracts
import Foundation
import PostgresNIO

/// The limits of a tenant (`tenant_limits`) and of its keys (`api_key_limits`).
public enum QuotaLimitsRepository {
    public static func tenantLimits(in tx: TenantTransaction) async throws -> QuotaLimits {
        let rows = try await tx.query("""
            SELECT requests_per_minute, requests_per_day, tokens_per_minute, tokens_per_month, concurrent_requests
            FROM tenant_limits WHERE tenant_id = \(tx.tenantID)
            """)
        for try await row in rows.decode(LimitColumns.self) { return QuotaLimits(row) }
        return .none
    }

    public static func keyLimits(_ keyID: UUID, in tx: TenantTransaction) async throws -> QuotaLimits {
        let rows = try await tx.query("""
            SELECT requests_per_minute, requests_per_day, tokens_per_minute, tokens_per_month, concurrent_requests
            FROM api_key_limits WHERE api_key_id = \(keyID)
            """)
        for try await row in rows.decode(LimitColumns.self) { return QuotaLimits(row) }
        return .none
    }

    public static func setTenantLimits(_ limits: QuotaLimits, in tx: TenantTransaction) async throws {
        try await tx.execute("""
            INSERT INTO tenant_limits (tenant_id, requests_per_minute, requests_per_day, tokens_per_minute, tokens_per_month, concurrent_requests)
            VALUES (\(tx.tenantID), \(limits.requestsPerMinute), \(limits.requestsPerDay), \(limits.tokensPerMinute),
                    \(limits.tokensPerMonth), \(limits.concurrentRequests))
            ON CONFLICT (tenant_id) DO UPDATE SET
                requests_per_minute = EXCLUDED.requests_per_minute, requests_per_day = EXCLUDED.requests_per_day,
                tokens_per_minute = EXCLUDED.tokens_per_minute, tokens_per_month = EXCLUDED.tokens_per_month,
                concurrent_requests = EXCLUDED.concurrent_requests, updated_at = now()
            """)
    }

    /// Sets a key's limits; false when the tenant has no such key.
    public static func setKeyLimits(_ limits: QuotaLimits, keyID: UUID, in tx: TenantTransaction) async throws -> Bool {
        let rows = try await tx.query("""
            INSERT INTO api_key_limits (api_key_id, tenant_id, requests_per_minute, requests_per_day, tokens_per_minute, tokens_per_month, concurrent_requests)
            SELECT id, tenant_id, \(limits.requestsPerMinute), \(limits.requestsPerDay), \(limits.tokensPerMinute),
                   \(limits.tokensPerMonth), \(limits.concurrentRequests)
            FROM api_keys WHERE id = \(keyID)
            ON CONFLICT (api_key_id) DO UPDATE SET
                requests_per_minute = EXCLUDED.requests_per_minute, requests_per_day = EXCLUDED.requests_per_day,
                tokens_per_minute = EXCLUDED.tokens_per_minute, tokens_per_month = EXCLUDED.tokens_per_month,
                concurrent_requests = EXCLUDED.concurrent_requests, updated_at = now()
            RETURNING api_key_id
            """)
        for try await _ in rows { return true }
        return false
    }

    typealias LimitColumns = (Int32?, Int32?, Int64?, Int64?, Int32?)
}

extension QuotaLimits {
    init(_ row: QuotaLimitsRepository.LimitColumns) {
        self.init(
            requestsPerMinute: row.0.map(Int.init), requestsPerDay: row.1.map(Int.init), tokensPerMinute: row.2.map(Int.init),
            tokensPerMonth: row.3.map(Int.init), concurrentRequests: row.4.map(Int.init))
    }
}
