import Contracts
import Foundation
import SwitchyardDatabase

/// Answers usage series from the hourly read model.
struct UsageSeries: Sendable {
    let database: Database

    func report(_ call: AnalyticsUsageCall) async throws -> AnalyticsUsageReport {
        guard call.from < call.to else {
            throw ServiceFault(code: "invalid_value", message: "to must be after from.", param: "to")
        }
        let points = try await database.withTenant(call.tenantID) { tx in
            try await ReadModelRepository.usage(from: call.from, to: call.to, interval: call.interval, groupBy: call.groupBy, in: tx)
        }
        return AnalyticsUsageReport(from: call.from, to: call.to, interval: call.interval, groupBy: call.groupBy, data: points.map { point in
            let totals = point.totals
            return AnalyticsUsageReport.Point(
                start: point.start, group: point.group, requests: totals.requests, failed: totals.failed, cancelled: totals.cancelled,
                promptTokens: totals.promptTokens, completionTokens: totals.completionTokens, costMicros: totals.costMicros,
                latencyMs: .init(
                    mean: totals.latencyMsSum / max(1, totals.requests), p50: totals.latency.percentile(50),
                    p95: totals.latency.percentile(95), p99: totals.latency.percentile(99)))
        })
    }
}
