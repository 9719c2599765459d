import Foundation

/// The limits on a tenant or on one of its API keys; nil means no limit. Requests and tokens per
/// minute and per day are rates over a rolling window; tokens per month count per calendar month
/// (UTC), like the billing period.
public struct QuotaLimits: Codable, Sendable, Equatable {
    public var requestsPerMinute: Int?
    public var requestsPerDay: Int?
    public var tokensPerMinute: Int?
    public var tokensPerMonth: Int?
    /// Requests in flight at the same moment.
    public var concurrentRequests: Int?

    public init(
        requestsPerMinute: Int? = nil, requestsPerDay: Int? = nil, tokensPerMinute: Int? = nil,
        tokensPerMonth: Int? = nil, concurrentRequests: Int? = nil
    ) {
        self.requestsPerMinute = requestsPerMinute
        self.requestsPerDay = requestsPerDay
        self.tokensPerMinute = tokensPerMinute
        self.tokensPerMonth = tokensPerMonth
        self.concurrentRequests = concurrentRequests
    }

    public static let none = QuotaLimits()

    /// The first field that is not a whole number from 1 to 2,147,483,647 (requests) or to
    /// 2^53 (tokens), by its JSON name.
    public var invalidField: String? {
        let requestRange = 1...Int(Int32.max), tokenRange = 1...(1 << 53)
        let fields: [(String, Int?, ClosedRange<Int>)] = [
            ("requests_per_minute", requestsPerMinute, requestRange), ("requests_per_day", requestsPerDay, requestRange),
            ("tokens_per_minute", tokensPerMinute, tokenRange), ("tokens_per_month", tokensPerMonth, tokenRange),
            ("concurrent_requests", concurrentRequests, requestRange),
        ]
        return fields.first { _, value, range in value.map { !range.contains($0) } ?? false }?.0
    }

    enum CodingKeys: String, CodingKey {
        case requestsPerMinute = "requests_per_minute"
        case requestsPerDay = "requests_per_day"
        case tokensPerMinute = "tokens_per_minute"
        case tokensPerMonth = "tokens_per_month"
        case concurrentRequests = "concurrent_requests"
    }
}
