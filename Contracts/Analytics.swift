import Foundation

// `GET /v1/analytics/usage`, answered by the analytics service from its read models.

public enum AnalyticsVerb {
    /// An `AnalyticsUsageCall`, answered with an `AnalyticsUsageReport`.
    public static let usage = "usage"
    /// An `AnalyticsDashboardCall`, answered with the dashboard page's HTML.
    public static let dashboard = "dashboard"
}

/// A tenant's dashboard page, on `svc.analytics.dashboard`.
public struct AnalyticsDashboardCall: Codable, Sendable, Equatable {
    public var tenantID: UUID

    public init(tenantID: UUID) { self.tenantID = tenantID }

    enum CodingKeys: String, CodingKey { case tenantID = "tenant_id" }
}

/// What a usage series is broken down by.
public enum AnalyticsGrouping: String, Codable, Sendable, CaseIterable {
    case model, key, deployment
}

/// The length of one point of a usage series, in UTC.
public enum AnalyticsInterval: String, Codable, Sendable, CaseIterable {
    case hour, day
}

/// A usage series of one tenant, on `svc.analytics.usage`.
public struct AnalyticsUsageCall: Codable, Sendable, Equatable {
    public var tenantID: UUID
    /// Included; rounded down to the interval.
    public var from: Date
    /// Excluded.
    public var to: Date
    public var groupBy: AnalyticsGrouping?
    public var interval: AnalyticsInterval

    public init(tenantID: UUID, from: Date, to: Date, groupBy: AnalyticsGrouping?, interval: AnalyticsInterval) {
        self.tenantID = tenantID
        self.from = from
        self.to = to
        self.groupBy = groupBy
        self.interval = interval
    }

    enum CodingKeys: String, CodingKey {
        case tenantID = "tenant_id"
        case from, to
        case groupBy = "group_by"
        case interval
    }
}

public struct AnalyticsUsageReport: Codable, Sendable, Equatable {
    public var object = "analytics.usage"
    public var from: Date
    public var to: Date
    public var interval: AnalyticsInterval
    public var groupBy: AnalyticsGrouping?
    /// One point per interval and group that had calls, by time and then group.
    public var data: [Point]

    public init(from: Date, to: Date, interval: AnalyticsInterval, groupBy: AnalyticsGrouping?, data: [Point]) {
        self.from = from
        self.to = to
        self.interval = interval
        self.groupBy = groupBy
        self.data = data
    }

    public struct Point: Codable, Sendable, Equatable {
        /// Where the interval starts.
        public var start: Date
        /// The model, the key's id (`none` for calls without a key) or the deployment; nil when
        /// the series is not grouped.
        public var group: String?
        public var requests: Int64
        /// Calls that failed; cancelled ones (the caller left) are counted apart.
        public var failed: Int64
        public var cancelled: Int64
        public var promptTokens: Int64
        public var completionTokens: Int64
        public var costMicros: Int64
        public var latencyMs: Latency

        public init(start: Date, group: String?, requests: Int64, failed: Int64, cancelled: Int64, promptTokens: Int64,
                    completionTokens: Int64, costMicros: Int64, latencyMs: Latency) {
            self.start = start
            self.group = group
            self.requests = requests
            self.failed = failed
            self.cancelled = cancelled
            self.promptTokens = promptTokens
            self.completionTokens = completionTokens
            self.costMicros = costMicros
            self.latencyMs = latencyMs
        }

        enum CodingKeys: String, CodingKey {
            case start, group, requests, failed, cancelled
            case promptTokens = "prompt_tokens"
            case completionTokens = "completion_tokens"
            case costMicros = "cost_micros"
            case latencyMs = "latency_ms"
        }
    }

    /// Milliseconds from the call's start to its end: the mean, and percentiles estimated from a
    /// histogram (within a bucket, by linear interpolation).
    public struct Latency: Codable, Sendable, Equatable {
        public var mean: Int64
        public var p50: Int64
        public var p95: Int64
        public var p99: Int64

        public init(mean: Int64, p50: Int64, p95: Int64, p99: Int64) {
            self.mean = mean
            self.p50 = p50
            self.p95 = p95
            self.p99 = p99
        }
    }

    enum CodingKeys: String, CodingKey {
        case object, from, to, interval
        case groupBy = "group_by"
        case data
    }
}
