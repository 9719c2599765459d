import Foundation

/// A tenant's spend over the coming days, from its last four weeks: a linear trend of the weekly
/// totals, spread over the days of a week by the weekday profile those weeks show.
///
/// 1. History: the spend of each of the 28 whole days (UTC) before the first forecast day,
///    oldest first, as four weeks of seven days, with totals T1…T4.
/// 2. Trend: the least-squares line through (k, Tk), k = 1…4. Its slope is
///    s = (−3·T1 − T2 + T3 + 3·T4) / 10 per week, and the total it expects of week k (week 5 is
///    the seven days from the first forecast day, week 6 the next seven, …) is
///    T̂(k) = (T1 + T2 + T3 + T4) / 4 + s·(k − 2.5), never below zero.
/// 3. Weekday profile: each weekday's share of the four weeks' spend, S(w) / S; an even 1/7
///    each when the four weeks spent nothing.
/// 4. A day of week k falling on weekday w is forecast T̂(k)·S(w)/S micro-USD, rounded half up.
///
/// All in integers (`Int128` in between), so the same history always gives the same forecast.
public struct SpendForecast: Sendable, Equatable {
    public static let historyDays = 28

    public struct Day: Sendable, Equatable {
        public var date: Date
        public var costMicros: Int64
    }

    public var days: [Day]

    /// `history` holds the 28 days before `start` (midnight UTC), oldest first.
    public init(history: [Int64], start: Date, days count: Int = 30) {
        precondition(history.count == Self.historyDays, "a forecast reads \(Self.historyDays) days of history")
        let weeks = (0..<4).map { week in Int128(history[(week * 7)..<(week * 7 + 7)].reduce(0, +)) }
        let total = weeks.reduce(0, +)
        let slopeTimesTen = -3 * weeks[0] - weeks[1] + weeks[2] + 3 * weeks[3]
        // By weekday (1 = Sunday, as `Calendar` counts), the four weeks' spend.
        var byWeekday = [Int128](repeating: 0, count: 8)
        for (offset, cost) in history.enumerated() {
            byWeekday[Self.weekday(start.addingTimeInterval(Double(offset - Self.historyDays) * 86_400))] += Int128(cost)
        }
        days = (0..<count).map { offset in
            let date = start.addingTimeInterval(Double(offset) * 86_400)
            let week = Int128(5 + offset / 7)
            // T̂(k) × 40 = 10·ΣT + 10·s·(4k − 10)
            let weekTotalTimesForty = max(0, 10 * total + slopeTimesTen * (4 * week - 10))
            let (share, shares) = total > 0 ? (byWeekday[Self.weekday(date)], total) : (1, 7)
            return Day(date: date, costMicros: Int64(Self.roundedHalfUp(weekTotalTimesForty * share, 40 * shares)))
        }
    }

    /// The first day on which spending would reach `amountMicros` in its calendar month, given
    /// `spentMicros` spent in the month of the first forecast day before that day; nil when it
    /// would not within the forecast. A new month starts from nothing, as budgets do.
    public func budgetRunsOut(amountMicros: Int64, spentMicros: Int64) -> Date? {
        var spent = spentMicros
        for (index, day) in days.enumerated() {
            if index > 0, Self.calendar.component(.day, from: day.date) == 1 { spent = 0 }
            spent += day.costMicros
            if spent >= amountMicros { return day.date }
        }
        return nil
    }

    /// The Gregorian calendar in UTC, as budgets count months.
    public static let calendar: Calendar = {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "UTC")!
        return calendar
    }()

    private static func weekday(_ date: Date) -> Int { calendar.component(.weekday, from: date) }

    private static func roundedHalfUp(_ numerator: Int128, _ denominator: Int128) -> Int128 {
        (2 * numerator + denominator) / (2 * denominator)
    }
}
