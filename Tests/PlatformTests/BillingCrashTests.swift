import Contracts
import Foundation
import SwitchyardBus
import SwitchyardDatabase
import Testing

/// The billing executable killed without warning while usage pours in: the ledger still ends
/// with every event once, to the micro-dollar. On a NATS server of the test's own, so billing's
/// durable consumer sees this test's events only.
@Suite struct BillingCrashTests {
    struct Ledger: Equatable {
        var entries: Int
        var distinctEvents: Int
        var costMicros: Int64
    }

    static func ledger(_ tenant: UUID, _ database: Database) async throws -> Ledger {
        try await database.withTenant(tenant) { tx in
            let rows = try await tx.query("SELECT count(*)::int, count(DISTINCT event_id)::int, COALESCE(sum(cost_micros), 0)::bigint FROM ledger_entries")
            for try await (entries, distinct, cost) in rows.decode((Int, Int, Int64).self) {
                return Ledger(entries: entries, distinctEvents: distinct, costMicros: cost)
            }
            return Ledger(entries: 0, distinctEvents: 0, costMicros: 0)
        }
    }

    @Test func tenThousandEventsWithBillingKilledTwiceAreChargedExactlyOnce() async throws {
        let (server, natsProcess) = try await PrivateNATSServer.started()
        defer {
            natsProcess.kill()
            try? FileManager.default.removeItem(at: server.directory)
        }
        let total = 10_000
        // Costs from a fixed sequence, not all alike, so a lost or doubled event shows in the sum.
        let costs = (0..<total).map { Int64(1 + ($0 * 7_919) % 5_003) }
        let expected = costs.reduce(0, +)
        try await withDatabase { database in
            let tenant = try await makeTenant(database)
            try await withBus(url: server.url) { bus in
                let environment = [
                    "NATS_URL": server.url, "SWITCHYARD_BILLING_OPS_PORT": "0", "SWITCHYARD_LOG_LEVEL": "warning",
                ]
                let publishing = Task {
                    try await withThrowingTaskGroup(of: Void.self) { group in
                        for lane in 0..<8 {
                            group.addTask {
                                for index in stride(from: lane, to: total, by: 8) {
                                    let request = "req_crash_\(index)"
                                    try await bus.publish(Envelope(
                                        id: .derived(from: "usage.recorded:\(tenant):\(request)"), tenantID: tenant,
                                        payload: UsageRecorded(
                                            requestID: request, apiKeyID: nil, model: "local-chat", deployment: "local/local-chat",
                                            promptTokens: 3, completionTokens: 5, costMicros: costs[index], latencyMs: 1, status: .succeeded)))
                                }
                            }
                        }
                        try await group.waitForAll()
                    }
                }
                // Twice: let billing record part of the flood, then SIGKILL it.
                for killAt in [total / 5, total / 2] {
                    let billing = try ChildProcess("billing", environment: environment)
                    let reached = try await eventually(timeout: .seconds(120)) {
                        try await Self.ledger(tenant, database).entries >= killAt
                    }
                    billing.kill()
                    #expect(reached, "billing never recorded \(killAt) events")
                }
                let atSecondKill = try await Self.ledger(tenant, database)
                #expect(atSecondKill.entries < total, "billing recorded everything before its second kill; the test proved less than it should")

                let billing = try ChildProcess("billing", environment: environment)
                try await publishing.value
                let finished = try await eventually(timeout: .seconds(180)) {
                    try await Self.ledger(tenant, database).entries >= total
                }
                #expect(finished)
                // A moment more: a duplicate would land after the count was reached.
                try await Task.sleep(for: .seconds(1))
                #expect(try await Self.ledger(tenant, database) == Ledger(entries: total, distinctEvents: total, costMicros: expected))
                #expect(await billing.terminate() == 0, "billing did not shut down gracefully on SIGTERM")
            }
        }
    }
}
