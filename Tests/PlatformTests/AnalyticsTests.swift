import AnalyticsService
import Contracts
import Foundation
import NIOHTTP1
import PostgresNIO
import SwitchyardBus
import SwitchyardDatabase
import Testing

/// Analytics' read models against real NATS and PostgreSQL: projected from the events once
/// each, rebuilt from the stream to the same rows, and read through the gateway.
@Suite struct AnalyticsReadModelTests {
    /// Every row of the tenant's read models, as text, in a stable order.
    static func rows(_ tenant: UUID, _ database: Database) async throws -> [String] {
        try await database.withTenant(tenant) { tx in
            var rows: [String] = []
            for table in ["analytics_usage_hourly", "analytics_budgets", "analytics_processed_events"] {
                let result = try await tx.query("SELECT \(unescaped: table)::text FROM \(unescaped: table) ORDER BY 1")
                for try await row in result.decode(String.self) { rows.append("\(table) \(row)") }
            }
            return rows
        }
    }

    static func projectedCount(_ tenants: [UUID], _ database: Database) async throws -> Int {
        var count = 0
        for tenant in tenants {
            count += try await database.withTenant(tenant) { tx in
                let rows = try await tx.query("SELECT count(*)::bigint FROM analytics_processed_events")
                for try await value in rows.decode(Int64.self) { return Int(value) }
                return 0
            }
        }
        return count
    }

    static func call(
        _ tenant: UUID, key: UUID?, model: String, status: UsageRecorded.Status, latencyMs: Int, cost: Int64, at: Date
    ) -> Envelope<UsageRecorded> {
        let request = "req_\(UUID().uuidString)"
        return Envelope(id: .derived(from: "usage.recorded:\(request)"), tenantID: tenant, occurredAt: at, payload: UsageRecorded(
            requestID: request, apiKeyID: key, model: model, deployment: "local/\(model)", promptTokens: latencyMs % 17,
            completionTokens: latencyMs % 23, costMicros: cost, latencyMs: latencyMs, status: status))
    }

    @Test func aRebuildFromTheStreamEndsWithExactlyTheRowsTheLiveProjectionMade() async throws {
        let (server, process) = try await PrivateNATSServer.started()
        defer {
            process.kill()
            try? FileManager.default.removeItem(at: server.directory)
        }
        try await withDatabase { database in
            let tenants = [try await makeTenant(database), try await makeTenant(database)]
            let keys = [UUID(), UUID(), nil]
            let hourAgo = Date().addingTimeInterval(-3_600)
            try await withBus(url: server.url) { bus in
                var calls: [Envelope<UsageRecorded>] = []
                for index in 0..<240 {
                    let status: UsageRecorded.Status = index % 11 == 0 ? .failed : index % 13 == 0 ? .cancelled : .succeeded
                    calls.append(Self.call(
                        tenants[index % 2], key: keys[index % 3], model: index % 4 == 0 ? "local-embedding" : "local-chat", status: status,
                        latencyMs: 5 + (index * 37) % 900, cost: Int64(index * 101 + 7), at: hourAgo.addingTimeInterval(Double(index) * 45)))
                }
                for call in calls { try await bus.publish(call) }
                // Budgets: two changes published out of their order, crossings in two periods.
                let now = Date()
                try await bus.publish(Envelope(tenantID: tenants[0], occurredAt: now, payload: BudgetChanged(apiKeyID: nil, budget: Budget(amountMicros: 9_000))))
                try await bus.publish(Envelope(tenantID: tenants[0], occurredAt: now.addingTimeInterval(-60), payload: BudgetChanged(apiKeyID: nil, budget: Budget(amountMicros: 1_000))))
                for (period, percent) in [("2026-11", 50), ("2026-10", 100), ("2026-11", 80)] {
                    try await bus.publish(Envelope(tenantID: tenants[0], payload: BudgetThresholdCrossed(
                        apiKeyID: nil, thresholdPercent: percent, budgetMicros: 9_000, spentMicros: Int64(percent * 90), period: period)))
                }
                // What no read model takes: another kind of event, an unreadable one, one of no tenant.
                try await bus.publish(Envelope(tenantID: tenants[1], payload: TenantCreated(name: "ignored")))
                _ = try await bus.publishToStream(NATSMessage(subject: Subject.event(tenant: tenants[1], type: UsageRecorded.eventType), payload: Data("{".utf8)))
                // A usage envelope whose own type says otherwise than the header it was sent with.
                let mislabelled = String(decoding: try JSONCoding.encode(Self.call(tenants[1], key: nil, model: "local-chat", status: .succeeded, latencyMs: 1, cost: 1, at: now)), as: UTF8.self)
                    .replacingOccurrences(of: #""type":"usage.recorded""#, with: #""type":"budget.changed""#)
                _ = try await bus.publishToStream(NATSMessage(
                    subject: Subject.event(tenant: tenants[1], type: UsageRecorded.eventType),
                    headers: [BusHeader.eventType: UsageRecorded.eventType.description], payload: Data(mislabelled.utf8)))
                try await bus.publish(Self.call(UUID(), key: nil, model: "local-chat", status: .succeeded, latencyMs: 1, cost: 1, at: now))
                let projectable = calls.count + 5

                let consumer = uniqueName("analytics")
                let services = AnalyticsApp.services(bus: bus, database: database, consumerName: consumer, filterSubject: Subject.allEvents, logger: TestEnvironment.logger)
                try await withServiceGroup(services) {
                    let caughtUp = try await eventually { try await Self.projectedCount(tenants, database) == projectable }
                    let projected = try await Self.projectedCount(tenants, database)
                    #expect(caughtUp, "projected \(projected) of \(projectable)")
                    let dead = try await eventually { try await DeadLetterQueue(bus: bus).list(consumer: consumer).count == 3 }
                    #expect(dead, "the unreadable event, the mislabelled one and the one of no tenant go to the DLQ")

                    // The live rows hold what was published, to the micro-unit.
                    let series = try await AnalyticsSeriesProbe.series(bus: bus, tenant: tenants[0])
                    let mine = calls.filter { $0.tenantID == tenants[0] }
                    #expect(series.data.map(\.requests).reduce(0, +) == Int64(mine.count))
                    #expect(series.data.map(\.costMicros).reduce(0, +) == mine.map(\.payload.costMicros).reduce(0, +))
                    #expect(series.data.map(\.failed).reduce(0, +) == Int64(mine.filter { $0.payload.status == .failed }.count))
                    let budget = try await database.withTenant(tenants[0]) { tx -> (Int64?, String?, Int32?)? in
                        let rows = try await tx.query("SELECT amount_micros, period, crossed_percent FROM analytics_budgets")
                        for try await row in rows.decode((Int64?, String?, Int32?).self) { return row }
                        return nil
                    }
                    #expect(budget?.0 == 9_000, "the latest change by when it occurred, not by arrival")
                    #expect(budget?.1 == "2026-11" && budget?.2 == 80, "the highest crossing of the latest period")

                    let live = try await Self.rows(tenants[0], database) + Self.rows(tenants[1], database)
                    let summary = try await ReadModelRebuild(bus: bus, database: database, logger: TestEnvironment.logger, batchSize: 100)
                        .run(tenants: Set(tenants))
                    #expect(summary.projected == projectable, "the rebuild projected every event again: \(summary)")
                    #expect(summary.skipped == 2, "the unreadable and the mislabelled event are skipped: \(summary)")
                    let rebuilt = try await Self.rows(tenants[0], database) + Self.rows(tenants[1], database)
                    #expect(rebuilt.count == live.count)
                    #expect(rebuilt == live, "the rebuilt rows differ from the live ones")

                    // One tenant alone: only its own events are read from the stream.
                    let alone = try await ReadModelRebuild(bus: bus, database: database, logger: TestEnvironment.logger, batchSize: 50)
                        .run(tenants: [tenants[1]])
                    let itsMessages = calls.count { $0.tenantID == tenants[1] } + 3  // and the ignored, unreadable and mislabelled ones
                    #expect(alone.replayed == itsMessages, "\(alone)")
                    #expect(try await Self.rows(tenants[0], database) + Self.rows(tenants[1], database) == live)
                }
            }
        }
    }

    @Test func anEventProjectedTwiceCountsOnce() async throws {
        try await withDatabase { database in
            let tenant = try await makeTenant(database)
            let event = Self.call(tenant, key: nil, model: "local-chat", status: .succeeded, latencyMs: 40, cost: 12, at: Date())
            let message = NATSMessage(subject: event.subject, payload: try JSONCoding.encode(event))
            let projection = Projection(database: database)
            #expect(try await projection.project(message) == .projected)
            #expect(try await projection.project(message) == .alreadyProjected)
            let rows = try await Self.rows(tenant, database)
            #expect(rows.filter { $0.hasPrefix("analytics_usage_hourly") }.count == 1)
            #expect(rows.contains { $0.contains(",1,0,0,") }, "one request, not two: \(rows)")
        }
    }

    @Test func aBatchWritesTheSameRowsAsItsEventsOneByOne() async throws {
        try await withDatabase { database in
            let projection = Projection(database: database)
            let hour = Date(timeIntervalSince1970: (Date().timeIntervalSince1970 / 3600).rounded(.down) * 3600)
            let batched = try await makeTenant(database)
            let oneByOne = try await makeTenant(database)
            func events(_ tenant: UUID) -> [Envelope<UsageRecorded>] {
                [
                    Self.call(tenant, key: nil, model: "local-chat", status: .succeeded, latencyMs: 40, cost: 12, at: hour.addingTimeInterval(10)),
                    Self.call(tenant, key: nil, model: "local-chat", status: .failed, latencyMs: 900, cost: 5, at: hour.addingTimeInterval(20)),
                    Self.call(tenant, key: nil, model: "local-chat", status: .cancelled, latencyMs: 3, cost: 7, at: hour.addingTimeInterval(-5)),
                    Self.call(tenant, key: UUID(), model: "local-chat", status: .succeeded, latencyMs: 70, cost: 9, at: hour.addingTimeInterval(30)),
                ]
            }
            func prepared(_ event: Envelope<UsageRecorded>) throws -> Projection.Prepared {
                try #require(try projection.prepare(NATSMessage(subject: event.subject, payload: JSONCoding.encode(event))))
            }

            let mine = events(batched)
            _ = try await projection.project(tenant: batched, [try prepared(mine[3])])
            // The first event twice in the batch, and the last projected before.
            let outcomes = try await projection.project(tenant: batched, try [mine[0], mine[1], mine[0], mine[2], mine[3]].map(prepared))
            #expect(outcomes == [.projected, .projected, .alreadyProjected, .projected, .alreadyProjected])
            for event in events(oneByOne) {
                _ = try await projection.project(tenant: oneByOne, [try prepared(event)])
            }

            func usageRows(_ tenant: UUID) async throws -> [String] {
                try await Self.rows(tenant, database).filter { $0.hasPrefix("analytics_usage_hourly") }
                    .map { $0.replacingOccurrences(of: tenant.uuidString.lowercased(), with: "tenant") }
            }
            let batchedRows = try await usageRows(batched)
            #expect(batchedRows.count == 3, "two hours and two keys: \(batchedRows)")
            #expect(batchedRows.contains { $0.contains(",2,1,0,") }, "two calls in one row, one failed: \(batchedRows)")
            // Key ids differ between the tenants' events; compare the rows without them.
            func withoutKeys(_ rows: [String]) -> [String] {
                rows.map { $0.replacing(/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/, with: "key") }.sorted()
            }
            #expect(withoutKeys(batchedRows) == withoutKeys(try await usageRows(oneByOne)))
        }
    }
}

/// Reads a series straight from the analytics responder, as the gateway asks for it.
enum AnalyticsSeriesProbe {
    static func series(bus: Bus, tenant: UUID, groupBy: AnalyticsGrouping? = nil) async throws -> AnalyticsUsageReport {
        let call = AnalyticsUsageCall(tenantID: tenant, from: Date().addingTimeInterval(-86_400), to: Date().addingTimeInterval(86_400),
                                      groupBy: groupBy, interval: .hour)
        let reply = try await bus.request(Subject.service(.analytics, AnalyticsVerb.usage), payload: JSONCoding.encode(call), timeout: .seconds(5))
        return try JSONCoding.decode(AnalyticsUsageReport.self, from: reply.payload)
    }
}

@Suite struct AnalyticsAPITests {
    @Test func usageSeriesThroughTheGatewayCountTheTenantsOwnCallsByModel() async throws {
        try await withDatabase { database in
            let (tenant, key) = try await makeTenantWithKey(database)
            let viewer = try await makeKey(database, tenant: tenant, role: .viewer)
            let (_, stranger) = try await makeTenantWithKey(database)
            try await withGateway(tenant: tenant) { gateway in
                try await withServiceGroup(analyticsServices(gateway, tenant: tenant)) {
                    for _ in 0..<3 {
                        #expect(try await send(.POST, gateway.url + "/v1/chat/completions", key: key, json: chatJSON(maxTokens: 8)).status == 200)
                    }
                    let embedded = try await send(.POST, gateway.url + "/v1/embeddings", key: key, json: #"{"model":"local-embedding","input":"hello"}"#)
                    #expect(embedded.status == 200)
                    let events = try await gateway.usage.next(4).map { try $0.decode(UsageRecorded.self).payload }

                    let url = gateway.url + "/v1/analytics/usage?group_by=model&interval=hour&from=\(Self.day(-1))&to=\(Self.day(1))"
                    var report: AnalyticsUsageReport?
                    let counted = try await eventually {
                        report = try? await send(.GET, url, key: viewer.secret).decode(AnalyticsUsageReport.self)
                        return report?.data.map(\.requests).reduce(0, +) == 4
                    }
                    #expect(counted, "the series counts the four calls: \(String(describing: report))")
                    let byModel = Dictionary(grouping: report?.data ?? [], by: { $0.group ?? "" })
                    #expect(byModel["local-chat"]?.map(\.requests).reduce(0, +) == 3)
                    #expect(byModel["local-embedding"]?.map(\.requests).reduce(0, +) == 1)
                    #expect(report?.data.map(\.costMicros).reduce(0, +) == events.map(\.costMicros).reduce(0, +))
                    #expect(report?.data.map(\.completionTokens).reduce(0, +) == Int64(events.map(\.completionTokens).reduce(0, +)))
                    #expect(report?.data.allSatisfy { $0.latencyMs.p99 >= $0.latencyMs.p50 } == true)

                    let strangers = try await send(.GET, url, key: stranger).decode(AnalyticsUsageReport.self)
                    #expect(strangers.data.isEmpty, "another tenant sees none of it")
                }
                let refused: [(query: String, field: String)] = [
                    ("interval=week", "interval"), ("group_by=colour", "group_by"), ("from=2026-11-02&to=2026-11-01", "to"),
                    ("interval=hour&from=2026-01-01&to=2026-03-01", "from"), ("from=yesterday", "from"),
                ]
                for (query, field) in refused {
                    let answer = try await send(.GET, gateway.url + "/v1/analytics/usage?" + query, key: key)
                    #expect(answer.status == 400 && answer.error?.param == field, "\(query): \(answer.text)")
                }
            }
        }
    }

    static func day(_ offset: Int) -> String {
        Date().addingTimeInterval(Double(offset) * 86_400).formatted(.iso8601.year().month().day())
    }
}

@Suite struct DashboardTests {
    /// The page in a real headless Chromium, sent the key as a signed-in browser would send it.
    @Test func theDashboardRendersInChromiumWithTheTenantsChartsBudgetAndForecast() async throws {
        try await withDatabase { database in
            let tenant = try await makeTenant(database, name: "Dashboard <Co>")
            let owner = try await makeKey(database, tenant: tenant, role: .owner)
            try await withGateway(tenant: tenant) { gateway in
                try await withServiceGroup(billingServices(gateway, tenant: tenant) + analyticsServices(gateway, tenant: tenant)) {
                    let budget = try await send(.PUT, gateway.url + "/admin/tenants/\(tenant)/budget", key: owner.secret, json: #"{"amount_micros":50000000}"#)
                    #expect(budget.status == 200)
                    for _ in 0..<4 {
                        #expect(try await send(.POST, gateway.url + "/v1/chat/completions", key: owner.secret, json: chatJSON(maxTokens: 8)).status == 200)
                    }
                    let projected = try await eventually {
                        let page = try await send(.GET, gateway.url + "/v1/dashboard", key: owner.secret)
                        return page.text.contains("<td>local-chat</td><td>4</td>")
                    }
                    #expect(projected, "the page counts the four calls of local-chat")

                    let page = try await send(.GET, gateway.url + "/v1/dashboard", key: owner.secret)
                    #expect(page.headers.first(name: "content-type") == "text/html; charset=utf-8")
                    #expect(page.text.contains("Dashboard &lt;Co&gt;") && !page.text.contains("<Co>"), "the tenant's name is escaped")
                    #expect(page.text.contains("of $50.00 spent this month"))
                    #expect(!page.text.contains("<script"))
                    #expect(try await send(.GET, gateway.url + "/v1/dashboard").status == 401)

                    let png = FileManager.default.temporaryDirectory.appendingPathComponent(uniqueName("dashboard") + ".png")
                    defer { try? FileManager.default.removeItem(at: png) }
                    let python = TestEnvironment.require("SWITCHYARD_TEST_PYTHON")
                    let script = TestEnvironment.root.appendingPathComponent("Tests/Fixtures/python/dashboard_screenshot.py").path
                    let run = try await runProcess(URL(fileURLWithPath: python), arguments: [script, gateway.url + "/v1/dashboard", owner.secret, png.path],
                                                   environment: ["PATH": "/usr/bin:/bin", "HOME": FileManager.default.temporaryDirectory.path])
                    #expect(run.status == 0, "\(run.output)")
                    struct Shown: Decodable { var status: Int; var title: String; var svgs: Int; var text: String }
                    let shown = try JSONDecoder().decode(Shown.self, from: Data(run.output.split(separator: "\n").last.map(String.init)?.utf8 ?? "".utf8))
                    #expect(shown.status == 200)
                    #expect(shown.title == "Dashboard <Co> · Switchyard")
                    #expect(shown.svgs == 4, "three charts and the budget meter")
                    #expect(shown.text.contains("Top models this month") && shown.text.contains("Forecast for the next 30 days"))
                    let image = try Data(contentsOf: png)
                    #expect(image.starts(with: [0x89, 0x50, 0x4E, 0x47]) && image.count > 20_000, "a PNG of the page, \(image.count) bytes")
                    // A copy to look at: .build/screenshots/dashboard.png.
                    let keep = TestEnvironment.root.appendingPathComponent(".build/screenshots")
                    try? FileManager.default.createDirectory(at: keep, withIntermediateDirectories: true)
                    try? FileManager.default.removeItem(at: keep.appendingPathComponent("dashboard.png"))
                    try? FileManager.default.copyItem(at: png, to: keep.appendingPathComponent("dashboard.png"))
                }
            }
        }
    }
}
