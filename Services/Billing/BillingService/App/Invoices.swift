import Contracts
import Foundation
import PostgresNIO
import SwitchyardDatabase

/// Monthly invoices from the ledger: closing a month (idempotent), reading invoices, and moving
/// them from draft to issued to paid, or to void. The manual payment provider is marking one
/// paid with the payment's reference.
struct Invoices: Sendable {
    let database: Database

    /// Entries recorded this close to a month's closing go on the next invoice instead: a ledger
    /// transaction that began before the closing may commit after it.
    static let settlingTime: TimeInterval = 300

    func list(_ call: InvoiceListCall) async throws -> ListOf<Invoice> {
        ListOf(try await database.withTenant(call.tenantID) { try await InvoiceRepository.list(in: $0) })
    }

    func show(_ call: InvoiceCall) async throws -> Invoice {
        guard let invoice = try await database.withTenant(call.tenantID, { try await InvoiceRepository.find(id: call.invoiceID, in: $0) }) else {
            throw ServiceFault(code: "not_found", message: "There is no such invoice.")
        }
        return invoice
    }

    /// Makes the month's invoice from the ledger: a usage line per model for the month's entries,
    /// an adjustment line per earlier month and model for entries recorded after the previous
    /// closing, less the tenant's discount in force when the month began. A month closed before
    /// answers its invoice, unchanged. A month whose invoice was voided gets a new one over the
    /// same entries: it keeps the voided invoice's closing time, so what later invoices took as
    /// adjustments is not billed twice.
    func close(_ call: InvoiceCloseCall, now: Date = Date()) async throws -> InvoiceClosed {
        guard let (start, end) = Self.month(call.period) else {
            throw ServiceFault(code: "invalid_value", message: "period must be a month, like 2026-11.", param: "period")
        }
        guard end <= now else {
            throw ServiceFault(code: "invalid_value", message: "\(call.period) has not ended: a month is closed after its last day.", param: "period")
        }
        do {
            return try await database.withTenant(call.tenantID) { tx in
                let earlier = try await InvoiceRepository.all(period: call.period, in: tx)
                if let standing = earlier.first(where: { $0.status != .void }) { return InvoiceClosed(invoice: standing, created: false) }
                let watermark = earlier.first?.closedAt ?? now.addingTimeInterval(-Self.settlingTime)
                let previous = try await InvoiceRepository.lastClose(before: call.period, in: tx)
                let usage = try await InvoiceRepository.lines(kind: .usage, occurredFrom: start, to: end, recordedAfter: nil, recordedBy: watermark, in: tx)
                let late = try await InvoiceRepository.lines(kind: .adjustment, occurredFrom: nil, to: start, recordedAfter: previous, recordedBy: watermark, in: tx)
                let discount = try await DiscountRepository.inForce(at: start, in: tx)
                let id = UUID.timeOrdered()
                try await InvoiceRepository.insert(id: id, period: call.period, closedAt: watermark, lines: usage + late, discount: discount, in: tx)
                return InvoiceClosed(invoice: try await InvoiceRepository.find(id: id, in: tx)!, created: true)
            }
        } catch let error as PSQLError where error.serverInfo?[.sqlState] == "23505" {
            // Closed at the same moment elsewhere: that invoice is the month's.
            let existing = try await database.withTenant(call.tenantID) {
                try await InvoiceRepository.all(period: call.period, in: $0).first { $0.status != .void }
            }
            guard let existing else { throw error }
            return InvoiceClosed(invoice: existing, created: false)
        } catch let error as PSQLError where error.serverInfo?[.sqlState] == "23503" {
            throw ServiceFault(code: "not_found", message: "There is no such tenant.")
        }
    }

    /// draft → issued → paid, and draft or issued → void. Asking for the status an invoice has
    /// changes nothing, so a retried call is harmless.
    func setStatus(_ call: InvoiceStatusCall) async throws -> Invoice {
        if let reference = call.paymentReference, reference.isEmpty || reference.count > 200 {
            throw ServiceFault(code: "invalid_value", message: "payment_reference must be 1 to 200 characters.", param: "payment_reference")
        }
        return try await database.withTenant(call.tenantID) { tx in
            guard let invoice = try await InvoiceRepository.find(id: call.invoiceID, in: tx) else {
                throw ServiceFault(code: "not_found", message: "There is no such invoice.")
            }
            guard invoice.status != call.status else { return invoice }
            guard Self.allowed(from: invoice.status).contains(call.status) else {
                throw ServiceFault(
                    code: "invalid_state", message: "A \(invoice.status.rawValue) invoice cannot become \(call.status.rawValue).", param: "status")
            }
            try await InvoiceRepository.setStatus(call.status, of: invoice.id, paymentReference: call.paymentReference, in: tx)
            return try await InvoiceRepository.find(id: invoice.id, in: tx)!
        }
    }

    static func allowed(from status: Invoice.Status) -> Set<Invoice.Status> {
        switch status {
        case .draft: [.issued, .void]
        case .issued: [.paid, .void]
        case .paid, .void: []
        }
    }

    /// The first instant of the month `2026-11` and of the next, in UTC.
    static func month(_ period: String) -> (Date, Date)? {
        let parts = period.split(separator: "-")
        guard period.count == 7, parts.count == 2, let year = Int(parts[0]), let month = Int(parts[1]), (2000...9999).contains(year), (1...12).contains(month),
              let start = SpendForecast.calendar.date(from: DateComponents(year: year, month: month, day: 1)),
              let end = SpendForecast.calendar.date(byAdding: .month, value: 1, to: start) else { return nil }
        return (start, end)
    }
}
