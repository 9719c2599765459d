import Foundation

/// A money budget per calendar month (UTC), for a tenant or one of its keys.
public struct Budget: Codable, Sendable, Equatable {
    public enum Policy: String, Codable, Sendable, CaseIterable {
        /// Calls go on past the budget; responses carry `x-switchyard-budget-warning`.
        case warn
        /// Past the first threshold, a falling share of calls is refused, none left at the budget.
        case throttle
        /// A call whose estimated cost does not fit what is left is refused (`insufficient_quota`).
        case block
    }

    public var amountMicros: Int64
    /// Percentages of the amount, ascending, e.g. `[50, 80, 90, 100]`.
    public var thresholds: [Int]
    public var policy: Policy

    public init(amountMicros: Int64, thresholds: [Int] = [50, 80, 90, 100], policy: Policy = .block) {
        self.amountMicros = amountMicros
        self.thresholds = thresholds
        self.policy = policy
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        amountMicros = try container.decode(Int64.self, forKey: .amountMicros)
        thresholds = try container.decodeIfPresent([Int].self, forKey: .thresholds) ?? [50, 80, 90, 100]
        policy = try container.decodeIfPresent(Policy.self, forKey: .policy) ?? .block
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(amountMicros, forKey: .amountMicros)
        try container.encode(Money.usd(micros: amountMicros), forKey: .amountUSD)
        try container.encode(thresholds, forKey: .thresholds)
        try container.encode(policy, forKey: .policy)
    }

    /// The first field that is not acceptable, by its JSON name.
    public var invalidField: String? {
        if amountMicros <= 0 || amountMicros > 1 << 53 { return "amount_micros" }
        if thresholds.isEmpty || thresholds.count > 10 || thresholds != thresholds.sorted() || Set(thresholds).count != thresholds.count
            || !thresholds.allSatisfy({ (1...100).contains($0) }) { return "thresholds" }
        return nil
    }

    enum CodingKeys: String, CodingKey {
        case amountMicros = "amount_micros"
        case amountUSD = "amount_usd"
        case thresholds, policy
    }
}
