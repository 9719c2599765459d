import Contracts
import Foundation
import GatewayService
import JWTKit
import SwitchyardDatabase
import SwitchyardRuntime
import Testing

/// Bearer tokens (JWTs) from an identity provider on loopback, through the gateway: HS256,
/// RS256, ES256 and EdDSA, keys from its JWKS, the tenant and roles from claims.
@Suite struct GatewayTokenTests {
    func withProviderAndGateway(
        rolesFrom: JWTSettings.RoleSource = .membersOrClaim, _ body: (IdentityProvider, GatewayUnderTest, UUID) async throws -> Void
    ) async throws {
        let provider = try await IdentityProvider()
        let (jwksURL, server) = try await provider.start()
        defer { server.cancel() }
        try await withDatabase { database in
            let tenant = try await makeTenant(database)
            let settings = JWTSettings(
                jwksURL: jwksURL, hmacSecret: .init(IdentityProvider.hmacSecret),
                issuer: IdentityProvider.issuer, audience: IdentityProvider.audience)
            var jwt = settings
            jwt.rolesFrom = rolesFrom
            try await withGateway(tenant: tenant, config: GatewayConfig(port: 0, jwt: jwt)) { gateway in
                try await body(provider, gateway, tenant)
            }
        }
    }

    @Test func tokensSignedWithEachAlgorithmAreAccepted() async throws {
        try await withProviderAndGateway { provider, gateway, tenant in
            for kid in ["hs", "rsa-1", "ec-1", "ed-1"] {
                let token = try await provider.token(kid: kid, TestClaims(tenant: tenant))
                let models = try await send(.GET, gateway.url + "/v1/models", key: token)
                #expect(models.status == 200, "\(kid): \(models.text)")
                let chat = try await send(.POST, gateway.url + "/v1/chat/completions", key: token, json: chatJSON(maxTokens: 4))
                #expect(chat.status == 200, "\(kid): \(chat.text)")
            }
            // Usage of a member's call names no API key.
            let usage = try #require(await gateway.usage.next(1).first).decode(UsageRecorded.self).payload
            #expect(usage.apiKeyID == nil)
        }
    }

    @Test func everyBadTokenIsA401NamingWhy() async throws {
        try await withProviderAndGateway { provider, gateway, tenant in
            func claims(_ change: (inout TestClaims) -> Void) -> TestClaims {
                var claims = TestClaims(tenant: tenant)
                change(&claims)
                return claims
            }
            let now = Date().timeIntervalSince1970
            let valid = try await provider.token(kid: "ec-1", TestClaims(tenant: tenant))
            let parts = valid.split(separator: ".")
            let other = try await IdentityProvider()  // same key ids, other keys
            try await other.addKey("RS256", kid: "rsa-never-published")
            let cases: [(String, String)] = [
                ("expired", try await provider.token(kid: "rsa-1", claims { $0.exp = now - 120 })),
                ("no expiry", try await provider.token(kid: "rsa-1", claims { $0.exp = nil })),
                ("not yet valid", try await provider.token(kid: "rsa-1", claims { $0.nbf = now + 600 })),
                ("another issuer", try await provider.token(kid: "ec-1", claims { $0.iss = "https://evil.example" })),
                ("another audience", try await provider.token(kid: "ec-1", claims { $0.aud = ["someone-else"] })),
                ("no tenant", try await provider.token(kid: "ed-1", claims { $0.tenant_id = nil })),
                ("an unknown tenant", try await provider.token(kid: "ed-1", claims { $0.tenant_id = UUID().uuidString })),
                ("signed by another key under a known id", try await other.token(kid: "ec-1", TestClaims(tenant: tenant))),
                ("a changed payload", "\(parts[0]).\(Data(#"{"tenant_id":"x","exp":9999999999}"#.utf8).base64URL).\(parts[2])"),
                ("alg none", "\(Data(#"{"alg":"none","typ":"JWT"}"#.utf8).base64URL).\(parts[1])."),
                ("an unknown key id", try await other.token(kid: "rsa-never-published", TestClaims(tenant: tenant))),
                ("HS256 with another secret", try await other.token(kid: "hs", TestClaims(tenant: tenant)).dropLast(4) + "AAAA"),
                ("not a JWT", "a.b.c"),
            ]
            for (name, token) in cases {
                let answer = try await send(.GET, gateway.url + "/v1/models", key: token)
                #expect(answer.status == 401, "\(name): \(answer.status) \(answer.text)")
                #expect(answer.error?.type == .authentication && answer.error?.message.hasPrefix("Invalid bearer token") == true, "\(name): \(answer.text)")
            }
        }
    }

    @Test func aKeyTheProviderAddsLaterIsFetchedWhenATokenNamesIt() async throws {
        try await withProviderAndGateway { provider, gateway, tenant in
            let first = try await provider.token(kid: "rsa-1", TestClaims(tenant: tenant))
            #expect(try await send(.GET, gateway.url + "/v1/models", key: first).status == 200)
            let fetchesBefore = provider.fetchCount

            try await provider.addKey("ES256", kid: "ec-2")
            let rotated = try await provider.token(kid: "ec-2", TestClaims(tenant: tenant))
            let answer = try await send(.GET, gateway.url + "/v1/models", key: rotated)
            #expect(answer.status == 200, "\(answer.text)")
            #expect(provider.fetchCount == fetchesBefore + 1)
        }
    }

    @Test func rolesComeFromTheClaimAndAddUp() async throws {
        try await withProviderAndGateway { provider, gateway, tenant in
            var viewer = TestClaims(tenant: tenant)
            viewer.roles = ["viewer"]
            let viewerToken = try await provider.token(kid: "ed-1", viewer)
            #expect(try await send(.GET, gateway.url + "/v1/models", key: viewerToken).status == 200)
            #expect(try await send(.POST, gateway.url + "/v1/chat/completions", key: viewerToken, json: chatJSON()).status == 403)

            var both = TestClaims(tenant: tenant)
            both.roles = ["viewer", "billing", "not-a-role"]
            let bothToken = try await provider.token(kid: "ed-1", both)
            // billing adds nothing for models; viewer adds models:list.
            #expect(try await send(.GET, gateway.url + "/v1/models", key: bothToken).status == 200)

            var admin = TestClaims(tenant: tenant)
            admin.roles = ["admin"]
            let adminToken = try await provider.token(kid: "rsa-1", admin)
            let created = try await send(.POST, gateway.url + "/admin/tenants/\(tenant)/api-keys", key: adminToken,
                                         json: #"{"name":"made by a member","role":"developer"}"#)
            #expect(created.status == 201, "\(created.text)")
            let audit = try await send(.GET, gateway.url + "/admin/tenants/\(tenant)/audit", key: adminToken)
            let entries = try audit.decode(ListOf<AuditEntryInfo>.self).data
            #expect(entries.last?.actor == "jwt:alice@example.test")
        }
    }

    /// A token for `subject` whose roles claim says `roles`.
    func token(_ provider: IdentityProvider, _ tenant: UUID, _ subject: String, claims roles: [String]) async throws -> String {
        var claims = TestClaims(tenant: tenant)
        claims.sub = subject
        claims.roles = roles
        return try await provider.token(kid: "ed-1", claims)
    }

    @Test func aMembersRolesOverrideTheClaimAndChangesApplyToTheNextCall() async throws {
        try await withProviderAndGateway { provider, gateway, tenant in
            let admin = try await token(provider, tenant, "alice", claims: ["admin"])
            let bob = try await token(provider, tenant, "auth0|bob", claims: ["viewer"])
            let members = gateway.url + "/admin/tenants/\(tenant)/members"
            let bobURL = members + "/auth0%7Cbob"
            let chat = { try await send(.POST, gateway.url + "/v1/chat/completions", key: bob, json: chatJSON(maxTokens: 2)).status }
            #expect(try await chat() == 403)

            let added = try await send(.PUT, bobURL, key: admin, json: #"{"roles":["developer"],"email":"bob@example.test"}"#)
            #expect(added.status == 201, "\(added.text)")
            #expect(try added.decode(MemberInfo.self).subject == "auth0|bob")
            #expect(try await eventually(timeout: .seconds(2)) { try await chat() == 200 })

            let changed = try await send(.PUT, bobURL, key: admin, json: #"{"roles":["billing"]}"#)
            let changedRoles = try changed.decode(MemberInfo.self).roles
            #expect(changed.status == 200 && changedRoles == [.billing])
            #expect(try await eventually(timeout: .seconds(2)) { try await chat() == 403 })
            let listed = try await send(.GET, members, key: admin).decode(ListOf<MemberInfo>.self).data
            #expect(listed.map(\.subject) == ["auth0|bob"] && listed.first?.email == nil)

            // Removed, bob is back to what the identity provider's claim says: viewer.
            #expect(try await send(.PUT, bobURL, key: admin, json: #"{"roles":["developer"]}"#).status == 200)
            #expect(try await eventually(timeout: .seconds(2)) { try await chat() == 200 })
            let removed = try await send(.DELETE, bobURL, key: admin)
            #expect(removed.status == 200, "\(removed.text)")
            #expect(try await eventually(timeout: .seconds(2)) { try await chat() == 403 })
            #expect(try await send(.GET, bobURL, key: admin).status == 404)
            #expect(try await send(.DELETE, bobURL, key: admin).status == 404)

            let audit = try await send(.GET, gateway.url + "/admin/tenants/\(tenant)/audit", key: admin).decode(ListOf<AuditEntryInfo>.self).data
            #expect(audit.filter { $0.target == "auth0|bob" }.map(\.action) == ["member.add", "member.roles.set", "member.roles.set", "member.remove"])
            #expect(audit.allSatisfy { $0.actor == "jwt:alice" })
        }
    }

    @Test func nobodyGrantsOrChangesMoreThanTheyHold() async throws {
        try await withProviderAndGateway { provider, gateway, tenant in
            let owner = try await token(provider, tenant, "olivia", claims: ["owner"])
            let admin = try await token(provider, tenant, "alice", claims: ["admin"])
            let carol = gateway.url + "/admin/tenants/\(tenant)/members/carol"
            let grant = try await send(.PUT, carol, key: admin, json: #"{"roles":["owner"]}"#)
            #expect(grant.status == 403 && grant.error?.param == "roles", "\(grant.text)")
            #expect(try await send(.PUT, carol, key: owner, json: #"{"roles":["owner"]}"#).status == 201)
            let demote = try await send(.PUT, carol, key: admin, json: #"{"roles":["viewer"]}"#)
            #expect(demote.status == 403 && demote.error?.param == "subject")
            #expect(try await send(.DELETE, carol, key: admin).status == 403)
            let viewer = try await token(provider, tenant, "victor", claims: ["viewer"])
            #expect(try await send(.GET, gateway.url + "/admin/tenants/\(tenant)/members", key: viewer).status == 403)
            #expect(try await send(.DELETE, carol, key: owner).status == 200)
        }
    }

    @Test func badMemberInputIsA400NamingTheField() async throws {
        try await withProviderAndGateway { provider, gateway, tenant in
            let admin = try await token(provider, tenant, "alice", claims: ["admin"])
            let members = gateway.url + "/admin/tenants/\(tenant)/members/"
            for (path, body, field) in [
                ("dana", #"{"roles":[]}"#, "roles"),
                ("dana", #"{"roles":["superuser"]}"#, "roles[0]"),
                ("dana", #"{}"#, "roles"),
                ("dana", #"{"roles":["viewer"],"email":"not an address"}"#, "email"),
                ("%01dana", #"{"roles":["viewer"]}"#, "subject"),
                (String(repeating: "d", count: 256), #"{"roles":["viewer"]}"#, "subject"),
            ] {
                let answer = try await send(.PUT, members + path, key: admin, json: body)
                #expect(answer.status == 400 && answer.error?.param == field, "\(path) \(body): \(answer.status) \(answer.text)")
            }
            let listed = try await send(.GET, gateway.url + "/admin/tenants/\(tenant)/members", key: admin).decode(ListOf<MemberInfo>.self)
            #expect(listed.data.isEmpty)
        }
    }

    @Test func withRolesFromMembersOnlyAMemberGetsIn() async throws {
        try await withProviderAndGateway(rolesFrom: .members) { provider, gateway, tenant in
            let stranger = try await token(provider, tenant, "mallory", claims: ["owner"])
            let refused = try await send(.GET, gateway.url + "/v1/models", key: stranger)
            #expect(refused.status == 401 && refused.error?.code == "invalid_token" && refused.text.contains("not a member"))
            var noSubject = TestClaims(tenant: tenant)
            noSubject.sub = nil
            let anonymous = try await send(.GET, gateway.url + "/v1/models", key: try await provider.token(kid: "ed-1", noSubject))
            #expect(anonymous.status == 401 && anonymous.text.contains("`sub`"))

            try await withDatabase { database in
                _ = try await database.withTenant(tenant) { try await MemberRepository.set(subject: "maria", roles: [.viewer], email: nil, in: $0) }
            }
            // A member's roles, whatever the claim says.
            let member = try await token(provider, tenant, "maria", claims: ["owner"])
            #expect(try await send(.GET, gateway.url + "/v1/models", key: member).status == 200)
            #expect(try await send(.POST, gateway.url + "/v1/chat/completions", key: member, json: chatJSON(maxTokens: 2)).status == 403)
        }
    }

    @Test func settingsAreReadAndCheckedFromTheEnvironment() async throws {
        let none = try await Settings.load(environment: [:])
        #expect(try JWTSettings(settings: none) == nil)
        let short = try await Settings.load(environment: ["SWITCHYARD_JWT_HS256_SECRET": "short"])
        #expect(throws: ConfigError.self) { try JWTSettings(settings: short) }
        let full = try await Settings.load(environment: [
            "SWITCHYARD_JWT_JWKS_URL": "https://id.example/jwks.json", "SWITCHYARD_JWT_ISSUER": "https://id.example",
            "SWITCHYARD_JWT_ROLES_FROM": "members",
            "SWITCHYARD_JWT_TENANT_CLAIM": "org", "SWITCHYARD_JWT_ROLES_CLAIM": "groups", "SWITCHYARD_JWT_JWKS_REFRESH": "5m",
        ])
        let settings = try #require(try JWTSettings(settings: full))
        #expect(settings.tenantClaim == "org" && settings.rolesClaim == "groups" && settings.jwksRefresh == .seconds(300))
        #expect(settings.rolesFrom == .members)
        let notHTTP = try await Settings.load(environment: ["SWITCHYARD_JWT_JWKS_URL": "ftp://id.example"])
        #expect(throws: ConfigError.self) { try JWTSettings(settings: notHTTP) }
    }
}
