import Contracts
import Foundation
import GatewayService
import NIOHTTP1
import RouterService
import SwitchyardBus
import SwitchyardDatabase
import Testing

/// The admin API: the platform operator with the admin token on every tenant, a tenant's
/// owners and admins with their keys on their own tenant only.
@Suite struct GatewayAdminTests {
    static let adminToken = "test-admin-token-" + String(repeating: "x", count: 32)
    static let config = GatewayConfig(port: 0, adminToken: .init(adminToken))

    @Test func theOperatorCreatesATenantAndAKeyThatWorksAndIsAudited() async throws {
        try await withDatabase { database in
            let tenant = try await makeTenant(database)
            try await withGateway(tenant: tenant, config: Self.config) { gateway in
                let created = try await send(.POST, gateway.url + "/admin/tenants", key: Self.adminToken, json: #"{"name":"Acme"}"#)
                #expect(created.status == 201)
                let acme = try created.decode(TenantInfo.self)
                #expect(acme.name == "Acme" && acme.status == "active")

                let keyAnswer = try await send(.POST, gateway.url + "/admin/tenants/\(acme.id)/api-keys", key: Self.adminToken,
                                               json: #"{"name":"ci","role":"developer","allowed_models":["local-chat"]}"#)
                #expect(keyAnswer.status == 201)
                let key = try keyAnswer.decode(APIKeyInfo.self)
                let secret = try #require(key.key)
                #expect(secret.hasPrefix("sk-sy-") && key.prefix == String(secret.prefix(16)))
                #expect(key.tenantID == acme.id && key.role == .developer)

                let models = try await send(.GET, gateway.url + "/v1/models", key: secret)
                #expect(try models.decode(ModelList.self).data.map(\.id) == ["local-chat"])

                let listed = try await send(.GET, gateway.url + "/admin/tenants/\(acme.id)/api-keys", key: Self.adminToken)
                let keys = try listed.decode(ListOf<APIKeyInfo>.self).data
                #expect(keys.map(\.id) == [key.id])
                #expect(keys.allSatisfy { $0.key == nil } && !listed.text.contains(secret))

                let audit = try await send(.GET, gateway.url + "/admin/tenants/\(acme.id)/audit", key: Self.adminToken)
                let entries = try audit.decode(ListOf<AuditEntryInfo>.self).data
                #expect(entries.map(\.action) == ["tenant.create", "apikey.create"])
                #expect(entries.allSatisfy { $0.actor == "operator" })
            }
        }
    }

    @Test func aKeyRevokedThroughOneReplicaIsRefusedByTheOtherWithinTwoSeconds() async throws {
        try await withDatabase { database in
            let (tenant, owner) = try await makeTenantWithKey(database, role: .owner)
            let target = try await makeKey(database, tenant: tenant)
            let config = GatewayConfig(port: 0, keyCacheTimeToLive: .seconds(600))
            try await withGateway(tenant: tenant, replicas: 2, config: config) { gateway in
                let warm = try await send(.GET, gateway.urls[1] + "/v1/models", key: target.secret)
                #expect(warm.status == 200)
                let revoked = try await send(.DELETE, gateway.urls[0] + "/admin/api-keys/\(target.id)", key: owner)
                #expect(revoked.status == 200)
                #expect(try revoked.decode(APIKeyInfo.self).revokedAt != nil)
                let started = ContinuousClock.now
                let refused = try await eventually(timeout: .seconds(2)) {
                    try await send(.GET, gateway.urls[1] + "/v1/models", key: target.secret).status == 401
                }
                #expect(refused && ContinuousClock.now - started < .seconds(2))
            }
        }
    }

    @Test func newTenantLimitsApplyAtOnceAndOnlyTheOperatorSetsThem() async throws {
        try await withDatabase { database in
            let (tenant, owner) = try await makeTenantWithKey(database, role: .owner)
            try await withGateway(tenant: tenant, config: Self.config) { gateway in
                let chat = gateway.url + "/v1/chat/completions"
                #expect(try await send(.POST, chat, key: owner, json: chatJSON(maxTokens: 2)).status == 200)  // cached without limits

                let byOwner = try await send(.PUT, gateway.url + "/admin/tenants/\(tenant)/limits", key: owner, json: #"{"requests_per_minute":1}"#)
                #expect(byOwner.status == 403)
                let invalid = try await send(.PUT, gateway.url + "/admin/tenants/\(tenant)/limits", key: Self.adminToken, json: #"{"requests_per_minute":0}"#)
                #expect(invalid.status == 400 && invalid.error?.param == "requests_per_minute")
                let set = try await send(.PUT, gateway.url + "/admin/tenants/\(tenant)/limits", key: Self.adminToken, json: #"{"requests_per_minute":1}"#)
                #expect(set.status == 200)

                let limited = try await eventually(timeout: .seconds(2)) {
                    try await send(.POST, chat, key: owner, json: chatJSON(maxTokens: 2)).status == 429
                }
                #expect(limited, "the new limit did not reach the gateway's cached key")
                let shown = try await send(.GET, gateway.url + "/admin/tenants/\(tenant)/limits", key: owner)
                #expect(try shown.decode(QuotaLimits.self) == QuotaLimits(requestsPerMinute: 1))
            }
        }
    }

    @Test func nobodyHandsOutMoreThanTheyHold() async throws {
        try await withDatabase { database in
            let (tenant, admin) = try await makeTenantWithKey(database, role: .admin)
            try await withGateway(tenant: tenant, config: Self.config) { gateway in
                let url = gateway.url + "/admin/tenants/\(tenant)/api-keys"
                let owner = try await send(.POST, url, key: admin, json: #"{"name":"escalate","role":"owner"}"#)
                #expect(owner.status == 403 && owner.error?.param == "role")
                let developer = try await send(.POST, url, key: admin, json: #"{"name":"fine","role":"developer"}"#)
                #expect(developer.status == 201)
                let tenantByAdmin = try await send(.POST, gateway.url + "/admin/tenants", key: admin, json: #"{"name":"mine"}"#)
                #expect(tenantByAdmin.status == 403)
            }
        }
    }

    @Test func badAdminInputIsA400NamingTheField() async throws {
        try await withDatabase { database in
            let (tenant, owner) = try await makeTenantWithKey(database, role: .owner)
            try await withGateway(tenant: tenant, config: Self.config) { gateway in
                let keys = gateway.url + "/admin/tenants/\(tenant)/api-keys"
                let cases: [(String, String, String)] = [
                    (gateway.url + "/admin/tenants", #"{}"#, "name"),
                    (gateway.url + "/admin/tenants", #"{"name":"  "}"#, "name"),
                    // PostgreSQL refuses NUL in text; it must be a 400 here, not a 500 there.
                    (gateway.url + "/admin/tenants", #"{"name":"a\u0000b"}"#, "name"),
                    (keys, #"{"name":"\u0007bell","role":"viewer"}"#, "name"),
                    (keys, #"{"name":"k","role":"emperor"}"#, "role"),
                    (keys, #"{"name":"k"}"#, "role"),
                    (keys, #"{"name":"k","role":"viewer","expires_at":"2001-01-01T00:00:00Z"}"#, "expires_at"),
                    (keys, #"{"name":"k","role":"viewer","expires_at":"tomorrow"}"#, "expires_at"),
                    // 30 February is no date, not 2 March.
                    (keys, #"{"name":"k","role":"viewer","expires_at":"2999-02-30T00:00:00Z"}"#, "expires_at"),
                    (keys, #"{"name":"k","role":"viewer","allowed_models":[]}"#, "allowed_models"),
                    (keys, #"{"name":"k","role":"viewer","limits":{"tokens_per_minute":-5}}"#, "limits.tokens_per_minute"),
                ]
                for (url, body, param) in cases {
                    let token = url.hasSuffix("/admin/tenants") ? Self.adminToken : owner
                    let answer = try await send(.POST, url, key: token, json: body)
                    #expect(answer.status == 400, "\(body): \(answer.text)")
                    #expect(answer.error?.param == param, "\(body): \(answer.text)")
                }
                let audit = try await send(.GET, gateway.url + "/admin/tenants/\(tenant)/audit?limit=0", key: owner)
                #expect(audit.status == 400 && audit.error?.param == "limit")
            }
        }
    }

    @Test func aTenantsKeyFindsNothingOfAnotherTenant() async throws {
        try await withDatabase { database in
            let (a, aOwner) = try await makeTenantWithKey(database, role: .owner)
            let b = try await makeTenant(database, name: "tenant-b-secret-name")
            let bKey = try await makeKey(database, tenant: b, role: .owner)
            _ = try await database.withTenant(b) { try await MemberRepository.set(subject: "b-member", roles: [.owner], email: nil, in: $0) }
            try await withGateway(tenant: a, config: Self.config) { gateway in
                let probes: [(HTTPMethod, String, String?)] = [
                    (.GET, "/admin/tenants/\(b)", nil),
                    (.GET, "/admin/tenants/\(b)/limits", nil),
                    (.PUT, "/admin/tenants/\(b)/limits", #"{"requests_per_minute":1}"#),
                    (.POST, "/admin/tenants/\(b)/api-keys", #"{"name":"intruder","role":"viewer"}"#),
                    (.GET, "/admin/tenants/\(b)/api-keys", nil),
                    (.GET, "/admin/tenants/\(b)/audit", nil),
                    (.DELETE, "/admin/api-keys/\(bKey.id)", nil),
                    (.PUT, "/admin/api-keys/\(bKey.id)/limits", #"{"requests_per_minute":1}"#),
                    (.GET, "/admin/tenants/\(b)/budget", nil),
                    (.PUT, "/admin/tenants/\(b)/budget", #"{"amount_micros":1}"#),
                    (.PUT, "/admin/api-keys/\(bKey.id)/budget", #"{"amount_micros":1}"#),
                    (.GET, "/admin/tenants/\(b)/members", nil),
                    (.GET, "/admin/tenants/\(b)/members/b-member", nil),
                    (.PUT, "/admin/tenants/\(b)/members/b-member", #"{"roles":["viewer"]}"#),
                    (.DELETE, "/admin/tenants/\(b)/members/b-member", nil),
                ]
                for (method, path, body) in probes {
                    let answer = try await send(method, gateway.url + path, key: aOwner, json: body)
                    #expect(answer.status == 404, "\(method) \(path): \(answer.status)")
                    #expect(!answer.text.contains("tenant-b-secret-name") && !answer.text.contains(bKey.secret.prefix(16)), "\(path)")
                }
                let header = try await send(.GET, gateway.url + "/admin/tenants/\(a)", key: aOwner, headers: [("X-Tenant-ID", b.uuidString)])
                #expect(header.status == 403)
                // B's key was neither revoked nor limited.
                #expect(try await send(.GET, gateway.url + "/v1/models", key: bKey.secret).status == 200)
                let bKeys = try await database.withTenant(b) { try await APIKeyRepository.list(in: $0) }
                #expect(bKeys.map(\.name) == ["test key"] && bKeys.allSatisfy { $0.revokedAt == nil })
                let (bMembers, bBudget) = try await database.withTenant(b) { tx in
                    (try await MemberRepository.list(in: tx), try await BudgetRepository.tenantBudget(in: tx))
                }
                #expect(bMembers.map(\.roles) == [[.owner]] && bBudget == nil)
            }
        }
    }

    /// Every route against every role: 403 exactly when the permission matrix in Contracts says
    /// the role lacks what the route needs (nil: the platform operator only).
    @Test func everyRouteAgainstEveryRoleFollowsThePermissionMatrix() async throws {
        try await withDatabase { database in
            let tenant = try await makeTenant(database)
            try await withGateway(tenant: tenant, config: Self.config) { gateway in
                let billing = billingServices(gateway, tenant: tenant)
                try await withServiceGroup(billing) {
                    for role in Role.allCases {
                        let caller = try await makeKey(database, tenant: tenant, role: role)
                        let target = try await makeKey(database, tenant: tenant, role: .viewer)
                        _ = try await database.withTenant(tenant) {
                            try await MemberRepository.set(subject: "seeded-\(role)", roles: [.viewer], email: nil, in: $0)
                        }
                        let routes: [(HTTPMethod, String, String?, Permission?)] = [
                            (.GET, "/v1/models", nil, .modelsList),
                            (.GET, "/v1/models/local-chat", nil, .modelsList),
                            (.POST, "/v1/chat/completions", chatJSON(maxTokens: 2), .inference),
                            (.POST, "/v1/embeddings", #"{"model":"local-embedding","input":"x"}"#, .inference),
                            (.GET, "/v1/usage", nil, .usageRead),
                            (.POST, "/admin/tenants", #"{"name":"other"}"#, nil),
                            (.GET, "/admin/tenants/\(tenant)", nil, .keysRead),
                            (.GET, "/admin/tenants/\(tenant)/limits", nil, .keysRead),
                            (.PUT, "/admin/tenants/\(tenant)/budget", #"{"amount_micros":100000000,"policy":"warn"}"#, .billingManage),
                            (.GET, "/admin/tenants/\(tenant)/budget", nil, .usageRead),
                            (.PUT, "/admin/api-keys/\(target.id)/budget", #"{"amount_micros":100000000}"#, .billingManage),
                            (.PUT, "/admin/tenants/\(tenant)/limits", "{}", nil),
                            (.POST, "/admin/tenants/\(tenant)/api-keys", #"{"name":"n","role":"viewer"}"#, .keysManage),
                            (.GET, "/admin/tenants/\(tenant)/api-keys", nil, .keysRead),
                            (.PUT, "/admin/api-keys/\(target.id)/limits", "{}", .keysManage),
                            (.DELETE, "/admin/api-keys/\(target.id)", nil, .keysManage),
                            (.GET, "/admin/tenants/\(tenant)/audit", nil, .auditRead),
                            (.PUT, "/admin/tenants/\(tenant)/members/m-\(role)", #"{"roles":["viewer"]}"#, .membersManage),
                            (.GET, "/admin/tenants/\(tenant)/members", nil, .membersManage),
                            (.GET, "/admin/tenants/\(tenant)/members/seeded-\(role)", nil, .membersManage),
                            (.DELETE, "/admin/tenants/\(tenant)/members/seeded-\(role)", nil, .membersManage),
                            (.GET, "/admin/dead-letters", nil, nil),
                            (.POST, "/admin/catalog/reload", nil, nil),
                        ]
                        for (method, path, body, permission) in routes {
                            let answer = try await send(method, gateway.url + path, key: caller.secret, json: body)
                            let allowed = permission.map(role.can) ?? false
                            if allowed {
                                #expect((200..<300).contains(answer.status), "\(role) \(method) \(path): \(answer.status) \(answer.text)")
                            } else {
                                #expect(answer.status == 403, "\(role) \(method) \(path): \(answer.status)")
                                #expect(answer.error?.type == .permission, "\(role) \(method) \(path)")
                            }
                        }
                    }
                }
            }
        }
    }

    @Test func theOperatorReloadsTheCatalogOnEveryRouterAndABadFileKeepsTheOneInForce() async throws {
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("catalog-\(UUID().uuidString).yaml")
        defer { try? FileManager.default.removeItem(at: file) }
        try writeLocalCatalog(["local-chat"], to: file)
        let store = try CatalogStore(path: file.path)
        try await withDatabase { database in
            let (tenant, owner) = try await makeTenantWithKey(database, role: .owner)
            try await withGateway(tenant: tenant, catalogStore: store, config: Self.config) { gateway in
                let reload = gateway.url + "/admin/catalog/reload"
                #expect(try await send(.POST, reload, key: owner).status == 403)

                try writeLocalCatalog(["local-chat", "local-extra"], to: file)
                let reloaded = try await send(.POST, reload, key: Self.adminToken)
                #expect(reloaded.status == 200, "\(reloaded.text)")
                #expect(try reloaded.decode(ListOf<CatalogReloadResult>.self).data == [
                    CatalogReloadResult(instance: "router-test", status: "reloaded", models: ["local-chat", "local-extra"]),
                ])
                let models = try await send(.GET, gateway.url + "/v1/models", key: owner).decode(ModelList.self)
                #expect(models.data.map(\.id) == ["local-chat", "local-extra"])

                try "models:\n  broken: [".write(to: file, atomically: true, encoding: .utf8)
                let refused = try await send(.POST, reload, key: Self.adminToken)
                #expect(refused.status == 422 && refused.error?.code == "catalog_invalid", "\(refused.text)")
                #expect(refused.text.contains("router-test") && refused.text.contains(file.lastPathComponent))
                let still = try await send(.GET, gateway.url + "/v1/models", key: owner).decode(ModelList.self)
                #expect(still.data.map(\.id) == ["local-chat", "local-extra"])
            }
        }
    }

    @Test func theOperatorListsShowsReplaysAndDeletesDeadLetters() async throws {
        try await withDatabase { database in
            let (tenant, owner) = try await makeTenantWithKey(database, role: .owner)
            try await withGateway(tenant: tenant, config: Self.config) { gateway in
                let name = uniqueName("admin-dlq")
                let consumer = DurableConsumer(
                    bus: gateway.bus, spec: ConsumerSpec(name: name, filterSubject: Subject.event(tenant: tenant, type: Pinged.eventType)),
                    logger: TestEnvironment.logger) { _ in .poison(reason: "refused for the test") }
                try await gateway.bus.publish(Envelope(tenantID: tenant, payload: Pinged(number: 7)))
                try await withRunning([consumer]) {
                    let url = gateway.url + "/admin/dead-letters?consumer=\(name)"
                    var letters: [DeadLetterInfo] = []
                    _ = try await eventually(timeout: .seconds(10)) {
                        letters = try await send(.GET, url, key: Self.adminToken).decode(ListOf<DeadLetterInfo>.self).data
                        return !letters.isEmpty
                    }
                    let letter = try #require(letters.first)
                    #expect(letter.consumer == name && letter.error == "refused for the test" && letter.payload.contains("\"number\":7"))
                    #expect(try await send(.GET, url, key: owner).status == 403)

                    let shown = try await send(.GET, gateway.url + "/admin/dead-letters/\(letter.sequence)", key: Self.adminToken)
                    #expect(try shown.decode(DeadLetterInfo.self) == letter)

                    // A replay leaves the DLQ and reaches the consumer again, which refuses it again:
                    // a new dead letter takes its place.
                    let replayed = try await send(.POST, gateway.url + "/admin/dead-letters/\(letter.sequence)/replay", key: Self.adminToken)
                    #expect(replayed.status == 200)
                    var again: [DeadLetterInfo] = []
                    _ = try await eventually(timeout: .seconds(10)) {
                        again = try await send(.GET, url, key: Self.adminToken).decode(ListOf<DeadLetterInfo>.self).data
                        return again.count == 1 && again[0].sequence != letter.sequence
                    }
                    let second = try #require(again.first)
                    #expect(second.sequence != letter.sequence && second.payload == letter.payload)

                    let deleted = try await send(.DELETE, gateway.url + "/admin/dead-letters/\(second.sequence)", key: Self.adminToken)
                    #expect(deleted.status == 204)
                    let gone = try await send(.GET, gateway.url + "/admin/dead-letters/\(second.sequence)", key: Self.adminToken)
                    #expect(gone.status == 404)
                    let deletedAgain = try await send(.DELETE, gateway.url + "/admin/dead-letters/\(second.sequence)", key: Self.adminToken)
                    #expect(deletedAgain.status == 404)
                }
            }
        }
    }
}
