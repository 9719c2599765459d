import Contracts
import Crypto
import Foundation

/// Signs and checks realtime tickets (`RealtimeTicketClaims`) with HMAC-SHA256 under
/// `SWITCHYARD_REALTIME_TICKET_SECRET`, which the gateways that issue them and the realtime
/// replicas that accept them share. A ticket is `<claims as base64url JSON>.<base64url MAC>`.
public struct RealtimeTicketSigner: Sendable {
    private let key: SymmetricKey

    /// The secret's bytes, at least 32.
    public init(secret: Secret<String>) {
        precondition(secret.value.utf8.count >= 32, "a realtime ticket secret must be at least 32 bytes")
        key = SymmetricKey(data: Data(secret.value.utf8))
    }

    public func sign(_ claims: RealtimeTicketClaims) throws -> String {
        let body = Self.base64URL(try JSONCoding.encode(claims))
        let mac = HMAC<SHA256>.authenticationCode(for: Data(body.utf8), using: key)
        return body + "." + Self.base64URL(Data(mac))
    }

    /// The claims of a ticket this secret signed, unexpired at `now`; nil for any other.
    public func claims(of ticket: String, now: Date = Date()) -> RealtimeTicketClaims? {
        let parts = ticket.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 2, let mac = Self.data(base64URL: parts[1]),
              // Compared in constant time.
              HMAC<SHA256>.isValidAuthenticationCode(mac, authenticating: Data(parts[0].utf8), using: key),
              let json = Self.data(base64URL: parts[0]),
              let claims = try? JSONCoding.decode(RealtimeTicketClaims.self, from: json),
              claims.expiresAt > now else { return nil }
        return claims
    }

    static func base64URL(_ data: Data) -> String {
        data.base64EncodedString().replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
    }

    static func data(base64URL text: Substring) -> Data? {
        var base64 = text.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        base64 += String(repeating: "=", count: (4 - base64.count % 4) % 4)
        return Data(base64Encoded: base64)
    }
}
