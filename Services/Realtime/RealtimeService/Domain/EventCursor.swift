import Crypto
import Foundation

/// The `id` of an event on a socket: its position in the `EVENTS` stream and its tenant, sealed
/// (ChaCha20-Poly1305) under a secret every replica shares. The stream's sequence numbers count
/// every tenant's events, so showing them would let a tenant read the platform's traffic off the
/// gaps; sealed, an id tells a client nothing and cannot be forged or used by another tenant,
/// yet any replica resumes from it. Ids are sealed under the current secret and opened under
/// it or the previous one, so the secret can be changed without cutting off clients' resumes.
struct EventCursors: Sendable {
    private let key: SymmetricKey
    private let previousKey: SymmetricKey?

    init(secret: String, previous: String? = nil) {
        key = Self.key(secret)
        previousKey = previous.map(Self.key)
    }

    private static func key(_ secret: String) -> SymmetricKey {
        SymmetricKey(data: SHA256.hash(data: Data(secret.utf8)))
    }

    /// URL-safe base64 without padding of nonce, sealed tenant and sequence, and tag: 70
    /// characters.
    func id(tenant: UUID, sequence: UInt64) -> String {
        var plain = withUnsafeBytes(of: tenant.uuid) { Data($0) }
        withUnsafeBytes(of: sequence.bigEndian) { plain.append(contentsOf: $0) }
        // Sealing with a fresh random nonce cannot fail.
        let sealed = try! ChaChaPoly.seal(plain, using: key).combined
        return String(sealed.base64EncodedString().replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
            .prefix { $0 != "=" })
    }

    /// The stream sequence of an id this service made for `tenant`; nil for anything else.
    func sequence(of id: String, tenant: UUID) -> UInt64? {
        let unpadded = id.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        let base64 = unpadded + String(repeating: "=", count: (4 - unpadded.count % 4) % 4)
        guard let data = Data(base64Encoded: base64), let box = try? ChaChaPoly.SealedBox(combined: data),
              let plain = (try? ChaChaPoly.open(box, using: key)) ?? previousKey.flatMap({ try? ChaChaPoly.open(box, using: $0) }),
              plain.count == 24 else { return nil }
        let owner = plain.prefix(16).withUnsafeBytes { UUID(uuid: $0.loadUnaligned(as: uuid_t.self)) }
        guard owner == tenant else { return nil }
        return plain.suffix(8).reduce(0) { $0 << 8 | UInt64($1) }
    }
}
