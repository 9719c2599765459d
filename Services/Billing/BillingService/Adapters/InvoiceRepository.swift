import Contracts
import Foundation
import PostgresNIO
import SwitchyardDatabase

/// Invoices and their lines, inside the tenant transaction a use case opened.
enum InvoiceRepository {
    static func find(id: UUID, in tx: TenantTransaction) async throws -> Invoice? {
        try await invoices(id: id, in: tx).first
    }

    /// A month's invoices, the voided ones first.
    static func all(period: String, in tx: TenantTransaction) async throws -> [Invoice] {
        try await invoices(period: period, in: tx)
    }

    static func list(in tx: TenantTransaction) async throws -> [Invoice] {
        try await invoices(in: tx)
    }

    /// When the latest invoice of a month before `period` was closed; nil before the first.
    static func lastClose(before period: String, in tx: TenantTransaction) async throws -> Date? {
        let rows = try await tx.query("SELECT max(closed_at) FROM invoices WHERE period < \(period)")
        for try await closed in rows.decode(Date?.self) { return closed }
        return nil
    }

    /// The ledger's entries recorded by `watermark`, summed per month and model: those that
    /// occurred in `[from, to)`, or, for adjustments, before `from` and recorded after `after`.
    static func lines(
        kind: Invoice.Line.Kind, occurredFrom from: Date?, to: Date, recordedAfter after: Date?, recordedBy watermark: Date, in tx: TenantTransaction
    ) async throws -> [Invoice.Line] {
        let rows = try await tx.query("""
            SELECT to_char(occurred_at AT TIME ZONE 'UTC', 'YYYY-MM'), model, count(*)::bigint, sum(prompt_tokens)::bigint,
                   sum(completion_tokens)::bigint, sum(cost_micros)::bigint
            FROM ledger_entries
            WHERE (\(from)::timestamptz IS NULL OR occurred_at >= \(from)) AND occurred_at < \(to)
              AND (\(after)::timestamptz IS NULL OR recorded_at > \(after)) AND recorded_at <= \(watermark)
            GROUP BY 1, 2 ORDER BY 1, 2
            """)
        var lines: [Invoice.Line] = []
        for try await (period, model, requests, prompt, completion, amount) in rows.decode((String, String, Int64, Int64, Int64, Int64).self) {
            lines.append(Invoice.Line(kind: kind, period: period, model: model, requests: requests, promptTokens: prompt,
                                      completionTokens: completion, amountMicros: amount))
        }
        return lines
    }

    /// Stores a new draft with its lines and a number of its own.
    static func insert(
        id: UUID, period: String, closedAt: Date, lines: [Invoice.Line], discount: DiscountVersion?, in tx: TenantTransaction
    ) async throws {
        let subtotal = lines.map(\.amountMicros).reduce(0, +)
        let discountMicros = discount?.discountMicros(of: subtotal) ?? 0
        try await tx.execute("""
            INSERT INTO invoices (tenant_id, id, number, period, status, closed_at, subtotal_micros, discount_basis_points, discount_micros, total_micros)
            VALUES (\(tx.tenantID), \(id), 'SY-' || replace(\(period), '-', '') || '-' || lpad(nextval('invoice_numbers')::text, 6, '0'),
                    \(period), 'draft', \(closedAt), \(subtotal), \(Int32(discount?.basisPoints ?? 0)), \(discountMicros), \(subtotal - discountMicros))
            """)
        for (index, line) in lines.enumerated() {
            try await tx.execute("""
                INSERT INTO invoice_lines (tenant_id, invoice_id, line, kind, period, model, requests, prompt_tokens, completion_tokens, amount_micros)
                VALUES (\(tx.tenantID), \(id), \(Int32(index + 1)), \(line.kind.rawValue), \(line.period), \(line.model), \(line.requests),
                        \(line.promptTokens), \(line.completionTokens), \(line.amountMicros))
                """)
        }
    }

    static func setStatus(_ status: Invoice.Status, of id: UUID, paymentReference: String?, in tx: TenantTransaction) async throws {
        let stamp = switch status {
        case .issued: "issued_at"
        case .paid: "paid_at"
        case .void: "voided_at"
        case .draft: preconditionFailure("an invoice never returns to draft (Invoices.allowed)")
        }
        try await tx.execute("""
            UPDATE invoices SET status = \(status.rawValue), \(unescaped: stamp) = now(),
                payment_reference = COALESCE(\(paymentReference), payment_reference)
            WHERE id = \(id)
            """)
    }

    /// The invoices, with their lines, of one id or month, or all, by month (a voided invoice
    /// before its replacement).
    private static func invoices(id: UUID? = nil, period: String? = nil, in tx: TenantTransaction) async throws -> [Invoice] {
        let rows = try await tx.query("""
            SELECT id, tenant_id, number, period, status, closed_at, subtotal_micros, discount_basis_points, discount_micros, total_micros,
                   issued_at, paid_at, voided_at, payment_reference
            FROM invoices WHERE (\(id)::uuid IS NULL OR id = \(id)) AND (\(period)::text IS NULL OR period = \(period))
            ORDER BY period, status <> 'void', number
            """)
        var found: [Invoice] = []
        for try await row in rows.decode((UUID, UUID, String, String, String, Date, Int64, Int32, Int64, Int64, Date?, Date?, Date?, String?).self) {
            found.append(Invoice(
                id: row.0, tenantID: row.1, number: row.2, period: row.3, status: Invoice.Status(rawValue: row.4) ?? .draft, closedAt: row.5,
                lines: [], subtotalMicros: row.6, discountBasisPoints: Int(row.7), discountMicros: row.8, totalMicros: row.9,
                issuedAt: row.10, paidAt: row.11, voidedAt: row.12, paymentReference: row.13))
        }
        for index in found.indices {
            let rows = try await tx.query("""
                SELECT kind, period, model, requests, prompt_tokens, completion_tokens, amount_micros FROM invoice_lines
                WHERE invoice_id = \(found[index].id) ORDER BY line
                """)
            for try await line in rows.decode((String, String, String, Int64, Int64, Int64, Int64).self) {
                found[index].lines.append(Invoice.Line(
                    kind: Invoice.Line.Kind(rawValue: line.0) ?? .usage, period: line.1, model: line.2, requests: line.3,
                    promptTokens: line.4, completionTokens: line.5, amountMicros: line.6))
            }
        }
        return found
    }
}
