import ArgumentParser
import Contracts
import Foundation
import SwitchyardAdministration

struct RoutingCommands: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "routing", abstract: "Route a tenant's calls to a model otherwise than the catalog does.",
        subcommands: [SetRouting.self, List.self, Remove.self])

    struct SetRouting: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "set", abstract: "Set the tenant's strategy and deployments for a model; a router checks them against the catalog first.")

        @Option(help: "The tenant id.") var tenant: String
        @Option(help: "priority, lowest_cost, lowest_latency, weighted or bandit.") var strategy: String?
        @Option(help: "Comma-separated deployments in priority order, each optionally with a weight: eu/chat=9,us/chat=1.")
        var deployments: String?
        @Argument(help: "The model, as the catalog names it.") var model: String

        func run() async throws {
            let cli = try await Operator.make()
            let tenantID = try parseUUID(tenant)
            let choices = try deployments.map { list in
                try list.split(separator: ",").map { item -> DeploymentChoice in
                    let parts = item.split(separator: "=", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
                    guard parts.count == 2 else { return DeploymentChoice(name: parts[0]) }
                    guard let weight = Int(parts[1]) else { throw ValidationError("\(parts[1]) is not a whole-number weight") }
                    return DeploymentChoice(name: parts[0], weight: weight)
                }
            }
            let request = SetRoutingRequest(strategy: strategy, deployments: choices)
            guard let (override, created) = try await cli.withAdministration({ try await $0.setRouting(model: model, request, tenant: tenantID) }) else {
                throw ValidationError("there is no tenant \(Subject.token(tenantID))")
            }
            print("\(created ? "set" : "updated") \(Self.line(override))")
        }

        static func line(_ override: RoutingOverride) -> String {
            let deployments = override.deployments?.map { choice in choice.weight.map { "\(choice.name)=\($0)" } ?? choice.name }
            return "\(override.model)  \(override.strategy ?? "-")  \(deployments?.joined(separator: ",") ?? "-")"
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List the tenant's routing overrides: model, strategy, deployments.")
        @Option(help: "The tenant id.") var tenant: String

        func run() async throws {
            let cli = try await Operator.make()
            let tenantID = try parseUUID(tenant)
            for override in try await cli.withAdministration({ try await $0.routing(tenant: tenantID) }) {
                print(SetRouting.line(override))
            }
        }
    }

    struct Remove: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Put the catalog's routing of a model back in force for the tenant.")
        @Option(help: "The tenant id.") var tenant: String
        @Argument(help: "The model.") var model: String

        func run() async throws {
            let cli = try await Operator.make()
            let tenantID = try parseUUID(tenant)
            guard try await cli.withAdministration({ try await $0.removeRouting(model: model, tenant: tenantID) }) != nil else {
                throw ValidationError("tenant \(tenant) has no routing override for \(model)")
            }
            print("removed \(model)")
        }
    }
}
