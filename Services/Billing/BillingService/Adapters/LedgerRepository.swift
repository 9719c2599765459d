import Contracts
import Foundation
import PostgresNIO
import SwitchyardDatabase

/// The ledger's rows, inside the tenant transaction a use case opened.
enum LedgerRepository {
    /// Adds the entry of one usage event, charged `costMicros` at the price `pricedBy` names.
    static func record(_ event: Envelope<UsageRecorded>, costMicros: Int64, pricedBy: String, in tx: TenantTransaction) async throws {
        let usage = event.payload
        try await tx.execute("""
            INSERT INTO ledger_entries (tenant_id, event_id, request_id, api_key_id, model, deployment,
                                        prompt_tokens, completion_tokens, cost_micros, status, occurred_at, priced_by)
            VALUES (\(tx.tenantID), \(event.id), \(usage.requestID), \(usage.apiKeyID), \(usage.model), \(usage.deployment),
                    \(Int32(usage.promptTokens)), \(Int32(usage.completionTokens)), \(costMicros), \(usage.status.rawValue),
                    \(event.occurredAt), \(pricedBy))
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

    /// The spend of each of `days` whole days (UTC) from `start`, in order, zero for a day without calls.
    static func dailySpend(from start: Date, days: Int, in tx: TenantTransaction) async throws -> [Int64] {
        let end = start.addingTimeInterval(Double(days) * 86_400)
        let rows = try await tx.query("""
            SELECT floor(extract(epoch FROM occurred_at - \(start)::timestamptz) / 86400)::integer, sum(cost_micros)::bigint
            FROM ledger_entries WHERE occurred_at >= \(start) AND occurred_at < \(end)
            GROUP BY 1
            """)
        var spend = [Int64](repeating: 0, count: days)
        for try await (day, cost) in rows.decode((Int32, Int64).self) where (0..<days).contains(Int(day)) { spend[Int(day)] = cost }
        return spend
    }

    /// The spend of the entries that occurred in `[from, to)`, of one key when given.
    static func spend(from: Date, to: Date, apiKeyID: UUID? = nil, in tx: TenantTransaction) async throws -> Int64 {
        let rows = try await tx.query("""
            SELECT COALESCE(sum(cost_micros), 0)::bigint FROM ledger_entries
            WHERE occurred_at >= \(from) AND occurred_at < \(to) AND (\(apiKeyID)::uuid IS NULL OR api_key_id = \(apiKeyID))
            """)
        for try await total in rows.decode(Int64.self) { return total }
        return 0
    }
}
