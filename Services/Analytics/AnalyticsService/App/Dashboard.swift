import Contracts
import Foundation
import SwitchyardDatabase
import SwitchyardRuntime

/// A tenant's dashboard as one HTML page with its charts drawn in SVG on the server: the last
/// 14 days' calls, failures, cost and latency, the month's top models and keys, the budget's
/// standing and billing's forecast. No script runs in it.
struct Dashboard: Sendable {
    let database: Database
    let series: UsageSeries
    /// Billing's forecast; nil when billing does not answer (the page says so).
    let forecast: @Sendable (UUID) async -> SpendForecastReport?

    static let days = 14

    func page(tenant: UUID, now: Date = Date()) async throws -> String {
        let calendar = Self.calendar
        let today = calendar.startOfDay(for: now)
        let first = today.addingTimeInterval(-Double(Self.days - 1) * 86_400)
        let monthStart = calendar.date(from: calendar.dateComponents([.year, .month], from: today))!
        let (name, budget) = try await database.withTenant(tenant) { tx in
            (try await TenantRepository.find(in: tx)?.name ?? "Tenant", try await ReadModelRepository.tenantBudget(in: tx))
        }
        let daily = try await series.report(AnalyticsUsageCall(tenantID: tenant, from: first, to: now, groupBy: nil, interval: .day))
        let byModel = try await series.report(AnalyticsUsageCall(tenantID: tenant, from: monthStart, to: now, groupBy: .model, interval: .day))
        let byKey = try await series.report(AnalyticsUsageCall(tenantID: tenant, from: monthStart, to: now, groupBy: .key, interval: .day))
        let outlook = await forecast(tenant)

        // One point per day, days without calls included.
        let points = (0..<Self.days).map { offset -> (label: String, point: AnalyticsUsageReport.Point?) in
            let day = first.addingTimeInterval(Double(offset) * 86_400)
            return (Self.shortDay(day), daily.data.first { $0.start == day })
        }
        let labels = points.map(\.label)
        func values(_ value: (AnalyticsUsageReport.Point) -> Int64) -> [Int64] { points.map { $0.point.map(value) ?? 0 } }
        let totals = daily.data
        let requests = totals.map(\.requests).reduce(0, +)
        let failed = totals.map(\.failed).reduce(0, +)
        let cost = totals.map(\.costMicros).reduce(0, +)
        let spentThisMonth = byModel.data.map(\.costMicros).reduce(0, +)

        let charts = [
            SVGChart(title: "Cost per day", labels: labels, series: [.init(name: "cost", color: "#3b6fd8", values: values(\.costMicros))],
                     style: .bars, format: Self.dollars),
            SVGChart(title: "Calls per day", labels: labels, series: [
                .init(name: "calls", color: "#2f9e6e", values: values(\.requests)),
                .init(name: "failed", color: "#d64545", values: values(\.failed)),
            ], style: .lines),
            SVGChart(title: "Latency per day (ms)", labels: labels, series: [
                .init(name: "p50", color: "#7b61c9", values: values(\.latencyMs.p50)),
                .init(name: "p95", color: "#e0902f", values: values(\.latencyMs.p95)),
            ], style: .lines),
        ]
        return """
            <!doctype html>
            <html lang="en">
            <head>
            <meta charset="utf-8">
            <title>\(HTML.escape(name)) · Switchyard</title>
            <style>\(Self.style)</style>
            </head>
            <body>
            <header><h1>\(HTML.escape(name))</h1><p>The last \(Self.days) days, in UTC, as of \(HTML.escape(Self.stamp(now)))</p></header>
            <section class="cards">
            \(Self.card("Calls", "\(requests)"))
            \(Self.card("Cost", Self.dollars(cost)))
            \(Self.card("Failed", requests == 0 ? "–" : Self.percent(failed, of: requests)))
            \(Self.card("Latency p95", totals.isEmpty ? "–" : "\(totals.map(\.latencyMs.p95).max() ?? 0) ms"))
            </section>
            <section class="charts">
            \(charts.map { "<figure>\($0.svg)</figure>" }.joined(separator: "\n"))
            </section>
            <section class="budget">
            <h2>Budget</h2>
            \(Self.budget(budget, spent: spentThisMonth, forecast: outlook))
            </section>
            <section class="tops">
            \(Self.top("Top models this month", byModel))
            \(Self.top("Top keys this month", byKey))
            </section>
            </body>
            </html>
            """
    }

    static func budget(_ standing: BudgetStanding?, spent: Int64, forecast: SpendForecastReport?) -> String {
        var lines: [String] = []
        if let amount = standing?.amountMicros, amount > 0 {
            let share = min(100, Int(spent * 100 / amount))
            lines.append("<p>\(dollars(spent)) of \(dollars(amount)) spent this month (\(percent(spent, of: amount))); policy \(HTML.escape(standing?.policy ?? "block")).</p>")
            let color = share >= 90 ? "#d64545" : share >= 80 ? "#e0902f" : "#2f9e6e"
            lines.append(##"<svg viewBox="0 0 400 16" class="meter" role="img" aria-label="\##(share)% of the budget"><rect width="400" height="16" fill="#e6e9ef"/><rect width="\##(share * 4)" height="16" fill="\##(color)"/></svg>"##)
            if let crossed = standing?.crossedPercent, let period = standing?.period {
                lines.append("<p>Highest threshold crossed: \(crossed)% in \(HTML.escape(period)).</p>")
            }
        } else {
            lines.append("<p>No budget is set.</p>")
        }
        if let forecast {
            lines.append("<p>Forecast for the next 30 days: \(dollars(forecast.totalMicros)).")
            if let outlook = forecast.budget {
                lines.append(outlook.runsOutOn.map { " At this pace the budget runs out on \(HTML.escape($0)).</p>" } ?? " At this pace the budget lasts.</p>")
            } else {
                lines.append("</p>")
            }
        } else {
            lines.append("<p>The forecast is not available right now.</p>")
        }
        return lines.joined(separator: "\n")
    }

    /// The five groups that cost most, with their calls and cost.
    static func top(_ title: String, _ report: AnalyticsUsageReport) -> String {
        var byGroup: [String: (requests: Int64, cost: Int64)] = [:]
        for point in report.data {
            let group = point.group ?? "–"
            byGroup[group, default: (0, 0)].requests += point.requests
            byGroup[group, default: (0, 0)].cost += point.costMicros
        }
        let rows = byGroup.sorted { ($0.value.cost, $1.key) > ($1.value.cost, $0.key) }.prefix(5).map { group, totals in
            "<tr><td>\(HTML.escape(group))</td><td>\(totals.requests)</td><td>\(dollars(totals.cost))</td></tr>"
        }
        let body = rows.isEmpty ? #"<tr><td colspan="3">No calls yet.</td></tr>"# : rows.joined(separator: "\n")
        return "<div><h2>\(HTML.escape(title))</h2><table><thead><tr><th></th><th>calls</th><th>cost</th></tr></thead><tbody>\n\(body)\n</tbody></table></div>"
    }

    static func card(_ title: String, _ value: String) -> String {
        #"<div class="card"><span>\#(HTML.escape(title))</span><strong>\#(HTML.escape(value))</strong></div>"#
    }

    /// `$12.34`, or more decimals for amounts under a cent.
    @Sendable static func dollars(_ micros: Int64) -> String {
        let exact = Money.usd(micros: micros)
        let cents = micros.magnitude >= 10_000 || micros == 0
        return "$" + (cents ? String(exact.dropLast(4)) : exact)
    }

    static func percent(_ part: Int64, of whole: Int64) -> String {
        guard whole > 0 else { return "–" }
        let tenths = (part * 1_000 + whole / 2) / whole
        return "\(tenths / 10).\(tenths % 10)%"
    }

    static let calendar: Calendar = {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "UTC")!
        return calendar
    }()

    static func shortDay(_ date: Date) -> String {
        let parts = calendar.dateComponents([.month, .day], from: date)
        return "\(parts.day!)/\(parts.month!)"
    }

    static func stamp(_ date: Date) -> String {
        date.formatted(Date.ISO8601FormatStyle(timeZone: TimeZone(identifier: "UTC")!).year().month().day().time(includingFractionalSeconds: false))
    }

    static let style = """
        body{font:14px/1.4 system-ui,sans-serif;margin:24px;color:#1f2430;background:#f7f8fa}
        h1{margin:0;font-size:22px}h2{font-size:15px;margin:0 0 8px}header p{margin:4px 0 16px;color:#5b6475}
        .cards{display:flex;gap:12px;margin-bottom:16px}.card{background:#fff;border:1px solid #e1e4ea;border-radius:6px;padding:10px 14px;min-width:120px}
        .card span{display:block;color:#5b6475;font-size:12px}.card strong{font-size:20px}
        .charts{display:grid;grid-template-columns:repeat(auto-fit,minmax(420px,1fr));gap:12px}
        figure{margin:0;background:#fff;border:1px solid #e1e4ea;border-radius:6px;padding:8px}
        svg{width:100%;height:auto}.axis{stroke:#9aa3b2}.tick{font-size:10px;fill:#5b6475}.chart-title{font-size:13px;font-weight:600;fill:#1f2430}
        .budget,.tops>div{background:#fff;border:1px solid #e1e4ea;border-radius:6px;padding:12px;margin-top:12px}.meter{max-width:400px}
        .tops{display:grid;grid-template-columns:1fr 1fr;gap:12px}table{border-collapse:collapse;width:100%}
        td,th{text-align:left;padding:3px 6px;border-bottom:1px solid #eef0f4}td:nth-child(n+2),th:nth-child(n+2){text-align:right}
        """
}
