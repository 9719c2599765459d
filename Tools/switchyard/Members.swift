import ArgumentParser
import Contracts
import Foundation
import SwitchyardAdministration

struct Members: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "member", abstract: "Add, list and remove a tenant's members: people who sign in through the identity provider.",
        subcommands: [SetRoles.self, List.self, Remove.self])

    struct SetRoles: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "set", abstract: "Make a person a member with these roles, or change a member's roles.")

        @Option(help: "The tenant id.") var tenant: String
        @Option(help: "Comma-separated roles: owner, admin, developer, viewer, billing.") var roles: String
        @Option(help: "The member's email, for people reading the list.") var email: String?
        @Argument(help: "The identity provider's subject (`sub`) for the person.") var subject: String

        func run() async throws {
            let cli = try await Operator.make()
            let tenantID = try parseUUID(tenant)
            let roles = try self.roles.split(separator: ",").map { name in
                let name = name.trimmingCharacters(in: .whitespaces)
                guard let role = Role(rawValue: name) else { throw ValidationError("\(name) is not a role: owner, admin, developer, viewer or billing") }
                return role
            }
            let request = SetMemberRequest(roles: roles, email: email)
            guard let (member, created) = try await cli.withAdministration({ try await $0.setMember(subject, request, tenant: tenantID) }) else {
                throw ValidationError("there is no tenant \(Subject.token(tenantID))")
            }
            print("\(created ? "added" : "updated") \(member.subject)  \(member.roles.map(\.rawValue).joined(separator: ","))")
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List a tenant's members and their roles.")
        @Option(help: "The tenant id.") var tenant: String

        func run() async throws {
            let cli = try await Operator.make()
            let tenantID = try parseUUID(tenant)
            for member in try await cli.withAdministration({ try await $0.members(tenant: tenantID) }) {
                print("\(member.subject)  \(member.roles.map(\.rawValue).joined(separator: ","))  \(member.email ?? "-")")
            }
        }
    }

    struct Remove: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Remove a member; gateways apply it when they see `member.changed`.")
        @Option(help: "The tenant id.") var tenant: String
        @Argument(help: "The member's subject.") var subject: String

        func run() async throws {
            let cli = try await Operator.make()
            let tenantID = try parseUUID(tenant)
            guard try await cli.withAdministration({ try await $0.removeMember(subject, tenant: tenantID) }) != nil else {
                throw ValidationError("tenant \(tenant) has no member \(subject)")
            }
            print("removed \(subject)")
        }
    }
}
