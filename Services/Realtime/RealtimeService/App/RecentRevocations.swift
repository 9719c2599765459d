import Foundation
import Synchronization

/// Keys revoked and tenants suspended lately, as this replica heard of them: a ticket issued
/// before the change still carries a valid signature for up to its lifetime, and must not open
/// a socket the key or tenant could no longer open. Kept as long as a ticket lives.
final class RecentRevocations: Sendable {
    private let revoked = Mutex<[UUID: Date]>([:])
    /// A ticket's lifetime, with room for clocks that differ.
    let remembered: TimeInterval

    init(remembered: TimeInterval = 120) {
        self.remembered = remembered
    }

    /// A key's or a tenant's id.
    func add(_ id: UUID, now: Date = Date()) {
        revoked.withLock { revoked in
            revoked = revoked.filter { now.timeIntervalSince($0.value) < remembered }
            revoked[id] = now
        }
    }

    func contains(_ id: UUID?, now: Date = Date()) -> Bool {
        guard let id else { return false }
        return revoked.withLock { $0[id].map { now.timeIntervalSince($0) < remembered } ?? false }
    }
}
