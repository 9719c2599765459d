import Contracts
import Foundation
import Hummingbird

/// `GET /v1/usage?from=&to=`: the caller's tenant's requests, tokens and cost, from billing's
/// ledger; `GET /v1/usage/forecast`: its spend over the next 30 days.
struct UsageRoutes: Sendable {
    let billing: BillingClient
    /// Longer periods are refused: a report is one query over the ledger.
    static let longestPeriod: TimeInterval = 366 * 86_400

    func addRoutes(to group: RouterGroup<GatewayContext>) {
        group.get("usage", use: usage)
        group.get("usage/forecast", use: forecast)
    }

    func forecast(_ request: Request, context: GatewayContext) async throws -> Response {
        let caller = try context.requireCaller()
        try caller.require(.usageRead)
        return try Response.json(try await billing.forecast(tenant: try caller.requireTenant(), correlationID: context.requestID))
    }

    /// `from` (included) and `to` (excluded) are dates (`2026-11-01`, midnight UTC) or date-times
    /// (`2026-11-01T12:00:00Z`); by default the calendar month so far.
    func usage(_ request: Request, context: GatewayContext) async throws -> Response {
        let caller = try context.requireCaller()
        try caller.require(.usageRead)
        let tenant = try caller.requireTenant()
        let now = Date()
        let from = try Self.instant(request, "from") ?? QuotaLimiter.monthStart(of: now)
        let to = try Self.instant(request, "to") ?? now
        guard from < to else { throw APIError.invalid("to", "to must be after from.") }
        guard to.timeIntervalSince(from) <= Self.longestPeriod else { throw APIError.invalid("from", "The period may be at most 366 days.") }
        return try Response.json(try await billing.usage(tenant: tenant, from: from, to: to, correlationID: context.requestID))
    }

    static func instant(_ request: Request, _ name: String) throws(APIError) -> Date? {
        guard let text = request.uri.queryParameters.get(name) else { return nil }
        if let date = try? Date(text, strategy: .iso8601) { return date }
        if let day = try? Date(text, strategy: Date.ISO8601FormatStyle(timeZone: TimeZone(identifier: "UTC")!).year().month().day()) {
            return day
        }
        throw APIError.invalid(name, "\(name) must be a date (2026-11-01) or a date-time (2026-11-01T12:00:00Z).")
    }
}
