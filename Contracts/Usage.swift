import Foundation

/// Money on the public API: the exact integer micro-USD beside a decimal string in USD, so a
/// client that parses numbers as floats still has the exact figure.
public enum Money {
    /// `1250` → `"0.001250"`.
    public static func usd(micros: Int64) -> String {
        let sign = micros < 0 ? "-" : ""
        let magnitude = micros.magnitude
        let fraction = String(magnitude % 1_000_000)
        return "\(sign)\(magnitude / 1_000_000).\(String(repeating: "0", count: 6 - fraction.count))\(fraction)"
    }
}

/// Requests, tokens and cost of a tenant over a period, from billing's ledger: `GET /v1/usage`.
public struct UsageReport: Codable, Sendable, Equatable {
    public struct Totals: Codable, Sendable, Equatable {
        public var requests: Int
        public var promptTokens: Int
        public var completionTokens: Int
        public var costMicros: Int64

        public init(requests: Int = 0, promptTokens: Int = 0, completionTokens: Int = 0, costMicros: Int64 = 0) {
            self.requests = requests
            self.promptTokens = promptTokens
            self.completionTokens = completionTokens
            self.costMicros = costMicros
        }

        public init(from decoder: any Decoder) throws {
            let container = try decoder.container(keyedBy: CodingKeys.self)
            requests = try container.decode(Int.self, forKey: .requests)
            promptTokens = try container.decode(Int.self, forKey: .promptTokens)
            completionTokens = try container.decode(Int.self, forKey: .completionTokens)
            costMicros = try container.decode(Int64.self, forKey: .costMicros)
        }

        /// `cost_usd` is written beside `cost_micros`, never read: the integer is the figure.
        public func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode(requests, forKey: .requests)
            try container.encode(promptTokens, forKey: .promptTokens)
            try container.encode(completionTokens, forKey: .completionTokens)
            try container.encode(costMicros, forKey: .costMicros)
            try container.encode(Money.usd(micros: costMicros), forKey: .costUSD)
        }

        enum CodingKeys: String, CodingKey {
            case requests
            case promptTokens = "prompt_tokens"
            case completionTokens = "completion_tokens"
            case costMicros = "cost_micros"
            case costUSD = "cost_usd"
        }
    }

    public struct ModelUsage: Codable, Sendable, Equatable {
        public var model: String
        public var usage: Totals

        public init(model: String, usage: Totals) {
            self.model = model
            self.usage = usage
        }
    }

    public var object = "usage"
    /// The period, `from` included and `to` excluded.
    public var from: Date
    public var to: Date
    public var totals: Totals
    public var byModel: [ModelUsage]

    public init(from: Date, to: Date, totals: Totals, byModel: [ModelUsage]) {
        self.from = from
        self.to = to
        self.totals = totals
        self.byModel = byModel
    }

    enum CodingKeys: String, CodingKey {
        case object, from, to, totals
        case byModel = "by_model"
    }
}

/// A usage query, on `svc.billing.usage`.
public struct BillingUsageCall: Codable, Sendable, Equatable {
    public var tenantID: UUID
    /// Only this key's usage, when set.
    public var apiKeyID: UUID?
    public var from: Date
    public var to: Date

    public init(tenantID: UUID, apiKeyID: UUID? = nil, from: Date, to: Date) {
        self.tenantID = tenantID
        self.apiKeyID = apiKeyID
        self.from = from
        self.to = to
    }

    enum CodingKeys: String, CodingKey {
        case tenantID = "tenant_id"
        case apiKeyID = "api_key_id"
        case from, to
    }
}

public enum BillingVerb {
    /// One `UsageReport` reply.
    public static let usage = "usage"
    /// A `BillingForecastCall`, answered with a `SpendForecastReport`.
    public static let forecast = "forecast"
    /// A `BillingUsageCall` whose `to` ends a budget's period, answered with a `LedgerSpend`:
    /// what a gateway corrects its budget counter by.
    public static let budgetSpend = "budget_spend"
}

/// The ledger's spend of calls that started in `[from, completeBefore)`, where every usage
/// event of a call that started before `completeBefore` has been recorded: a figure that can
/// only grow by calls that started later.
public struct LedgerSpend: Codable, Sendable, Equatable {
    public var spentMicros: Int64
    public var completeBefore: Date

    public init(spentMicros: Int64, completeBefore: Date) {
        self.spentMicros = spentMicros
        self.completeBefore = completeBefore
    }

    enum CodingKeys: String, CodingKey {
        case spentMicros = "spent_micros"
        case completeBefore = "complete_before"
    }
}

/// A spend forecast, on `svc.billing.forecast`.
public struct BillingForecastCall: Codable, Sendable, Equatable {
    public var tenantID: UUID

    public init(tenantID: UUID) { self.tenantID = tenantID }

    enum CodingKeys: String, CodingKey { case tenantID = "tenant_id" }
}

/// `GET /v1/usage/forecast`: the tenant's spend over the next 30 days (UTC, from today), and
/// when its monthly budget would run out.
public struct SpendForecastReport: Codable, Sendable, Equatable {
    public var object = "forecast"
    /// How the days are forecast, in a sentence.
    public var method: String
    /// The first and last day of the history read, `2026-11-02`.
    public var historyFrom: String
    public var historyTo: String
    public var days: [Day]
    public var totalMicros: Int64
    /// Nil when the tenant has no budget.
    public var budget: Outlook?

    public init(method: String, historyFrom: String, historyTo: String, days: [Day], budget: Outlook?) {
        self.method = method
        self.historyFrom = historyFrom
        self.historyTo = historyTo
        self.days = days
        self.totalMicros = days.map(\.costMicros).reduce(0, +)
        self.budget = budget
    }

    public struct Day: Codable, Sendable, Equatable {
        /// `2026-12-01`
        public var date: String
        public var costMicros: Int64

        public init(date: String, costMicros: Int64) {
            self.date = date
            self.costMicros = costMicros
        }

        enum CodingKeys: String, CodingKey {
            case date
            case costMicros = "cost_micros"
        }
    }

    public struct Outlook: Codable, Sendable, Equatable {
        public var amountMicros: Int64
        /// Spent this month before today, from the ledger.
        public var spentMicros: Int64
        /// The day the month's spending would reach the budget; nil when it would not within
        /// the forecast.
        public var runsOutOn: String?

        public init(amountMicros: Int64, spentMicros: Int64, runsOutOn: String?) {
            self.amountMicros = amountMicros
            self.spentMicros = spentMicros
            self.runsOutOn = runsOutOn
        }

        enum CodingKeys: String, CodingKey {
            case amountMicros = "amount_micros"
            case spentMicros = "spent_micros"
            case runsOutOn = "runs_out_on"
        }
    }

    enum CodingKeys: String, CodingKey {
        case object, method
        case historyFrom = "history_from"
        case historyTo = "history_to"
        case days
        case totalMicros = "total_micros"
        case budget
    }
}
