import _CryptoExtras
import Crypto
import Foundation
import Hummingbird
import JWTKit
import Synchronization

/// An identity provider on loopback: signs tokens with RS256, ES256, EdDSA keys (and HS256 with a
/// shared secret) and serves the public keys as a JWKS at `/jwks.json`. Keys can be added while
/// it runs, as a provider rotates them.
final class IdentityProvider: Sendable {
    static let hmacSecret = "a-shared-secret-for-hs256-tokens-0123456789"
    static let issuer = "https://id.example.test"
    static let audience = "switchyard"

    private let signers = JWTKeyCollection()
    private let published = Mutex<[JWK]>([])
    private let fetches = Atomic(0)

    /// How often the gateway fetched the JWKS.
    var fetchCount: Int { fetches.load(ordering: .relaxed) }

    init() async throws {
        await signers.add(hmac: HMACKey(from: Self.hmacSecret), digestAlgorithm: .sha256, kid: "hs")
        try await addKey("RS256", kid: "rsa-1")
        try await addKey("ES256", kid: "ec-1")
        try await addKey("EdDSA", kid: "ed-1")
    }

    /// Makes a key, signs with it from now on and publishes its public half.
    func addKey(_ algorithm: String, kid: String) async throws {
        let id = JWKIdentifier(string: kid)
        let jwk: JWK
        switch algorithm {
        case "RS256":
            let key = try Insecure.RSA.PrivateKey(backing: _RSA.Signing.PrivateKey(keySize: .bits2048))
            await signers.add(rsa: key, digestAlgorithm: .sha256, kid: id)
            let (modulus, exponent) = try key.publicKey.getKeyPrimitives()
            jwk = .rsa(.rs256, identifier: id, modulus: modulus.base64URL, exponent: exponent.base64URL)
        case "ES256":
            let key = ES256PrivateKey()
            await signers.add(ecdsa: key, kid: id)
            let (x, y) = key.parameters!
            jwk = .ecdsa(.es256, identifier: id, x: x, y: y, curve: .p256)
        case "EdDSA":
            let key = try EdDSA.PrivateKey(curve: .ed25519)
            await signers.add(eddsa: key, kid: id)
            jwk = .octetKeyPair(.eddsa, identifier: id, x: key.publicKey.rawRepresentation.base64URL, y: nil, curve: .ed25519)
        default:
            throw JWTError.generic(identifier: "test", reason: "no key type for \(algorithm)")
        }
        published.withLock { $0.append(jwk) }
    }

    /// A signed token with the given claims; `kid` picks the key (and so the algorithm).
    func token(kid: String, _ claims: TestClaims) async throws -> String {
        try await signers.sign(claims, kid: JWKIdentifier(string: kid))
    }

    func start() async throws -> (url: String, server: Task<Void, any Error>) {
        let router = Router()
        router.get("jwks.json") { _, _ -> Response in
            self.fetches.add(1, ordering: .relaxed)
            let body = try JSONEncoder().encode(JWKS(keys: self.published.withLock { $0 }))
            return Response(status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(bytes: body)))
        }
        let (port, server) = try await serveOnFreePort(router)
        return ("http://127.0.0.1:\(port)/jwks.json", server)
    }
}

/// The claims a test puts in a token; nil leaves a claim out.
struct TestClaims: JWTPayload {
    var sub: String? = "alice@example.test"
    var iss: String? = IdentityProvider.issuer
    var aud: [String]? = [IdentityProvider.audience]
    var exp: Double? = Date().addingTimeInterval(300).timeIntervalSince1970
    var nbf: Double?
    var tenant_id: String?
    var roles: [String]? = ["developer"]

    init(tenant: UUID?) { tenant_id = tenant?.uuidString.lowercased() }

    func verify(using algorithm: some JWTAlgorithm) async throws {}
}

extension Data {
    var base64URL: String {
        base64EncodedString().replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
    }
}
