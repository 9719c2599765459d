import Contracts
import Foundation

/// Calls summed over some hours.
struct HourTotals: Sendable, Equatable {
    var requests: Int64 = 0
    var failed: Int64 = 0
    var cancelled: Int64 = 0
    var promptTokens: Int64 = 0
    var completionTokens: Int64 = 0
    var costMicros: Int64 = 0
    var latencyMsSum: Int64 = 0
    var latency = LatencyHistogram()

    mutating func add(_ other: HourTotals) {
        requests += other.requests
        failed += other.failed
        cancelled += other.cancelled
        promptTokens += other.promptTokens
        completionTokens += other.completionTokens
        costMicros += other.costMicros
        latencyMsSum += other.latencyMsSum
        latency.add(other.latency)
    }
}

/// Calls for one row of the hourly read model: one call as an event brings it, or many added
/// up before the row is written.
struct HourlyUsage: Sendable, Equatable {
    /// The row the calls go to.
    struct Row: Hashable, Sendable, Comparable {
        /// The start of the call's hour, in UTC.
        var hour: Date
        var apiKeyID: UUID?
        var model: String
        var deployment: String

        static func < (left: Row, right: Row) -> Bool {
            (left.hour, left.apiKeyID?.uuidString ?? "", left.model, left.deployment)
                < (right.hour, right.apiKeyID?.uuidString ?? "", right.model, right.deployment)
        }
    }

    var row: Row
    var totals = HourTotals()

    init(row: Row) {
        self.row = row
    }

    /// One call, at the time it occurred.
    init(_ call: UsageRecorded, at occurredAt: Date) {
        let hour = Date(timeIntervalSince1970: (occurredAt.timeIntervalSince1970 / 3600).rounded(.down) * 3600)
        self.init(row: Row(hour: hour, apiKeyID: call.apiKeyID, model: call.model, deployment: call.deployment))
        totals = HourTotals(
            requests: 1, failed: call.status == .failed ? 1 : 0, cancelled: call.status == .cancelled ? 1 : 0,
            promptTokens: Int64(call.promptTokens), completionTokens: Int64(call.completionTokens), costMicros: call.costMicros,
            latencyMsSum: Int64(max(0, call.latencyMs)), latency: LatencyHistogram(one: call.latencyMs))
    }

    /// Adds the calls of `other`, which go to the same row.
    mutating func add(_ other: HourlyUsage) {
        precondition(other.row == row, "calls of another row")
        totals.add(other.totals)
    }
}
