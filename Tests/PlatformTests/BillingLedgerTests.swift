@testable import BillingService
import Contracts
import Foundation
import PostgresNIO
import ServiceLifecycle
import SwitchyardBus
import SwitchyardDatabase
import Testing

/// Billing's ledger against real PostgreSQL and NATS: each usage event becomes one entry, once.
@Suite struct BillingLedgerTests {
    func usageEvent(_ tenant: UUID, request: String = "req_\(UUID().uuidString)", costMicros: Int64, model: String = "local-chat",
                    occurredAt: Date = Date()) -> Envelope<UsageRecorded> {
        Envelope(id: .derived(from: "usage.recorded:\(request)"), tenantID: tenant, occurredAt: occurredAt, payload: UsageRecorded(
            requestID: request, apiKeyID: nil, model: model, deployment: "local/\(model)",
            promptTokens: 10, completionTokens: 20, costMicros: costMicros, latencyMs: 5, status: .succeeded))
    }

    func ledgerTotal(_ tenant: UUID, _ database: Database) async throws -> Int64 {
        try await UsageLedger(database: database).report(BillingUsageCall(tenantID: tenant, from: .distantPast, to: .distantFuture)).totals.costMicros
    }

    /// Billing with a consumer of its own that takes this tenant's usage events only.
    func billing(of tenant: UUID, on bus: Bus, _ database: Database) -> (consumer: String, services: [any Service]) {
        let name = uniqueName("billing")
        return (name, BillingApp.services(
            bus: bus, database: database, consumerName: name,
            filterSubject: Subject.event(tenant: tenant, type: UsageRecorded.eventType), logger: TestEnvironment.logger))
    }

    @Test func aRedeliveredUsageEventIsChargedOnce() async throws {
        try await withDatabase { database in
            let tenant = try await makeTenant(database)
            let ledger = UsageLedger(database: database)
            let event = usageEvent(tenant, costMicros: 1_250)
            #expect(try await ledger.record(event) == true)
            #expect(try await ledger.record(event) == false)
            #expect(try await ledgerTotal(tenant, database) == 1_250)
        }
    }

    /// The consumer's handlers record through `TenantBatches`: many events per transaction,
    /// each once, and a transaction's failure is its own tenant's only.
    @Test func concurrentEventsAreRecordedInBatchesEachOnceAndAMissingTenantFailsOnlyItsOwn() async throws {
        try await withDatabase { database in
            let tenant = try await makeTenant(database)
            let ledger = UsageLedger(database: database)
            let batches = TenantBatches(writers: 1, batchSize: 50) { tenant, events in try await ledger.record(tenant: tenant, events) }
            let events = (1...200).map { usageEvent(tenant, costMicros: Int64($0) * 7) }
            let orphan = usageEvent(UUID(), costMicros: 5)
            // Every event handed in twice at once, as a redelivery would, and one of a tenant
            // that does not exist among them.
            let outcomes = await withTaskGroup(of: (UUID, Result<Bool, any Error>).self) { group in
                for event in events + [orphan] + events {
                    group.addTask {
                        do { return (event.id, .success(try await batches.submit(event, tenant: event.tenantID))) } catch { return (event.id, .failure(error)) }
                    }
                }
                return await group.reduce(into: [UUID: [Result<Bool, any Error>]]()) { $0[$1.0, default: []].append($1.1) }
            }
            for event in events {
                let recorded = try outcomes[event.id, default: []].map { try $0.get() }
                #expect(recorded.filter { $0 }.count == 1 && recorded.count == 2, "\(event.id)")
            }
            #expect(throws: PSQLError.self) { try outcomes[orphan.id]?.first?.get() }
            #expect(try await ledgerTotal(tenant, database) == (1...200).reduce(0) { $0 + Int64($1) * 7 })
        }
    }

    @Test func anImpossibleEventIsRefusedAndNothingIsRecorded() async throws {
        try await withDatabase { database in
            let tenant = try await makeTenant(database)
            await #expect(throws: InvalidUsage.self) {
                try await UsageLedger(database: database).record(usageEvent(tenant, costMicros: -1))
            }
            #expect(try await ledgerTotal(tenant, database) == 0)
        }
    }

    @Test func eventsOnTheBusAreRecordedAndAPoisonOneGoesToTheDLQWithoutBlockingTheRest() async throws {
        try await withDatabase { database in
            let tenant = try await makeTenant(database)
            try await withBus { bus in
                let (name, services) = billing(of: tenant, on: bus, database)
                let costs: [Int64] = (1...40).map { Int64($0) * 1_001 }
                try await bus.publish(usageEvent(tenant, costMicros: -5))  // poison, first in line
                for cost in costs { try await bus.publish(usageEvent(tenant, costMicros: cost)) }
                try await withServiceGroup(services) {
                    let settled = try await eventually { try await ledgerTotal(tenant, database) == costs.reduce(0, +) }
                    let total = try await ledgerTotal(tenant, database)
                    #expect(settled, "the ledger holds \(total), not \(costs.reduce(0, +))")
                    let letter = try await deadLetter(of: name, on: bus)
                    #expect(letter?.error.contains("negative") == true)
                }
            }
        }
    }

    /// What a gateway corrects its budget counter by: the ledger's spend, only as far as no
    /// usage event published before is still unrecorded.
    @Test func theSpendABudgetIsCheckedByReachesOnlyAsFarAsTheLedgerIsComplete() async throws {
        try await withDatabase { database in
            let tenant = try await makeTenant(database)
            try await withBus { bus in
                let (name, services) = billing(of: tenant, on: bus, database)
                let spends = BudgetSpends(bus: bus, database: database, consumer: name)
                let now = Date()
                let month = BillingUsageCall(tenantID: tenant, from: now - 3_600, to: now + 3_600)
                // A call that started ten minutes ago, and one that starts now: not yet a minute old.
                try await bus.publish(usageEvent(tenant, costMicros: 1_000, occurredAt: now - 600))
                try await bus.publish(usageEvent(tenant, costMicros: 2_000, occurredAt: now))
                try await withServiceGroup(services) {
                    #expect(try await eventually { try await ledgerTotal(tenant, database) == 3_000 })
                    let caughtUp = try await spends.spend(month)
                    #expect(caughtUp.spentMicros == 1_000)
                    let seconds = caughtUp.completeBefore.timeIntervalSince1970
                    #expect(seconds == (seconds / 60).rounded(.down) * 60, "a whole minute")
                    #expect(caughtUp.completeBefore <= Date() - 60 && caughtUp.completeBefore > Date() - 125)
                }
                // Billing is stopped: an event it has not recorded holds the answer back to a
                // minute before it was stored, although the call started earlier still.
                let ack = try await bus.publish(usageEvent(tenant, costMicros: 4_000, occurredAt: now - 300))
                let stored = try #require(try await bus.storedMessage(stream: StreamSpec.events.name, sequence: ack.sequence)).storedAt
                // Asked ten minutes later (by a BudgetSpends of its own: the first reuses its
                // answer for a few seconds), the answer still stops before the unrecorded event.
                let later = BudgetSpends(bus: bus, database: database, consumer: name)
                #expect(try await later.completeBefore(now: stored + 600) <= stored - 60)
                let behind = try await BudgetSpends(bus: bus, database: database, consumer: name).spend(month)
                #expect(behind.completeBefore <= stored - 60)
                #expect(behind.spentMicros == 1_000)
                // Never past the budget's period.
                let ended = try await spends.spend(BillingUsageCall(tenantID: tenant, from: now - 3_600, to: now - 120))
                #expect(ended.completeBefore == now - 120 && ended.spentMicros == 1_000)
            }
        }
    }
}

@Suite struct UsageAPITests {
    @Test func usageThroughTheGatewayComesFromTheLedgerInExactMoney() async throws {
        try await withDatabase { database in
            let (tenant, key) = try await makeTenantWithKey(database)
            try await withGateway(tenant: tenant) { gateway in
                let billing = billingServices(gateway, tenant: tenant)
                try await withServiceGroup(billing) {
                    for _ in 0..<3 {
                        #expect(try await send(.POST, gateway.url + "/v1/chat/completions", key: key, json: chatJSON(maxTokens: 8)).status == 200)
                    }
                    let events = try await gateway.usage.next(3).map { try $0.decode(UsageRecorded.self).payload }
                    let expectedCost = events.map(\.costMicros).reduce(0, +)
                    var report: UsageReport?
                    let counted = try await eventually {
                        let answer = try await send(.GET, gateway.url + "/v1/usage", key: key)
                        report = try? answer.decode(UsageReport.self)
                        return report?.totals.requests == 3
                    }
                    #expect(counted)
                    #expect(report?.totals.costMicros == expectedCost && expectedCost > 0)
                    #expect(report?.byModel.map(\.model) == ["local-chat"])
                    #expect(report?.totals.promptTokens == events.map(\.promptTokens).reduce(0, +))

                    let monthAgo = Date().addingTimeInterval(-30 * 86_400).formatted(.iso8601.year().month().day())
                    let raw = try await send(.GET, gateway.url + "/v1/usage?from=\(monthAgo)", key: key)
                    #expect(raw.text.contains(#""cost_usd":"\#(Money.usd(micros: expectedCost))""#), "\(raw.text)")
                    let empty = try await send(.GET, gateway.url + "/v1/usage?from=2001-01-01&to=2001-02-01", key: key)
                    #expect(try empty.decode(UsageReport.self).totals == UsageReport.Totals())
                    let bad = try await send(.GET, gateway.url + "/v1/usage?from=yesterday", key: key)
                    #expect(bad.status == 400 && bad.error?.param == "from")
                    let backwards = try await send(.GET, gateway.url + "/v1/usage?from=2026-02-01&to=2026-01-01", key: key)
                    #expect(backwards.status == 400 && backwards.error?.param == "to")
                    let tooLong = try await send(.GET, gateway.url + "/v1/usage?from=2000-01-01", key: key)
                    #expect(tooLong.status == 400 && tooLong.error?.param == "from")
                }
            }
        }
    }

    /// Four weeks at 1000 micro-USD a day: a flat trend and an even profile forecast 1000 a day.
    @Test func theForecastThroughTheGatewayFollowsTheLedgerAndSaysWhenTheBudgetRunsOut() async throws {
        try await withDatabase { database in
            let (tenant, key) = try await makeTenantWithKey(database)
            let calendar = SpendForecast.calendar
            let today = calendar.startOfDay(for: Date())
            let ledger = UsageLedger(database: database)
            for daysAgo in 1...28 {
                let request = "req_\(UUID().uuidString)"
                try await ledger.record(Envelope(
                    id: .derived(from: "usage.recorded:\(request)"), tenantID: tenant,
                    occurredAt: today.addingTimeInterval(Double(-daysAgo) * 86_400 + 3_600), payload: UsageRecorded(
                        requestID: request, apiKeyID: nil, model: "local-chat", deployment: "local/local-chat",
                        promptTokens: 1, completionTokens: 1, costMicros: 1_000, latencyMs: 5, status: .succeeded)))
            }
            try await database.withTenant(tenant) { try await BudgetRepository.setTenantBudget(Budget(amountMicros: 45_000), in: $0) }
            try await withGateway(tenant: tenant) { gateway in
                try await withServiceGroup(billingServices(gateway, tenant: tenant)) {
                    let answer = try await send(.GET, gateway.url + "/v1/usage/forecast", key: key)
                    #expect(answer.status == 200, "\(answer.text)")
                    let forecast = try answer.decode(SpendForecastReport.self)
                    #expect(forecast.days.count == 30 && forecast.days.allSatisfy { $0.costMicros == 1_000 })
                    #expect(forecast.totalMicros == 30_000)
                    #expect(forecast.days.first?.date == Forecasts.day(today))
                    #expect(forecast.historyTo == Forecasts.day(today.addingTimeInterval(-86_400)))

                    // The month so far, then 1000 a day, starting over on the first of a month.
                    let dayOfMonth = calendar.component(.day, from: today)
                    let spent = Int64(min(dayOfMonth - 1, 28)) * 1_000
                    var expected: String?
                    var running = spent
                    for offset in 0..<30 {
                        let day = today.addingTimeInterval(Double(offset) * 86_400)
                        if offset > 0, calendar.component(.day, from: day) == 1 { running = 0 }
                        running += 1_000
                        if running >= 45_000 { expected = Forecasts.day(day); break }
                    }
                    #expect(forecast.budget == SpendForecastReport.Outlook(amountMicros: 45_000, spentMicros: spent, runsOutOn: expected))
                }
            }
        }
    }

    @Test func moneyIsWrittenAsAnExactDecimalString() {
        #expect(Money.usd(micros: 1_250) == "0.001250")
        #expect(Money.usd(micros: 12_000_000) == "12.000000")
        #expect(Money.usd(micros: 0) == "0.000000")
        #expect(Money.usd(micros: -1) == "-0.000001")
    }
}
