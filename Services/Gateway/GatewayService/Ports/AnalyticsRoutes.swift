import Contracts
import Foundation
import Hummingbird

/// `GET /v1/analytics/usage?from=&to=&group_by=&interval=`: the caller's tenant's calls, tokens,
/// cost, errors and latency over time, from analytics' read models; `GET /v1/dashboard`: the
/// same, its budget and forecast as an HTML page.
struct AnalyticsRoutes: Sendable {
    let analytics: AnalyticsClient
    /// The longest periods asked for at once, so one answer stays a few thousand points.
    static let longestPeriod: [AnalyticsInterval: TimeInterval] = [.hour: 31 * 86_400, .day: 366 * 86_400]

    func addRoutes(to group: RouterGroup<GatewayContext>) {
        group.get("analytics/usage", use: usage)
        group.get("dashboard", use: dashboard)
    }

    func dashboard(_ request: Request, context: GatewayContext) async throws -> Response {
        let caller = try context.requireCaller()
        try caller.require(.analyticsRead)
        let call = AnalyticsDashboardCall(tenantID: try caller.requireTenant())
        let page = try await analytics.answer(AnalyticsVerb.dashboard, call, correlationID: context.requestID)
        return Response(status: .ok, headers: [.contentType: "text/html; charset=utf-8"], body: .init(byteBuffer: ByteBuffer(bytes: page)))
    }

    /// `from` (included) and `to` (excluded) as `GET /v1/usage` takes them, by default the
    /// calendar month so far; `interval` `hour` or `day` (the default), in UTC; `group_by`
    /// `model`, `key` or `deployment`, or nothing for the tenant's totals.
    func usage(_ request: Request, context: GatewayContext) async throws -> Response {
        let caller = try context.requireCaller()
        try caller.require(.analyticsRead)
        let tenant = try caller.requireTenant()
        let interval = try Self.choice(request, "interval", AnalyticsInterval.self) ?? .day
        let groupBy = try Self.choice(request, "group_by", AnalyticsGrouping.self)
        let now = Date()
        let from = try UsageRoutes.instant(request, "from") ?? QuotaLimiter.monthStart(of: now)
        let to = try UsageRoutes.instant(request, "to") ?? now
        guard from < to else { throw APIError.invalid("to", "to must be after from.") }
        let longest = Self.longestPeriod[interval]!
        guard to.timeIntervalSince(from) <= longest else {
            throw APIError.invalid("from", "With interval \(interval.rawValue) the period may be at most \(Int(longest / 86_400)) days.")
        }
        let call = AnalyticsUsageCall(tenantID: tenant, from: from, to: to, groupBy: groupBy, interval: interval)
        let report = try await analytics.answer(AnalyticsVerb.usage, call, correlationID: context.requestID)
        return Response(status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(bytes: report)))
    }

    private static func choice<Choice: RawRepresentable & CaseIterable>(
        _ request: Request, _ name: String, _ type: Choice.Type
    ) throws(APIError) -> Choice? where Choice.RawValue == String {
        guard let text = request.uri.queryParameters.get(name) else { return nil }
        guard let choice = Choice(rawValue: text) else {
            throw APIError.invalid(name, "\(name) must be one of \(Choice.allCases.map(\.rawValue).joined(separator: ", ")).")
        }
        return choice
    }
}
