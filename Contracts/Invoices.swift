import Foundation

/// A tenant's invoice for one calendar month (UTC): `GET /v1/invoices/{id}`.
public struct Invoice: Codable, Sendable, Equatable {
    public enum Status: String, Codable, Sendable, CaseIterable {
        /// Made from the ledger; may still be voided and the month closed again.
        case draft
        case issued
        case paid
        case void
    }

    public struct Line: Codable, Sendable, Equatable {
        public enum Kind: String, Codable, Sendable {
            /// The invoice's month's calls of a model.
            case usage
            /// An earlier month's calls recorded after that month was invoiced.
            case adjustment
        }

        public var kind: Kind
        /// The month the calls occurred in, `2026-11`.
        public var period: String
        public var model: String
        public var requests: Int64
        public var promptTokens: Int64
        public var completionTokens: Int64
        public var amountMicros: Int64

        public init(kind: Kind, period: String, model: String, requests: Int64, promptTokens: Int64, completionTokens: Int64, amountMicros: Int64) {
            self.kind = kind
            self.period = period
            self.model = model
            self.requests = requests
            self.promptTokens = promptTokens
            self.completionTokens = completionTokens
            self.amountMicros = amountMicros
        }

        enum CodingKeys: String, CodingKey {
            case kind, period, model, requests
            case promptTokens = "prompt_tokens"
            case completionTokens = "completion_tokens"
            case amountMicros = "amount_micros"
        }
    }

    public var object = "invoice"
    public var id: UUID
    public var tenantID: UUID
    public var number: String
    public var period: String
    public var status: Status
    /// Ledger entries recorded up to this moment are on this invoice or an earlier one.
    public var closedAt: Date
    public var lines: [Line]
    public var subtotalMicros: Int64
    /// The tenant's discount in force when the month began, and what it takes off.
    public var discountBasisPoints: Int
    public var discountMicros: Int64
    public var totalMicros: Int64
    public var issuedAt: Date?
    public var paidAt: Date?
    public var voidedAt: Date?
    public var paymentReference: String?

    public init(
        id: UUID, tenantID: UUID, number: String, period: String, status: Status, closedAt: Date, lines: [Line],
        subtotalMicros: Int64, discountBasisPoints: Int = 0, discountMicros: Int64 = 0, totalMicros: Int64, issuedAt: Date? = nil, paidAt: Date? = nil, voidedAt: Date? = nil,
        paymentReference: String? = nil
    ) {
        self.id = id
        self.tenantID = tenantID
        self.number = number
        self.period = period
        self.status = status
        self.closedAt = closedAt
        self.lines = lines
        self.subtotalMicros = subtotalMicros
        self.discountBasisPoints = discountBasisPoints
        self.discountMicros = discountMicros
        self.totalMicros = totalMicros
        self.issuedAt = issuedAt
        self.paidAt = paidAt
        self.voidedAt = voidedAt
        self.paymentReference = paymentReference
    }

    enum CodingKeys: String, CodingKey {
        case object, id
        case tenantID = "tenant_id"
        case number, period, status
        case closedAt = "closed_at"
        case lines
        case subtotalMicros = "subtotal_micros"
        case discountBasisPoints = "discount_basis_points"
        case discountMicros = "discount_micros"
        case totalMicros = "total_micros"
        case issuedAt = "issued_at"
        case paidAt = "paid_at"
        case voidedAt = "voided_at"
        case paymentReference = "payment_reference"
    }
}

/// Invoice calls on `svc.billing.*`.
public enum InvoiceVerb {
    /// An `InvoiceListCall`, answered with `ListOf<Invoice>`.
    public static let list = "invoices"
    /// An `InvoiceCall`, answered with an `Invoice` (fault `not_found` when there is none).
    public static let show = "invoice"
    /// An `InvoiceCloseCall`, answered with an `InvoiceClosed`.
    public static let close = "close_invoice"
    /// An `InvoiceStatusCall`, answered with the `Invoice` as it is after the change.
    public static let setStatus = "invoice_status"
}

public struct InvoiceListCall: Codable, Sendable, Equatable {
    public var tenantID: UUID
    public init(tenantID: UUID) { self.tenantID = tenantID }
    enum CodingKeys: String, CodingKey { case tenantID = "tenant_id" }
}

public struct InvoiceCall: Codable, Sendable, Equatable {
    public var tenantID: UUID
    public var invoiceID: UUID
    public init(tenantID: UUID, invoiceID: UUID) {
        self.tenantID = tenantID
        self.invoiceID = invoiceID
    }
    enum CodingKeys: String, CodingKey {
        case tenantID = "tenant_id"
        case invoiceID = "invoice_id"
    }
}

/// Closes a month: its invoice is made from the ledger, or the one made before is answered.
public struct InvoiceCloseCall: Codable, Sendable, Equatable {
    public var tenantID: UUID
    /// `2026-11`: a month that has ended.
    public var period: String
    public init(tenantID: UUID, period: String) {
        self.tenantID = tenantID
        self.period = period
    }
    enum CodingKeys: String, CodingKey {
        case tenantID = "tenant_id"
        case period
    }
}

public struct InvoiceClosed: Codable, Sendable, Equatable {
    public var invoice: Invoice
    /// False when the month had been closed before: the invoice is the one made then.
    public var created: Bool
    public init(invoice: Invoice, created: Bool) {
        self.invoice = invoice
        self.created = created
    }
}

/// Moves an invoice on: draft → issued → paid, or draft or issued → void.
public struct InvoiceStatusCall: Codable, Sendable, Equatable {
    public var tenantID: UUID
    public var invoiceID: UUID
    public var status: Invoice.Status
    /// For `paid`: the payment's reference at the provider, e.g. a bank transfer's.
    public var paymentReference: String?
    public init(tenantID: UUID, invoiceID: UUID, status: Invoice.Status, paymentReference: String? = nil) {
        self.tenantID = tenantID
        self.invoiceID = invoiceID
        self.status = status
        self.paymentReference = paymentReference
    }
    enum CodingKeys: String, CodingKey {
        case tenantID = "tenant_id"
        case invoiceID = "invoice_id"
        case status
        case paymentReference = "payment_reference"
    }
}

/// The body of `POST /admin/tenants/{id}/invoices`.
public struct CloseInvoiceRequest: Codable, Sendable, Equatable {
    public var period: String
    public init(period: String) { self.period = period }
}

/// The body of `POST /admin/tenants/{id}/invoices/{invoice}/status`.
public struct SetInvoiceStatusRequest: Codable, Sendable, Equatable {
    public var status: Invoice.Status
    public var paymentReference: String?
    public init(status: Invoice.Status, paymentReference: String? = nil) {
        self.status = status
        self.paymentReference = paymentReference
    }
    enum CodingKeys: String, CodingKey {
        case status
        case paymentReference = "payment_reference"
    }
}
