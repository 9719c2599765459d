import AsyncHTTPClient
import Contracts
import Foundation
import JWTKit
import Logging
import Metrics
import NIOCore
import Synchronization
import SwitchyardDatabase
import SwitchyardRuntime

/// How bearer tokens (JWTs) from an identity provider are checked.
public struct JWTSettings: Sendable {
    /// `SWITCHYARD_JWT_JWKS_URL`: the provider's keys (RS256, ES256, EdDSA), fetched when first
    /// needed, again every `jwksRefresh`, and at once when a token names a key not yet known.
    public var jwksURL: String?
    /// `SWITCHYARD_JWT_HS256_SECRET`: a shared secret of at least 32 bytes for HS256 tokens.
    public var hmacSecret: Secret<String>?
    /// `SWITCHYARD_JWT_ISSUER`, `SWITCHYARD_JWT_AUDIENCE`: when set, `iss` must equal it and `aud`
    /// must contain it.
    public var issuer: String?
    public var audience: String?
    /// `SWITCHYARD_JWT_TENANT_CLAIM` (default `tenant_id`): the claim holding the tenant's id.
    public var tenantClaim: String = "tenant_id"
    /// `SWITCHYARD_JWT_ROLES_CLAIM` (default `roles`): a role name or a list of them.
    public var rolesClaim: String = "roles"
    /// `SWITCHYARD_JWT_ROLES_FROM`: where a token's roles come from.
    public var rolesFrom: RoleSource = .membersOrClaim
    /// `SWITCHYARD_JWT_JWKS_REFRESH` (default `10m`).
    public var jwksRefresh: Duration = .seconds(600)
    /// Clock difference tolerated on `exp` and `nbf`.
    public var leeway: Duration = .seconds(30)

    public enum RoleSource: String, Sendable, CaseIterable {
        /// A member's roles in the tenant (the admin API's members); for someone who is not a
        /// member, the token's roles claim. The default.
        case membersOrClaim = "members_or_claim"
        /// Members only: the claim is ignored and a token of someone who is not a member of its
        /// tenant is refused.
        case members
    }

    public init(jwksURL: String? = nil, hmacSecret: Secret<String>? = nil, issuer: String? = nil, audience: String? = nil) {
        self.jwksURL = jwksURL
        self.hmacSecret = hmacSecret
        self.issuer = issuer
        self.audience = audience
    }

    /// Nil when neither a JWKS URL nor an HS256 secret is configured: tokens are then refused.
    public init?(settings: Settings) throws(ConfigError) {
        let jwksURL = settings.string("SWITCHYARD_JWT_JWKS_URL")
        let secret = settings.string("SWITCHYARD_JWT_HS256_SECRET")
        guard jwksURL != nil || secret != nil else { return nil }
        if let jwksURL, URL(string: jwksURL)?.scheme.map({ ["http", "https"].contains($0) }) != true {
            throw ConfigError(variable: "SWITCHYARD_JWT_JWKS_URL", reason: "must be an http or https URL")
        }
        if let secret, secret.utf8.count < 32 {
            throw ConfigError(variable: "SWITCHYARD_JWT_HS256_SECRET", reason: "must be at least 32 bytes")
        }
        self.init(jwksURL: jwksURL, hmacSecret: secret.map(Secret.init),
                  issuer: settings.string("SWITCHYARD_JWT_ISSUER"), audience: settings.string("SWITCHYARD_JWT_AUDIENCE"))
        tenantClaim = settings.string("SWITCHYARD_JWT_TENANT_CLAIM") ?? tenantClaim
        rolesClaim = settings.string("SWITCHYARD_JWT_ROLES_CLAIM") ?? rolesClaim
        rolesFrom = try settings.choice("SWITCHYARD_JWT_ROLES_FROM", default: rolesFrom)
        jwksRefresh = try settings.duration("SWITCHYARD_JWT_JWKS_REFRESH", default: jwksRefresh)
    }
}

/// Turns a bearer token into a `Caller`: signature by a known key, `exp`, `nbf`, `iss`, `aud`,
/// then the tenant from the configured claim and the roles of the subject (`sub`): a member's
/// roles, else the roles claim (`rolesFrom`). Every refusal is a 401 naming why.
final class TokenAuthenticator: Sendable {
    let settings: JWTSettings
    let keys: SigningKeys
    let tenants: TenantDirectory

    /// The algorithms accepted; anything else (`none` above all) is refused before any key is tried.
    static let asymmetric: Set<String> = ["RS256", "ES256", "EdDSA"]

    init(settings: JWTSettings, database: Database, httpClient: HTTPClient, logger: Logger) {
        self.settings = settings
        self.keys = SigningKeys(settings: settings, httpClient: httpClient, logger: logger)
        self.tenants = TenantDirectory(database: database)
    }

    func authenticate(_ token: String, now: Date = Date()) async throws -> Caller {
        let header = try Self.header(of: token)
        let accepted = settings.hmacSecret == nil ? Self.asymmetric : Self.asymmetric.union(["HS256"])
        guard accepted.contains(header.alg) else { throw Self.refuse("tokens signed with \(header.alg) are not accepted", reason: "algorithm") }
        let claims: TokenClaims
        do {
            claims = try await keys.verify(token, kid: header.kid, alg: header.alg)
        } catch let error as APIError {
            throw error
        } catch {
            throw Self.refuse("the token's signature does not verify", reason: "signature")
        }
        try check(claims, now: now)

        guard case .string(let tenantText)? = claims.values[settings.tenantClaim], let tenantID = UUID(uuidString: tenantText) else {
            throw Self.refuse("the token has no tenant id in `\(settings.tenantClaim)`", reason: "tenant")
        }
        guard let tenant = try await tenants.tenant(tenantID), tenant.isActive else {
            throw Self.refuse("the token's tenant does not exist or is suspended", reason: "tenant")
        }
        guard case .string(let subject)? = claims.values["sub"], !subject.isEmpty else {
            throw Self.refuse("the token names nobody (`sub`)", reason: "sub")
        }
        let roles: Set<Role>
        if let memberRoles = try await tenants.roles(of: subject, in: tenantID) {
            roles = memberRoles
        } else if settings.rolesFrom == .members {
            throw Self.refuse("the token's subject is not a member of its tenant", reason: "not_member")
        } else {
            roles = self.roles(in: claims)
        }
        return Caller(
            credential: .token(subject: subject), tenantID: tenantID, roles: roles, allowedModels: nil,
            tenantLimits: tenant.limits, keyLimits: .none, tenantBudget: tenant.budget,
            credentialExpiresAt: claims.seconds("exp").map(Date.init(timeIntervalSince1970:)))
    }

    private func check(_ claims: TokenClaims, now: Date) throws(APIError) {
        let leeway = Double(settings.leeway.components.seconds)
        guard let expiry = claims.seconds("exp") else { throw Self.refuse("the token has no expiry (`exp`)", reason: "exp") }
        guard expiry + leeway > now.timeIntervalSince1970 else { throw Self.refuse("the token has expired", reason: "exp") }
        if let notBefore = claims.seconds("nbf"), notBefore - leeway > now.timeIntervalSince1970 {
            throw Self.refuse("the token is not valid yet (`nbf`)", reason: "nbf")
        }
        if let issuer = settings.issuer, claims.values["iss"] != .string(issuer) {
            throw Self.refuse("the token's issuer is not the one this gateway trusts", reason: "iss")
        }
        if let audience = settings.audience {
            let audiences: [JSONValue] = switch claims.values["aud"] {
            case .array(let values): values
            case let value?: [value]
            case nil: []
            }
            guard audiences.contains(.string(audience)) else { throw Self.refuse("the token is not meant for this gateway (`aud`)", reason: "aud") }
        }
    }

    /// The Switchyard roles among the claim's values; names it does not know are ignored.
    private func roles(in claims: TokenClaims) -> Set<Role> {
        let names: [String] = switch claims.values[settings.rolesClaim] {
        case .string(let name): [name]
        case .array(let values): values.compactMap { if case .string(let name) = $0 { name } else { nil } }
        default: []
        }
        return Set(names.compactMap { Role(rawValue: $0.lowercased()) })
    }

    struct Header: Decodable {
        var alg: String
        var kid: String?
    }

    /// The header, read before any key is chosen.
    static func header(of token: String) throws(APIError) -> Header {
        let parts = token.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 3, let data = Data(base64URL: parts[0]),
              let header = try? JSONDecoder().decode(Header.self, from: data) else {
            throw refuse("the token is not a JWT", reason: "malformed")
        }
        return header
    }

    static func refuse(_ why: String, reason: String) -> APIError {
        Counter(label: "switchyard_gateway_authentication_failures_total", dimensions: [("reason", "jwt_\(reason)")]).increment()
        return APIError(.authentication, "Invalid bearer token: \(why).", code: "invalid_token")
    }
}

/// The claims of a verified token, all of them: which ones matter is configuration.
struct TokenClaims: JWTPayload {
    var values: [String: JSONValue]

    init(from decoder: any Decoder) throws {
        values = try decoder.singleValueContainer().decode([String: JSONValue].self)
    }

    func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(values)
    }

    /// Time claims are checked by `TokenAuthenticator`, with its leeway and its messages.
    func verify(using algorithm: some JWTAlgorithm) async throws {}

    func seconds(_ claim: String) -> Double? {
        switch values[claim] {
        case .integer(let value): Double(value)
        case .number(let value): value
        default: nil
        }
    }
}

/// The keys tokens are verified with: the HS256 secret, and the JWKS fetched from the provider.
/// One fetch at a time; a failed fetch keeps the keys there were.
actor SigningKeys {
    let settings: JWTSettings
    let httpClient: HTTPClient
    let logger: Logger
    private var collection: JWTKeyCollection?
    private var knownKIDs: Set<String> = []
    private var fetchedAt: ContinuousClock.Instant?
    private var lastUnknownKIDFetch: ContinuousClock.Instant?
    /// At most one fetch for an unknown key id this often: tokens with made-up ids cannot make the
    /// gateway hammer the provider.
    static let unknownKIDRefetchInterval = Duration.seconds(10)

    init(settings: JWTSettings, httpClient: HTTPClient, logger: Logger) {
        self.settings = settings
        self.httpClient = httpClient
        self.logger = logger
    }

    func verify(_ token: String, kid: String?, alg: String) async throws -> TokenClaims {
        let now = ContinuousClock.now
        if settings.jwksURL != nil {
            let stale = fetchedAt.map { now - $0 > settings.jwksRefresh } ?? true
            let unknown = alg != "HS256" && kid.map { !knownKIDs.contains($0) } ?? false
            let mayRefetch = lastUnknownKIDFetch.map { now - $0 > Self.unknownKIDRefetchInterval } ?? true
            if stale {
                await fetch()
            } else if unknown && mayRefetch {
                lastUnknownKIDFetch = now
                await fetch()
            }
        }
        guard let collection = try await keyCollection() else {
            throw TokenAuthenticator.refuse("no signing keys are available", reason: "no_keys")
        }
        if alg != "HS256" {
            guard let kid, knownKIDs.contains(kid) else { throw TokenAuthenticator.refuse("the token names no key this gateway knows (`kid`)", reason: "kid") }
        }
        return try await collection.verify(token, as: TokenClaims.self)
    }

    private var jwks: String?

    private func keyCollection() async throws -> JWTKeyCollection? {
        if let collection { return collection }
        guard jwks != nil || settings.hmacSecret != nil else { return nil }
        let keys = JWTKeyCollection()
        if let secret = settings.hmacSecret {
            // Without a key id: the one key for HS256 tokens, which carry none.
            await keys.add(hmac: HMACKey(from: secret.value), digestAlgorithm: .sha256)
        }
        if let jwks { try await keys.add(jwksJSON: jwks) }
        collection = keys
        return keys
    }

    private func fetch() async {
        guard let url = settings.jwksURL else { return }
        do {
            var request = HTTPClientRequest(url: url)
            request.headers.add(name: "Accept", value: "application/json")
            let response = try await httpClient.execute(request, timeout: .seconds(5))
            guard response.status == .ok else { throw JWKSFetchFailed(status: Int(response.status.code)) }
            let body = String(buffer: try await response.body.collect(upTo: 1 << 20))
            let document = try JSONDecoder().decode(JWKS.self, from: Data(body.utf8))
            jwks = body
            knownKIDs = Set(document.keys.compactMap { $0.keyIdentifier?.string })
            collection = nil  // rebuilt with the new keys on next use
            fetchedAt = .now
            logger.info("JWKS fetched", metadata: ["url": "\(url)", "keys": "\(knownKIDs.sorted())"])
        } catch {
            Counter(label: "switchyard_gateway_jwks_fetch_failures_total").increment()
            logger.error("JWKS fetch failed; the keys fetched before stay in use", metadata: ["url": "\(url)", "error": "\(error)"])
        }
    }
}

struct JWKSFetchFailed: Error, CustomStringConvertible {
    var status: Int
    var description: String { "the JWKS URL answered \(status)" }
}

/// Tenants as the token authenticator needs them: whether they are active, their limits and
/// their members' roles, read through the tenant's own row-level security and kept for a minute
/// (or until an event says they changed).
final class TenantDirectory: Sendable {
    struct Entry: Sendable {
        var isActive: Bool
        var limits: QuotaLimits
        var budget: Budget?
    }

    let database: Database
    private let cache = Mutex<[UUID: (Entry, ContinuousClock.Instant)]>([:])
    static let timeToLive = Duration.seconds(60)

    init(database: Database) { self.database = database }

    func tenant(_ id: UUID) async throws -> Entry? {
        if let (entry, fetchedAt) = cache.withLock({ $0[id] }), ContinuousClock.now - fetchedAt < Self.timeToLive { return entry }
        let entry = try await database.withTenant(id) { tx -> Entry? in
            guard let tenant = try await TenantRepository.find(in: tx) else { return nil }
            return Entry(isActive: tenant.status == .active, limits: try await QuotaLimitsRepository.tenantLimits(in: tx),
                         budget: try await BudgetRepository.tenantBudget(in: tx))
        }
        if let entry { cache.withLock { $0[id] = (entry, .now) } }
        return entry
    }

    func forget(_ id: UUID) {
        _ = cache.withLock { $0.removeValue(forKey: id) }
    }

    struct MemberKey: Hashable {
        var tenant: UUID
        var subject: String
    }

    /// Who is not a member is remembered too, so a stream of tokens from non-members does not
    /// become a stream of queries.
    private let members = Mutex<[MemberKey: (Set<Role>?, ContinuousClock.Instant)]>([:])

    /// The member's roles in the tenant, or nil when `subject` is not a member of it.
    func roles(of subject: String, in tenant: UUID) async throws -> Set<Role>? {
        let key = MemberKey(tenant: tenant, subject: subject)
        if let (roles, fetchedAt) = members.withLock({ $0[key] }), ContinuousClock.now - fetchedAt < Self.timeToLive { return roles }
        let roles = try await database.withTenant(tenant) { try await MemberRepository.find(subject: subject, in: $0) }.map { Set($0.roles) }
        members.withLock { $0[key] = (roles, .now) }
        return roles
    }

    func forget(member subject: String, of tenant: UUID) {
        _ = members.withLock { $0.removeValue(forKey: MemberKey(tenant: tenant, subject: subject)) }
    }
}

extension Data {
    /// Unpadded base64url, as JWTs write their parts.
    init?(base64URL text: some StringProtocol) {
        var base64 = text.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        base64 += String(repeating: "=", count: (4 - base64.count % 4) % 4)
        self.init(base64Encoded: base64)
    }
}
