import Contracts
import Foundation
import Logging
import PostgresNIO
import SwitchyardBus
import SwitchyardDatabase

/// Billing's ports: the durable consumer of `usage.recorded`, and `svc.billing.usage`,
/// `svc.billing.forecast`, `svc.billing.budget_spend` and the invoice verbs (`InvoiceVerb`).
struct BillingPorts {
    let bus: Bus
    let ledger: UsageLedger
    /// How the consumer's handlers record their events: a tenant's batch per transaction.
    let batches: TenantBatches<Envelope<UsageRecorded>, Bool>
    let forecasts: Forecasts
    let invoices: Invoices
    let budgetSpends: BudgetSpends
    /// The usage consumer's durable name.
    let consumerName: String
    let logger: Logger

    /// Shared by every billing replica (one durable name), so each event is handled by one.
    func usageConsumer(filterSubject: String = Subject.events(ofType: UsageRecorded.eventType)) -> DurableConsumer {
        var spec = ConsumerSpec(name: consumerName, filterSubject: filterSubject)
        // Its writes gather a tenant's events for 20 ms anyway: read a quiet stream a few
        // events per fetch rather than one (fewer wake-ups of NATS and of this service).
        spec.linger = .milliseconds(10)
        spec.backoff = [.seconds(1), .seconds(5), .seconds(30)]
        spec.maxDeliver = 10
        return DurableConsumer(bus: bus, spec: spec, logger: logger) { delivery in await handle(delivery) }
    }

    func handle(_ delivery: Delivery) async -> HandlerOutcome {
        let event: Envelope<UsageRecorded>
        do { event = try delivery.decode(UsageRecorded.self) } catch { return .poison(reason: "unreadable usage event: \(error)") }
        do {
            try UsageLedger.check(event)
            _ = try await batches.submit(event, tenant: event.tenantID)
            return .done
        } catch let error as InvalidUsage {
            return .poison(reason: error.description)
        } catch let error as PSQLError where error.serverInfo?[.sqlState] == "23503" {
            // No such tenant: it will not appear by waiting.
            return .poison(reason: "usage event \(event.id) names tenant \(Subject.token(event.tenantID)), which does not exist")
        } catch {
            // May pass later; max-deliver still ends in the DLQ. A delay, not a bare nak: a
            // failing database must not be hammered.
            delivery.logger.warning("usage event not recorded yet", metadata: ["error": "\(error)"])
            return .retry(after: .seconds(min(30, 1 << min(delivery.attempt, 5))))
        }
    }

    func responders() -> [Responder] {
        [
            verb(BillingVerb.usage) { (call: BillingUsageCall) in try await ledger.report(call) },
            verb(BillingVerb.forecast) { (call: BillingForecastCall) in try await forecasts.forecast(call) },
            verb(BillingVerb.budgetSpend) { (call: BillingUsageCall) in try await budgetSpends.spend(call) },
            verb(InvoiceVerb.list) { (call: InvoiceListCall) in try await invoices.list(call) },
            verb(InvoiceVerb.show) { (call: InvoiceCall) in try await invoices.show(call) },
            verb(InvoiceVerb.close) { (call: InvoiceCloseCall) in try await invoices.close(call) },
            verb(InvoiceVerb.setStatus) { (call: InvoiceStatusCall) in try await invoices.setStatus(call) },
        ]
    }

    private func verb<Call: Decodable & SendableMetatype, Answer: Encodable & SendableMetatype>(
        _ verb: String, _ answer: @escaping @Sendable (Call) async throws -> Answer
    ) -> Responder {
        Responder.verb(.billing, verb, bus: bus, logger: logger, answer)
    }
}
