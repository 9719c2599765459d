import Contracts
import Foundation
import Logging
import PostgresNIO
import SwitchyardBus
import SwitchyardDatabase

/// Analytics' ports: the durable consumer of every event, `svc.analytics.usage` and
/// `svc.analytics.dashboard`.
struct AnalyticsPorts {
    /// The durable name every analytics replica shares, so each event is projected by one.
    static let consumerName = "analytics-projection"

    let bus: Bus
    let projection: Projection
    /// How the consumer's handlers project their events: a tenant's batch per transaction.
    let batches: TenantBatches<Projection.Prepared, Projection.Outcome>
    let series: UsageSeries
    let dashboard: Dashboard
    let logger: Logger

    func projectionConsumer(name: String = consumerName, filterSubject: String = Subject.allEvents) -> DurableConsumer {
        var spec = ConsumerSpec(name: name, filterSubject: filterSubject)
        // Its writes gather a tenant's events for 20 ms anyway: read a quiet stream a few
        // events per fetch rather than one (fewer wake-ups of NATS and of this service).
        spec.linger = .milliseconds(10)
        spec.backoff = [.seconds(1), .seconds(5), .seconds(30)]
        spec.maxDeliver = 10
        return DurableConsumer(bus: bus, spec: spec, logger: logger) { delivery in await handle(delivery) }
    }

    func handle(_ delivery: Delivery) async -> HandlerOutcome {
        do {
            guard let prepared = try projection.prepare(delivery.message) else { return .done }
            _ = try await batches.submit(prepared, tenant: prepared.tenantID)
            return .done
        } catch let error as UnprojectableEvent {
            return .poison(reason: error.description)
        } catch let error as PSQLError where error.serverInfo?[.sqlState] == "23503" {
            return .poison(reason: "the event names a tenant that does not exist")
        } catch {
            // The database may come back; a delay, not a bare nak, so it is not hammered.
            delivery.logger.warning("event not projected yet", metadata: ["error": "\(error)"])
            return .retry(after: .seconds(min(30, 1 << min(delivery.attempt, 5))))
        }
    }

    func responders() -> [Responder] {
        [
            responder(AnalyticsVerb.usage) { (call: AnalyticsUsageCall) in try JSONCoding.encode(try await series.report(call)) },
            responder(AnalyticsVerb.dashboard) { (call: AnalyticsDashboardCall) in Data(try await dashboard.page(tenant: call.tenantID).utf8) },
        ]
    }

    private func responder<Call: Decodable & SendableMetatype>(_ verb: String, _ answer: @escaping @Sendable (Call) async throws -> Data) -> Responder {
        Responder(bus: bus, subject: Subject.service(.analytics, verb), queue: ServiceName.analytics.rawValue, logger: logger,
                  handler: .unary { request in try await answer(try request.decode(Call.self)) })
    }
}
