import Contracts
import Foundation
import PostgresNIO

/// The append-only, hash-chained audit log of admin actions and credential changes. The
/// database computes each row's sequence and hash (trigger `audit_log_chain`).
public enum AuditLog {
    /// Appends one entry; `detailsJSON` is a JSON object.
    public static func append(
        actor: String, action: String, target: String? = nil, detailsJSON: String = "{}", in tx: TenantTransaction
    ) async throws {
        try await tx.execute("""
            INSERT INTO audit_log (tenant_id, actor, action, target, details, hash)
            VALUES (\(tx.tenantID), \(actor), \(action), \(target), \(detailsJSON)::jsonb, '\\x')
            """)
    }

    /// Entries in order, from the one after `after` (a sequence number), at most `limit`.
    public static func entries(after: Int64 = 0, limit: Int = 1000, in tx: TenantTransaction) async throws -> [AuditEntryInfo] {
        var entries: [AuditEntryInfo] = []
        let rows = try await tx.query("""
            SELECT seq, occurred_at, actor, action, target FROM audit_log
            WHERE seq > \(after) ORDER BY seq LIMIT \(limit)
            """)
        for try await (seq, occurredAt, actor, action, target) in rows.decode((Int64, Date, String, String, String?).self) {
            entries.append(AuditEntryInfo(seq: seq, occurredAt: occurredAt, actor: actor, action: action, target: target))
        }
        return entries
    }

    /// The sequence of the first entry whose hash does not follow from its content and the
    /// entry before it, or nil when the chain is whole.
    public static func firstBrokenLink(in tx: TenantTransaction) async throws -> Int64? {
        let rows = try await tx.query("""
            SELECT seq FROM (
                SELECT seq, hash, prev_hash,
                       lag(hash) OVER (ORDER BY seq) AS previous,
                       COALESCE(lag(seq) OVER (ORDER BY seq), 0) AS previous_seq,
                       audit_log_hash(prev_hash, tenant_id, seq, occurred_at, actor, action, target, details) AS expected
                FROM audit_log
            ) chain
            WHERE hash <> expected OR prev_hash IS DISTINCT FROM previous OR seq <> previous_seq + 1
            ORDER BY seq LIMIT 1
            """)
        for try await seq in rows.decode(Int64.self) { return seq }
        return nil
    }
}
