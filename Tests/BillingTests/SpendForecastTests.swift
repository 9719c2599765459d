import BillingService
import Foundation
import Testing

@Suite struct SpendForecastTests {
    /// Monday 30 November 2026, midnight UTC: the four weeks before it run Monday to Sunday.
    static let monday = Date(timeIntervalSince1970: 1_795_996_800)

    /// Weekly totals 2000, 4000, 6000, 8000 micro-USD, each spread Monday to Sunday as
    /// 4, 4, 4, 4, 2, 1, 1 twentieths.
    static let history: [Int64] = [2_000, 4_000, 6_000, 8_000].flatMap { total in [4, 4, 4, 4, 2, 1, 1].map { total * $0 / 20 } }

    static func day(_ text: String) -> Date { try! Date(text + "T00:00:00Z", strategy: .iso8601) }

    @Test func theSyntheticSeriesIsForecastAsTheMethodSays() {
        #expect(Self.monday == Self.day("2026-11-30"))
        let forecast = SpendForecast(history: Self.history, start: Self.monday)
        #expect(forecast.days.count == 30)
        #expect(forecast.days.first?.date == Self.monday && forecast.days.last?.date == Self.day("2026-12-29"))
        // The slope is (−3·2000 − 4000 + 6000 + 3·8000) / 10 = 2000 a week, so week 5 expects
        // 5000 + 2000 × 2.5 = 10000, week 6 12000, week 7 14000; Monday takes 4/20 of a week.
        let costs = forecast.days.map(\.costMicros)
        #expect(Array(costs[0..<7]) == [2_000, 2_000, 2_000, 2_000, 1_000, 500, 500])
        #expect(Array(costs[7..<14]) == [2_400, 2_400, 2_400, 2_400, 1_200, 600, 600])
        #expect(costs[14] == 2_800 && costs[21] == 3_200 && costs[28] == 3_600)
        // Weeks 5 to 8 whole, then a Monday and a Tuesday of week 9 (18000 × 4/20 each).
        let expectedTotal: Int64 = 59_200
        #expect(costs.reduce(0, +) == expectedTotal)
    }

    @Test func theBudgetRunsOutOnTheDayTheMonthsSpendingReachesIt() {
        let forecast = SpendForecast(history: Self.history, start: Self.monday)
        // November ends at 24000 + 2000; December starts from nothing: 8000 by the 6th,
        // 20000 by the 13th, then 22800, 25600, 28400 and 31200 on the 17th.
        #expect(forecast.budgetRunsOut(amountMicros: 30_000, spentMicros: 24_000) == Self.day("2026-12-17"))
        #expect(forecast.budgetRunsOut(amountMicros: 26_000, spentMicros: 24_000) == Self.monday, "today's spending reaches it")
        #expect(forecast.budgetRunsOut(amountMicros: 1_000_000, spentMicros: 0) == nil)
    }

    @Test func aFallingTrendStopsAtZeroAndNoHistorySpreadsNothing() {
        let falling: [Int64] = [8_000, 4_000, 1_000, 0].flatMap { total in Array(repeating: total / 7, count: 7) }
        let forecast = SpendForecast(history: falling, start: Self.monday)
        #expect(forecast.days.allSatisfy { $0.costMicros >= 0 })
        #expect(forecast.days.suffix(7).allSatisfy { $0.costMicros == 0 }, "the line falls below zero: nothing is forecast")
        let quiet = SpendForecast(history: Array(repeating: 0, count: 28), start: Self.monday)
        #expect(quiet.days.allSatisfy { $0.costMicros == 0 })
    }
}
