import Contracts
import Foundation
import Logging
import PostgresNIO
import SwitchyardBus

/// Analytics' ports: the durable consumer of every event and `svc.analytics.usage`.
struct AnalyticsPorts {
    /// The durable name every analytics replica shares, so each event is projected by one.
    static let consumerName = "analytics-projection"

    let bus: Bus
    let projection: Projection
    let series: UsageSeries
    let logger: Logger

    func projectionConsumer(name: String = consumerName, filterSubject: String = Subject.allEvents) -> DurableConsumer {
        var spec = ConsumerSpec(name: name, filterSubject: filterSubject)
        spec.backoff = [.seconds(1), .seconds(5), .seconds(30)]
        spec.maxDeliver = 10
        return DurableConsumer(bus: bus, spec: spec, logger: logger) { delivery in await handle(delivery) }
    }

    func handle(_ delivery: Delivery) async -> HandlerOutcome {
        do {
            _ = try await projection.project(delivery.message)
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

    func usageResponder() -> Responder {
        Responder(bus: bus, subject: Subject.service(.analytics, AnalyticsVerb.usage), queue: ServiceName.analytics.rawValue, logger: logger,
                  handler: .unary { request in
            let call: AnalyticsUsageCall
            do { call = try request.decode(AnalyticsUsageCall.self) } catch {
                throw ServiceFault(code: "invalid_request", message: "The call could not be read: \(error)")
            }
            return try JSONCoding.encode(try await series.report(call))
        })
    }
}
