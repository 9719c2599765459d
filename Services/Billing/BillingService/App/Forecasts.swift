import Contracts
import Foundation
import SwitchyardDatabase

/// Answers a tenant's spend forecast from the ledger (see `SpendForecast` for the method).
struct Forecasts: Sendable {
    let database: Database

    static let method = "A least-squares trend of the last four whole weeks' totals (UTC), spread over each week by the share of "
        + "each weekday in those weeks; the budget runs out on the first day the month's spending would reach it."

    func forecast(_ call: BillingForecastCall, now: Date = Date()) async throws -> SpendForecastReport {
        let calendar = SpendForecast.calendar
        let today = calendar.startOfDay(for: now)
        let historyStart = today.addingTimeInterval(-Double(SpendForecast.historyDays) * 86_400)
        let monthStart = calendar.date(from: calendar.dateComponents([.year, .month], from: today))!
        let (history, spentThisMonth, budget) = try await database.withTenant(call.tenantID) { tx in
            (try await LedgerRepository.dailySpend(from: historyStart, days: SpendForecast.historyDays, in: tx),
             try await LedgerRepository.spend(from: monthStart, to: today, in: tx),
             try await BudgetRepository.tenantBudget(in: tx))
        }
        let forecast = SpendForecast(history: history, start: today)
        let outlook = budget.map { budget in
            SpendForecastReport.Outlook(
                amountMicros: budget.amountMicros, spentMicros: spentThisMonth,
                runsOutOn: forecast.budgetRunsOut(amountMicros: budget.amountMicros, spentMicros: spentThisMonth).map(Self.day))
        }
        return SpendForecastReport(
            method: Self.method, historyFrom: Self.day(historyStart), historyTo: Self.day(today.addingTimeInterval(-86_400)),
            days: forecast.days.map { .init(date: Self.day($0.date), costMicros: $0.costMicros) }, budget: outlook)
    }

    static func day(_ date: Date) -> String {
        date.formatted(Date.ISO8601FormatStyle(timeZone: TimeZone(identifier: "UTC")!).year().month().day())
    }
}
