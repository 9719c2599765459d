import Contracts
import Crypto
import Foundation
import Hummingbird
import SwitchyardDatabase
import SwitchyardRuntime

/// Establishes the caller from `Authorization: Bearer …` before any handler runs. Every failure
/// is a 401 with OpenAI's error body; an `X-Tenant-ID` naming another tenant is a 403.
struct AuthenticationMiddleware: RouterMiddleware {
    typealias Context = GatewayContext

    let keys: APIKeyAuthenticator
    /// Nil when no identity provider is configured: bearer tokens are then refused.
    let tokens: TokenAuthenticator?
    /// The platform operator's token, accepted on admin routes only.
    let adminToken: Secret<String>?
    let acceptsAdminToken: Bool

    func handle(_ request: Request, context: GatewayContext, next: (Request, GatewayContext) async throws -> Response) async throws -> Response {
        var context = context
        let caller = try await authenticate(request)
        if let claimed = request.headers[.tenantID], caller.credential != .platformOperator {
            guard let claimedID = UUID(uuidString: claimed.trimmingCharacters(in: .whitespaces)) else {
                throw APIError(.invalidRequest, "X-Tenant-ID must be a tenant id (a UUID).", code: "invalid_header", param: "X-Tenant-ID")
            }
            guard claimedID == caller.tenantID else {
                throw APIError(.permission, "X-Tenant-ID names another tenant than the credential's.", code: "tenant_mismatch", param: "X-Tenant-ID")
            }
        }
        context.caller = caller
        if let tenant = caller.tenantID { context.logger[metadataKey: "tenant_id"] = "\(Subject.token(tenant))" }
        return try await next(request, context)
    }

    private func authenticate(_ request: Request) async throws -> Caller {
        guard let header = request.headers[.authorization] else { throw APIError.missingCredential }
        let parts = header.split(separator: " ", maxSplits: 1)
        guard parts.count == 2, parts[0].lowercased() == "bearer" else {
            throw APIError.invalidCredential("The Authorization header must be `Bearer <key>`.")
        }
        let token = parts[1].trimmingCharacters(in: .whitespaces)
        if acceptsAdminToken, let adminToken, Self.constantTimeEquals(token, adminToken.value) {
            return Caller(credential: .platformOperator, tenantID: nil, roles: [.owner], allowedModels: nil, tenantLimits: .none, keyLimits: .none)
        }
        if token.hasPrefix(APIKeySecret.scheme) {
            return try await keys.authenticate(token)
        }
        if let tokens, token.utf8.filter({ $0 == UInt8(ascii: ".") }).count == 2 {
            return try await tokens.authenticate(token)
        }
        throw APIKeyAuthenticator.refuse(.malformed)
    }

    /// Compares hashes of both, so neither the length nor the first difference shows in the time.
    static func constantTimeEquals(_ presented: String, _ expected: String) -> Bool {
        let a = SHA256.hash(data: Data(presented.utf8)), b = SHA256.hash(data: Data(expected.utf8))
        return zip(a, b).reduce(UInt8(0)) { $0 | ($1.0 ^ $1.1) } == 0
    }
}
