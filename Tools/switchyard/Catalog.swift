import ArgumentParser
import Contracts
import Foundation
import SwitchyardBus

struct CatalogCommands: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "catalog", abstract: "Work with the routers' model catalog.", subcommands: [Reload.self])

    struct Reload: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Make every router replica read its catalog file again; fails when one refuses it or none answers.")

        @Option(help: "Seconds to wait for the replicas' answers.")
        var wait: Double = 1

        func run() async throws {
            let cli = try await Operator.make()
            let window = Duration.milliseconds(Int64(wait * 1000))
            let replies = try await cli.withBus { bus in
                try await bus.gather(Subject.service(.router, RouterVerb.reloadCatalog), payload: Data("{}".utf8), window: window)
            }
            let results = replies.compactMap { try? JSONCoding.decode(CatalogReloadResult.self, from: $0.payload) }.sorted { $0.instance < $1.instance }
            guard !results.isEmpty else { throw ValidationError("no router answered within \(wait) s; is one running?") }
            for result in results {
                let detail = result.error.map { "  \($0)" } ?? ""
                print("\(result.instance)  \(result.status)  \(result.models.joined(separator: ","))\(detail)")
            }
            if results.contains(where: { $0.status != "reloaded" }) { throw ExitCode(1) }
        }
    }
}
