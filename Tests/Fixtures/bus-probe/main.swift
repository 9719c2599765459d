// A durable consumer in a process of its own, for tests that kill it. For each
// `evt.<PROBE_TENANT>.test.pinged` event it adds one to `probe.applied_counts` and records the
// event as processed, in one transaction: a redelivered event must have no second effect.
import Contracts
import Foundation
import Logging
import ServiceLifecycle
import SwitchyardBus
import SwitchyardDatabase

let environment = ProcessInfo.processInfo.environment
func require(_ name: String) -> String {
    guard let value = environment[name] else { fatalError("\(name) is required") }
    return value
}

let tenant = UUID(uuidString: require("PROBE_TENANT"))!
let consumerName = require("PROBE_CONSUMER")
var logger = Logger(label: "bus-probe")
logger.logLevel = .warning

let database = try Database(url: require("DATABASE_URL"), maximumConnections: 8, logger: logger)
let bus = try await Bus.connect(.init(url: require("NATS_URL"), name: consumerName), logger: logger)
var spec = ConsumerSpec(name: consumerName, filterSubject: Subject.events(ofTenant: tenant))
spec.ackWait = .milliseconds(Int64(environment["PROBE_ACK_WAIT_MS"].flatMap(Int.init) ?? 2000))
spec.maxInFlight = 16

let consumer = DurableConsumer(bus: bus, spec: spec, logger: logger) { delivery in
    let event: Envelope<Pinged>
    do { event = try delivery.decode(Pinged.self) } catch { return .poison(reason: "\(error)") }
    do {
        try await database.withTenant(event.tenantID) { tx in
            guard try await tx.markProcessed(eventID: event.id, consumer: consumerName) else { return }
            try await tx.execute("""
                INSERT INTO probe.applied_counts (tenant_id, applied) VALUES (\(tx.tenantID), 1)
                ON CONFLICT (tenant_id) DO UPDATE SET applied = probe.applied_counts.applied + 1
                """)
        }
        return .done
    } catch {
        return .retry(after: .milliseconds(100))
    }
}

struct Pinged: EventPayload {
    static let eventType = EventType(domain: "test", name: "pinged")
    static let version = 1
    var number: Int
}

let group = ServiceGroup(configuration: .init(
    services: [.init(service: database), .init(service: consumer)],
    gracefulShutdownSignals: [.sigterm], logger: logger))
try await group.run()
await bus.close()
