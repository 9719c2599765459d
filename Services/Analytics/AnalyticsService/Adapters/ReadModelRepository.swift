import Contracts
import Foundation
import PostgresNIO
import SwitchyardDatabase

/// The read models' rows, inside the tenant transaction a use case opened.
enum ReadModelRepository {
    /// Stands for "no key" in the key column: a member's call, or a tenant's own budget.
    static let noKey = UUID(uuid: (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0))

    /// Records the events as projected, in one statement; returns the ids recorded now (an id
    /// projected before is left out: nothing is to change for it).
    static func markProjected(_ eventIDs: [UUID], in tx: TenantTransaction) async throws -> Set<UUID> {
        let rows = try await tx.query("""
            INSERT INTO analytics_processed_events (tenant_id, event_id)
            SELECT \(tx.tenantID), id FROM unnest(\(eventIDs)::uuid[]) AS id
            ON CONFLICT DO NOTHING RETURNING event_id
            """)
        var recorded: Set<UUID> = []
        for try await id in rows.decode(UUID.self) { recorded.insert(id) }
        return recorded
    }

    /// Empties the read models of every tenant.
    static func resetAll(_ database: Database) async throws {
        _ = try await database.client.query("SELECT analytics_reset()").collect()
    }

    /// Empties the transaction's tenant's read models.
    static func reset(in tx: TenantTransaction) async throws {
        for table in ["analytics_usage_hourly", "analytics_budgets", "analytics_processed_events"] {
            try await tx.execute("DELETE FROM \(unescaped: table)")
        }
    }

    /// Adds calls to their hour's row.
    static func addCalls(_ usage: HourlyUsage, in tx: TenantTransaction) async throws {
        let (row, totals) = (usage.row, usage.totals)
        try await tx.execute("""
            INSERT INTO analytics_usage_hourly AS row (tenant_id, hour, api_key_id, model, deployment, requests, failed, cancelled,
                                                       prompt_tokens, completion_tokens, cost_micros, latency_ms_sum, latency_buckets)
            VALUES (\(tx.tenantID), \(row.hour), \(row.apiKeyID ?? noKey), \(row.model), \(row.deployment),
                    \(totals.requests), \(totals.failed), \(totals.cancelled), \(totals.promptTokens), \(totals.completionTokens),
                    \(totals.costMicros), \(totals.latencyMsSum), \(totals.latency.counts))
            ON CONFLICT (tenant_id, hour, api_key_id, model, deployment) DO UPDATE SET
                requests = row.requests + EXCLUDED.requests,
                failed = row.failed + EXCLUDED.failed,
                cancelled = row.cancelled + EXCLUDED.cancelled,
                prompt_tokens = row.prompt_tokens + EXCLUDED.prompt_tokens,
                completion_tokens = row.completion_tokens + EXCLUDED.completion_tokens,
                cost_micros = row.cost_micros + EXCLUDED.cost_micros,
                latency_ms_sum = row.latency_ms_sum + EXCLUDED.latency_ms_sum,
                latency_buckets = ARRAY(
                    SELECT mine + theirs FROM unnest(row.latency_buckets, EXCLUDED.latency_buckets) WITH ORDINALITY AS b(mine, theirs, i)
                    ORDER BY i)
            """)
    }

    /// Takes a budget's amount and policy when the change occurred after the one held.
    static func setBudget(_ change: BudgetChanged, eventID: UUID, at occurredAt: Date, in tx: TenantTransaction) async throws {
        try await tx.execute("""
            INSERT INTO analytics_budgets AS row (tenant_id, api_key_id, amount_micros, policy, changed_at, changed_event)
            VALUES (\(tx.tenantID), \(change.apiKeyID ?? noKey), \(change.budget.amountMicros), \(change.budget.policy.rawValue),
                    \(occurredAt), \(eventID))
            ON CONFLICT (tenant_id, api_key_id) DO UPDATE SET
                amount_micros = EXCLUDED.amount_micros, policy = EXCLUDED.policy,
                changed_at = EXCLUDED.changed_at, changed_event = EXCLUDED.changed_event
            WHERE row.changed_at IS NULL OR (row.changed_at, row.changed_event) < (EXCLUDED.changed_at, EXCLUDED.changed_event)
            """)
    }

    /// Keeps the highest threshold crossed in the latest period.
    static func crossThreshold(_ crossing: BudgetThresholdCrossed, in tx: TenantTransaction) async throws {
        try await tx.execute("""
            INSERT INTO analytics_budgets AS row (tenant_id, api_key_id, period, crossed_percent, spent_micros)
            VALUES (\(tx.tenantID), \(crossing.apiKeyID ?? noKey), \(crossing.period), \(Int32(crossing.thresholdPercent)),
                    \(crossing.spentMicros))
            ON CONFLICT (tenant_id, api_key_id) DO UPDATE SET
                period = EXCLUDED.period, crossed_percent = EXCLUDED.crossed_percent, spent_micros = EXCLUDED.spent_micros
            WHERE row.period IS NULL OR (row.period, row.crossed_percent) < (EXCLUDED.period, EXCLUDED.crossed_percent)
            """)
    }

    /// The tenant's own budget as the events told it: its amount and policy, the period and
    /// highest threshold crossed last.
    static func tenantBudget(in tx: TenantTransaction) async throws -> BudgetStanding? {
        let rows = try await tx.query("""
            SELECT amount_micros, policy, period, crossed_percent FROM analytics_budgets WHERE api_key_id = \(noKey)
            """)
        for try await row in rows.decode((Int64?, String?, String?, Int32?).self) {
            return BudgetStanding(amountMicros: row.0, policy: row.1, period: row.2, crossedPercent: row.3.map(Int.init))
        }
        return nil
    }

    /// The hours of `[from, to)` with their group (nil when ungrouped), summed per `interval`.
    static func usage(
        from: Date, to: Date, interval: AnalyticsInterval, groupBy: AnalyticsGrouping?, in tx: TenantTransaction
    ) async throws -> [(start: Date, group: String?, totals: HourTotals)] {
        let group = switch groupBy {
        case nil: "NULL::text"
        case .model: "model"
        case .deployment: "deployment"
        case .key: "CASE WHEN api_key_id = '\(noKey.uuidString.lowercased())' THEN 'none' ELSE api_key_id::text END"
        }
        let rows = try await tx.query("""
            SELECT date_trunc(\(interval.rawValue), hour, 'UTC') AS start, \(unescaped: group) AS grouped,
                   requests, failed, cancelled, prompt_tokens, completion_tokens, cost_micros, latency_ms_sum, latency_buckets
            FROM analytics_usage_hourly
            WHERE hour >= date_trunc(\(interval.rawValue), \(from)::timestamptz, 'UTC') AND hour < \(to)
            ORDER BY start, grouped
            """)
        // Summed here rather than in SQL: the histograms add up bucket by bucket.
        var points: [(start: Date, group: String?, totals: HourTotals)] = []
        for try await row in rows.decode((Date, String?, Int64, Int64, Int64, Int64, Int64, Int64, Int64, [Int64]).self) {
            let hour = HourTotals(
                requests: row.2, failed: row.3, cancelled: row.4, promptTokens: row.5, completionTokens: row.6, costMicros: row.7,
                latencyMsSum: row.8, latency: LatencyHistogram(counts: row.9) ?? LatencyHistogram())
            if let last = points.last, last.start == row.0, last.group == row.1 {
                points[points.count - 1].totals.add(hour)
            } else {
                points.append((row.0, row.1, hour))
            }
        }
        return points
    }
}

struct BudgetStanding: Sendable, Equatable {
    var amountMicros: Int64?
    var policy: String?
    var period: String?
    var crossedPercent: Int?
}
