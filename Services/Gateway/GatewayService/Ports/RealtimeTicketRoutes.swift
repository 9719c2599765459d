import Contracts
import Foundation
import Hummingbird
import SwitchyardRuntime

/// `POST /v1/realtime/tickets`: a ticket that opens the realtime service's `/v1/realtime` as the
/// caller for the next minute, for clients that cannot send an Authorization header on a
/// WebSocket (browsers), and for members signed in with the identity provider's tokens, which
/// the realtime service does not read itself. Unset `SWITCHYARD_REALTIME_TICKET_SECRET`, the
/// route answers 404.
struct RealtimeTicketRoutes: Sendable {
    let signer: RealtimeTicketSigner?
    /// How long a ticket opens sockets: long enough to connect, short for a URL that leaks.
    static let lifetime: TimeInterval = 60

    func addRoutes(to group: RouterGroup<GatewayContext>) {
        group.post("realtime/tickets", use: issue)
    }

    func issue(_ request: Request, context: GatewayContext) async throws -> Response {
        guard let signer else {
            throw APIError(.notFound, "Realtime tickets are not enabled on this installation.", code: "not_found", status: .notFound)
        }
        let caller = try context.requireCaller()
        try caller.require(.realtimeSubscribe)
        let subject: String? = if case .token(let subject) = caller.credential { subject } else { nil }
        let expiresAt = Date().addingTimeInterval(Self.lifetime)
        let claims = RealtimeTicketClaims(
            tenantID: try caller.requireTenant(), apiKeyID: caller.apiKeyID, subject: subject,
            expiresAt: min(expiresAt, caller.credentialExpiresAt ?? expiresAt), credentialExpiresAt: caller.credentialExpiresAt)
        return try Response.json(RealtimeTicket(ticket: try signer.sign(claims), expiresAt: claims.expiresAt), status: .created)
    }
}
