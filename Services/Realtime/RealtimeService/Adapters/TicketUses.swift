import Contracts
import Foundation
import SwitchyardDatabase

/// The realtime tickets that have opened a socket, so that each opens one: the first replica to
/// record a ticket's use takes it, and any later use, on any replica, is refused. A ticket
/// travels in a URL, which proxies and browsers may keep; used once, a copy opens nothing.
enum TicketUses {
    /// Records the ticket's use: false when it had been used.
    static func redeem(_ ticket: RealtimeTicketClaims, in database: Database) async throws -> Bool {
        try await database.withTenant(ticket.tenantID) { tx in
            // Uses of tickets long expired are forgotten: those tickets open nothing anyway.
            try await tx.execute("DELETE FROM realtime_ticket_uses WHERE expires_at < now() - interval '10 minutes'")
            let rows = try await tx.query("""
                INSERT INTO realtime_ticket_uses (tenant_id, ticket_id, expires_at) VALUES (\(tx.tenantID), \(ticket.id), \(ticket.expiresAt))
                ON CONFLICT DO NOTHING RETURNING ticket_id
                """)
            for try await _ in rows { return true }
            return false
        }
    }
}
