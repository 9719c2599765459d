import Contracts
import Foundation
import GatewayService
import RealtimeService
import SwitchyardBus
import SwitchyardDatabase
import SwitchyardRuntime
import Testing

/// Realtime tickets: issued by the gateway to a caller it authenticated (a member's bearer token
/// here), accepted by the realtime service in the socket's query, for clients that cannot send an
/// Authorization header on a WebSocket.
@Suite struct RealtimeTicketTests {
    static let secret = Secret("realtime-test-ticket-secret-" + String(repeating: "t", count: 32))
    static let realtimeConfig: RealtimeConfig = {
        var config = RealtimeConfig(cursorSecret: realtimeTestSecret, port: 0, idleWait: .seconds(1))
        config.ticketSecret = secret
        return config
    }()

    @Test func aMembersTicketOpensTheirTenantsFeedUntilTheirRolesChange() async throws {
        let provider = try await IdentityProvider()
        let (jwksURL, server) = try await provider.start()
        defer { server.cancel() }
        try await withRealtime(Self.realtimeConfig) { address, database, bus, realtime in
            let tenant = try await makeTenant(database)
            var config = GatewayConfig(port: 0, jwt: JWTSettings(
                jwksURL: jwksURL, hmacSecret: .init(IdentityProvider.hmacSecret), issuer: IdentityProvider.issuer, audience: IdentityProvider.audience))
            config.realtimeTicketSecret = Self.secret
            try await withGateway(tenant: tenant, config: config) { gateway in
                var claims = TestClaims(tenant: tenant)
                claims.roles = ["viewer"]
                let token = try await provider.token(kid: "ec-1", claims)
                let answer = try await send(.POST, gateway.url + "/v1/realtime/tickets", key: token)
                #expect(answer.status == 201, "\(answer.text)")
                let ticket = try answer.decode(RealtimeTicket.self)
                #expect(ticket.expiresAt > Date() && ticket.expiresAt <= Date().addingTimeInterval(61))
                let signed = try #require(RealtimeTicketSigner(secret: Self.secret).claims(of: ticket.ticket))
                #expect(signed.tenantID == tenant && signed.subject == "alice@example.test" && signed.apiKeyID == nil)
                #expect(signed.credentialExpiresAt.map { abs($0.timeIntervalSince1970 - claims.exp!) < 1 } == true)

                let query = "?ticket=\(ticket.ticket)"
                let events = try await RealtimeTests().receive(2, address: address, key: nil, query: query) {
                    for number in 1...2 { try await bus.publish(Envelope(tenantID: tenant, payload: Pinged(number: number))) }
                }
                #expect(events.map(\.event.payload.number) == [1, 2])

                // A ticket opens one socket: a copy of it opens nothing.
                let reused = try await RealtimeTests().connect(address, key: nil, query: query) { inbound, _, _ in for try await _ in inbound {} }
                #expect(reused?.closeCode == .unknown(4401) && reused?.reason?.hasPrefix("The ticket has opened a socket already") == true,
                        "\(String(describing: reused))")

                // The member loses every role that may subscribe: their socket closes.
                let second = try await send(.POST, gateway.url + "/v1/realtime/tickets", key: token).decode(RealtimeTicket.self)
                let closed = try await RealtimeTests().connect(address, key: nil, query: "?ticket=\(second.ticket)") { inbound, _, _ in
                    #expect(try await eventually(timeout: .seconds(5)) { realtime.openSockets == 1 })
                    try await bus.publish(Envelope(tenantID: tenant, payload: MemberChanged(subject: "alice@example.test", roles: [.billing])))
                    for try await _ in inbound {}
                }
                #expect(closed?.closeCode == .policyViolation && closed?.reason == "Your roles no longer allow realtime:subscribe.",
                        "\(String(describing: closed))")
            }
        }
    }

    @Test func ticketsAreRefusedWhenTheyAreNotTheGatewaysOrHaveExpired() async throws {
        try await withRealtime(Self.realtimeConfig) { address, database, bus, _ in
            let (tenant, key) = try await makeTenantWithKey(database, role: .billing)
            let signer = RealtimeTicketSigner(secret: Self.secret)
            let valid = try signer.sign(RealtimeTicketClaims(
                tenantID: tenant, apiKeyID: nil, subject: "bob", expiresAt: Date().addingTimeInterval(60), credentialExpiresAt: nil))
            let expired = try signer.sign(RealtimeTicketClaims(
                tenantID: tenant, apiKeyID: nil, subject: "bob", expiresAt: Date().addingTimeInterval(-1), credentialExpiresAt: nil))
            let forged = try RealtimeTicketSigner(secret: Secret(String(repeating: "f", count: 40))).sign(RealtimeTicketClaims(
                tenantID: tenant, apiKeyID: nil, subject: "bob", expiresAt: Date().addingTimeInterval(60), credentialExpiresAt: nil))
            let parts = valid.split(separator: ".")
            let otherTenant = try signer.sign(RealtimeTicketClaims(
                tenantID: UUID(), apiKeyID: nil, subject: "bob", expiresAt: Date().addingTimeInterval(60), credentialExpiresAt: nil))
            let swapped = "\(otherTenant.split(separator: ".")[0]).\(parts[1])"
            for (name, ticket) in [("expired", expired), ("forged", forged), ("swapped claims", swapped), ("garbage", "abc")] {
                let answer = try await send(.GET, "http://\(address)/v1/realtime?ticket=\(ticket)")
                #expect(answer.status == 401 && answer.error?.code == "invalid_ticket", "\(name): \(answer.status) \(answer.text)")
            }
            // A good ticket over plain HTTP: the socket would open.
            #expect(try await send(.GET, "http://\(address)/v1/realtime?ticket=\(valid)").status == 426)

            // A key's ticket opens nothing once the key is revoked, though it has not expired.
            let keyID = UUID()
            let keyTicket = try signer.sign(RealtimeTicketClaims(
                tenantID: tenant, apiKeyID: keyID, subject: nil, expiresAt: Date().addingTimeInterval(60), credentialExpiresAt: nil))
            #expect(try await send(.GET, "http://\(address)/v1/realtime?ticket=\(keyTicket)").status == 426)
            try await bus.publish(Envelope(tenantID: tenant, payload: APIKeyRevoked(apiKeyID: keyID, prefix: "", revokedAt: Date())))
            let refused = try await eventually(timeout: .seconds(5)) {
                try await send(.GET, "http://\(address)/v1/realtime?ticket=\(keyTicket)").status == 401
            }
            #expect(refused, "a revoked key's ticket still opens sockets")
            #expect(try await send(.GET, "http://\(address)/v1/realtime?ticket=\(valid)").status == 426)

            // The gateway issues none to a role that may not subscribe, nor without a secret.
            var config = GatewayConfig(port: 0)
            config.realtimeTicketSecret = Self.secret
            try await withGateway(tenant: tenant, config: config) { gateway in
                let refused = try await send(.POST, gateway.url + "/v1/realtime/tickets", key: key)
                #expect(refused.status == 403 && refused.error?.code == "insufficient_permissions", "\(refused.text)")
            }
            try await withGateway(tenant: tenant) { gateway in
                let unset = try await send(.POST, gateway.url + "/v1/realtime/tickets", key: key)
                #expect(unset.status == 404)
            }
        }
    }
}
