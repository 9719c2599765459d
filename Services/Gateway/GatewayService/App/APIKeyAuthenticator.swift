import Contracts
import Foundation
import Logging
import Metrics
import Synchronization
import SwitchyardDatabase

/// Turns a presented API key into a `Caller`, with the keys seen recently kept in memory so a
/// request costs no database round trip.
///
/// A revoked key leaves every replica's cache when `apikey.revoked` arrives (`forget`); entries
/// also expire after `timeToLive`, so a replica that missed the event (disconnected from NATS at
/// that moment) still stops accepting the key by then.
public final class APIKeyAuthenticator: Sendable {
    struct Entry: Sendable {
        var secretHash: Data
        var caller: Caller
        var expiresAt: Date?
        var fetchedAt: ContinuousClock.Instant
    }

    let database: Database
    let timeToLive: Duration
    private let cache = Mutex<[String: Entry]>([:])
    /// Prefixes revoked while a lookup of them may be in flight: that lookup must not put the
    /// key back. Kept for one time to live.
    private let revoked = Mutex<[String: ContinuousClock.Instant]>([:])

    public init(database: Database, timeToLive: Duration = .seconds(60)) {
        self.database = database
        self.timeToLive = timeToLive
    }

    public func authenticate(_ presented: String, now: Date = Date()) async throws -> Caller {
        guard let secret = APIKeySecret(presented) else { throw Self.refuse(.malformed) }
        let clock = ContinuousClock.now
        if let entry = cache.withLock({ $0[secret.prefix] }), clock - entry.fetchedAt < timeToLive {
            guard secret.matches(hash: entry.secretHash) else { throw Self.refuse(.unknown) }
            if let expiresAt = entry.expiresAt, expiresAt <= now { throw Self.refuse(.expired) }
            return entry.caller
        }
        let lookupStarted = ContinuousClock.now
        switch try await APIKeyRepository.resolve(presented, using: database, now: now) {
        case .failure(let rejection):
            _ = cache.withLock { $0.removeValue(forKey: secret.prefix) }
            throw Self.refuse(rejection)
        case .success(let key):
            let (tenantLimits, keyLimits, tenantBudget, keyBudget) = try await database.withTenant(key.tenantID) { tx in
                (try await QuotaLimitsRepository.tenantLimits(in: tx), try await QuotaLimitsRepository.keyLimits(key.id, in: tx),
                 try await BudgetRepository.tenantBudget(in: tx), try await BudgetRepository.keyBudget(key.id, in: tx))
            }
            let caller = Caller(
                credential: .apiKey(id: key.id), tenantID: key.tenantID, roles: [key.role], allowedModels: key.allowedModels,
                tenantLimits: tenantLimits, keyLimits: keyLimits, tenantBudget: tenantBudget, keyBudget: keyBudget,
                credentialExpiresAt: key.expiresAt)
            let entry = Entry(secretHash: secret.hash, caller: caller, expiresAt: key.expiresAt, fetchedAt: lookupStarted)
            cache.withLock { cache in
                let revokedAt = revoked.withLock { $0[secret.prefix] }
                if revokedAt.map({ $0 >= lookupStarted }) != true { cache[secret.prefix] = entry }
            }
            return caller
        }
    }

    /// Drops a key at once: it is looked up again (and refused) on its next use.
    public func forget(prefix: String) {
        let now = ContinuousClock.now
        revoked.withLock { revoked in
            revoked[prefix] = now
            revoked = revoked.filter { now - $0.value < timeToLive }
        }
        _ = cache.withLock { $0.removeValue(forKey: prefix) }
    }

    /// Drops every cached key of a tenant, e.g. when its limits change or it is suspended.
    public func forget(tenant: UUID) {
        cache.withLock { cache in cache = cache.filter { $0.value.caller.tenantID != tenant } }
    }

    static func refuse(_ rejection: APIKeyRejection) -> APIError {
        Counter(label: "switchyard_gateway_authentication_failures_total", dimensions: [("reason", "\(rejection)")]).increment()
        return APIError(.authentication, rejection.message, code: rejection.code)
    }
}
