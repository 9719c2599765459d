import Contracts
import Foundation
import PostgresNIO
import SwitchyardDatabase

/// The ledger's rows, inside the tenant transaction a use case opened.
enum LedgerRepository {
    /// Adds the entry of one usage event.
    static func record(_ event: Envelope<UsageRecorded>, in tx: TenantTransaction) async throws {
        let usage = event.payload
        try await tx.execute("""
            INSERT INTO ledger_entries (tenant_id, event_id, request_id, api_key_id, model, deployment,
                                        prompt_tokens, completion_tokens, cost_micros, status, occurred_at)
            VALUES (\(tx.tenantID), \(event.id), \(usage.requestID), \(usage.apiKeyID), \(usage.model), \(usage.deployment),
                    \(Int32(usage.promptTokens)), \(Int32(usage.completionTokens)), \(usage.costMicros), \(usage.status.rawValue),
                    \(event.occurredAt))
            """)
    }

    /// Totals per model of the entries that occurred in `[from, to)`, of one key when given.
    static func usage(from: Date, to: Date, apiKeyID: UUID? = nil, in tx: TenantTransaction) async throws -> [UsageReport.ModelUsage] {
        let rows = try await tx.query("""
            SELECT model, count(*)::bigint, COALESCE(sum(prompt_tokens), 0)::bigint,
                   COALESCE(sum(completion_tokens), 0)::bigint, COALESCE(sum(cost_micros), 0)::bigint
            FROM ledger_entries
            WHERE occurred_at >= \(from) AND occurred_at < \(to) AND (\(apiKeyID)::uuid IS NULL OR api_key_id = \(apiKeyID))
            GROUP BY model ORDER BY model
            """)
        var models: [UsageReport.ModelUsage] = []
        for try await (model, requests, prompt, completion, cost) in rows.decode((String, Int64, Int64, Int64, Int64).self) {
            models.append(.init(model: model, usage: .init(
                requests: Int(requests), promptTokens: Int(prompt), completionTokens: Int(completion), costMicros: cost)))
        }
        return models
    }
}
