import ArgumentParser
import Contracts
import Foundation
import SwitchyardDatabase

struct Audit: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Read and verify a tenant's hash-chained audit log.", subcommands: [List.self, Verify.self])

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "One line per entry: sequence, time, actor, action, target.")
        @Option(help: "The tenant id.") var tenant: String
        @Option(help: "Entries after this sequence number.") var after: Int64 = 0
        @Option(help: "At most this many.") var limit = 1000

        func run() async throws {
            let cli = try await Operator.make()
            let (tenantID, after, limit) = (try parseUUID(tenant), self.after, self.limit)
            let entries = try await cli.withDatabase { database in
                try await database.withTenant(tenantID) { try await AuditLog.entries(after: after, limit: limit, in: $0) }
            }
            for entry in entries {
                print("\(entry.seq)\t\(JSONCoding.format(entry.occurredAt))\t\(entry.actor)\t\(entry.action)\t\(entry.target ?? "")")
            }
        }
    }

    struct Verify: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Recompute the chain; exit 1 naming the first entry that was changed, or follows a removed one.")
        @Option(help: "The tenant id.") var tenant: String

        func run() async throws {
            let cli = try await Operator.make()
            let tenantID = try parseUUID(tenant)
            let (count, broken) = try await cli.withDatabase { database in
                try await database.withTenant(tenantID) { tx in
                    (try await AuditLog.entries(limit: Int.max, in: tx).count, try await AuditLog.firstBrokenLink(in: tx))
                }
            }
            if let broken {
                print("audit log of \(Subject.token(tenantID)): BROKEN at entry \(broken): it was changed, or an entry before it was removed")
                throw ExitCode(1)
            }
            print("audit log of \(Subject.token(tenantID)): \(count) entries, chain intact")
        }
    }
}
