import Contracts
import Foundation
import PostgresNIO
import SwitchyardDatabase

/// The ledger's rows, inside the tenant transaction a use case opened.
enum LedgerRepository {
    /// One event's entry: charged `costMicros` at the price `pricedBy` names.
    struct Entry {
        var event: Envelope<UsageRecorded>
        var costMicros: Int64
        var pricedBy: String
    }

    /// Adds the entries of the transaction's tenant's events in one statement.
    static func record(_ entries: [Entry], in tx: TenantTransaction) async throws {
        guard !entries.isEmpty else { return }
        let usages = entries.map(\.event.payload)
        try await tx.execute("""
            INSERT INTO ledger_entries (tenant_id, event_id, request_id, api_key_id, model, deployment,
                                        prompt_tokens, completion_tokens, cost_micros, status, occurred_at, priced_by)
            SELECT \(tx.tenantID), e.event_id, e.request_id, NULLIF(e.api_key_id, '')::uuid, e.model, e.deployment,
                   e.prompt_tokens, e.completion_tokens, e.cost_micros, e.status, e.occurred_at, e.priced_by
            FROM unnest(\(entries.map(\.event.id))::uuid[], \(usages.map(\.requestID))::text[],
                        \(usages.map { $0.apiKeyID?.uuidString ?? "" })::text[], \(usages.map(\.model))::text[],
                        \(usages.map(\.deployment))::text[], \(usages.map { Int32($0.promptTokens) })::int4[],
                        \(usages.map { Int32($0.completionTokens) })::int4[], \(entries.map(\.costMicros))::int8[],
                        \(usages.map(\.status.rawValue))::text[], \(entries.map(\.event.occurredAt))::timestamptz[],
                        \(entries.map(\.pricedBy))::text[])
                AS e(event_id, request_id, api_key_id, model, deployment, prompt_tokens, completion_tokens, cost_micros,
                     status, occurred_at, priced_by)
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
