import Contracts
import Foundation
import Hummingbird
import SwitchyardRuntime

/// `GET /v1/invoices` and `GET /v1/invoices/{id}`: the caller's tenant's invoices, from
/// billing; one invoice as JSON, or as a printable HTML page when the caller asks for
/// `text/html` (or `?format=html`).
struct InvoiceRoutes: Sendable {
    let billing: BillingClient

    func addRoutes(to group: RouterGroup<GatewayContext>) {
        group.get("invoices", use: list)
        group.get("invoices/:invoice", use: show)
    }

    func list(_ request: Request, context: GatewayContext) async throws -> Response {
        let caller = try context.requireCaller()
        try caller.require(.invoicesRead)
        return try Response.json(try await billing.invoices(tenant: try caller.requireTenant(), correlationID: context.requestID))
    }

    func show(_ request: Request, context: GatewayContext) async throws -> Response {
        let caller = try context.requireCaller()
        try caller.require(.invoicesRead)
        guard let text = context.parameters.get("invoice"), let id = UUID(uuidString: text) else { throw APIError.notFound("invoice") }
        let invoice = try await billing.invoice(id, tenant: try caller.requireTenant(), correlationID: context.requestID)
        let wantsHTML = request.uri.queryParameters.get("format") == "html"
            || (request.headers[.accept]?.contains("text/html") ?? false)
        guard wantsHTML else { return try Response.json(invoice) }
        return Response(status: .ok, headers: [.contentType: "text/html; charset=utf-8"],
                        body: .init(byteBuffer: ByteBuffer(string: InvoicePage.html(invoice))))
    }
}

/// An invoice as a page to read and print: no script, its own styles.
enum InvoicePage {
    /// 1250 basis points → `12.5 %`, 1000 → `10 %`.
    static func percent(_ basisPoints: Int) -> String {
        var text = String(format: "%d.%02d", basisPoints / 100, basisPoints % 100)
        while text.hasSuffix("0") { text.removeLast() }
        if text.hasSuffix(".") { text.removeLast() }
        return text + " %"
    }

    static func html(_ invoice: Invoice) -> String {
        let rows = invoice.lines.map { line in
            let what = line.kind == .usage ? HTML.escape(line.model) : "\(HTML.escape(line.model)), \(HTML.escape(line.period)) (recorded late)"
            return "<tr><td>\(what)</td><td>\(line.requests)</td><td>\(line.promptTokens)</td><td>\(line.completionTokens)</td><td>$\(Money.usd(micros: line.amountMicros))</td></tr>"
        }
        let body = rows.isEmpty ? #"<tr><td colspan="5">No usage this month.</td></tr>"# : rows.joined(separator: "\n")
        return """
            <!doctype html>
            <html lang="en">
            <head>
            <meta charset="utf-8">
            <title>Invoice \(HTML.escape(invoice.number))</title>
            <style>
            body{font:14px/1.5 system-ui,sans-serif;margin:40px;color:#1f2430}h1{font-size:22px;margin:0 0 4px}
            table{border-collapse:collapse;width:100%;margin-top:24px}td,th{padding:6px 8px;border-bottom:1px solid #e1e4ea;text-align:left}
            td:nth-child(n+2),th:nth-child(n+2){text-align:right}tfoot td{font-weight:600;border-bottom:none}
            .status{display:inline-block;padding:2px 8px;border-radius:4px;background:#eef0f4;text-transform:uppercase;font-size:12px}
            </style>
            </head>
            <body>
            <h1>Invoice \(HTML.escape(invoice.number))</h1>
            <p>Period \(HTML.escape(invoice.period)) · tenant \(Subject.token(invoice.tenantID)) · <span class="status">\(invoice.status.rawValue)</span></p>
            <table>
            <thead><tr><th>Model</th><th>Calls</th><th>Prompt tokens</th><th>Completion tokens</th><th>Amount (USD)</th></tr></thead>
            <tbody>
            \(body)
            </tbody>
            <tfoot>
            \(invoice.discountMicros > 0 ? """
            <tr><td colspan="4">Subtotal</td><td>$\(Money.usd(micros: invoice.subtotalMicros))</td></tr>
            <tr><td colspan="4">Discount \(Self.percent(invoice.discountBasisPoints))</td><td>−$\(Money.usd(micros: invoice.discountMicros))</td></tr>
            """ : "")
            <tr><td colspan="4">Total</td><td>$\(Money.usd(micros: invoice.totalMicros))</td></tr>
            </tfoot>
            </table>
            </body>
            </html>
            """
    }
}
