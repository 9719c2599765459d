import AnalyticsService
import ArgumentParser
import Foundation

struct AnalyticsCommands: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "analytics", abstract: "Work with analytics' read models.", subcommands: [Rebuild.self])

    struct Rebuild: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Empty the read models and project every event of the EVENTS stream into them again.",
            discussion: """
                The analytics service may keep running: each event is projected once, by the rebuild or by the \
                service. Until the rebuild ends, dashboards and usage series show part of the history.
                """)

        @Option(name: .customLong("tenant"), help: "Rebuild this tenant's read models only (repeatable); the others' are left alone.")
        var tenants: [String] = []

        func run() async throws {
            let cli = try await Operator.make()
            let scope = tenants.isEmpty ? nil : Set(try tenants.map(parseUUID))
            let summary = try await cli.withDatabase { database in
                try await cli.withBus { bus in try await ReadModelRebuild(bus: bus, database: database, logger: cli.logger).run(tenants: scope) }
            }
            print("replayed \(summary.replayed) events: \(summary.projected) projected, \(summary.skipped) skipped")
        }
    }
}
