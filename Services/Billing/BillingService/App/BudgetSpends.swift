import Contracts
import Foundation
import Synchronization
import SwitchyardBus
import SwitchyardDatabase

/// Answers what a gateway corrects a budget counter by (`LedgerSpend`): the ledger's spend of the
/// calls that started before a time up to which the ledger is known to be complete.
///
/// The ledger's consumer acknowledges an event once it is recorded (or dead-lettered: a poison
/// event is never charged). Every message of the stream before the first one it has not
/// acknowledged is therefore done with, so every call whose usage event was published before
/// that message was stored is in the ledger. A router publishes a call's event as the call ends,
/// and the event carries when the call started; the answer's time is a minute before the first
/// unfinished message (or now), so a call that started before it and ended since is, at worst,
/// counted both here and in the gateway's own record of what it settled since (too much, never
/// too little).
final class BudgetSpends: Sendable {
    let bus: Bus
    let database: Database
    /// The durable consumer that records the ledger, on `EVENTS`.
    let consumer: String
    /// The last `completeBefore` and when it was read: gateways check many counters at once, and
    /// each answer would otherwise ask JetStream again.
    private let recent = Mutex<(answer: Date, readAt: Date)?>(nil)

    /// How long a router may take from a call's end to its event being stored.
    static let publishMargin: TimeInterval = 60
    /// How long a `completeBefore` is reused: it only moves by whole minutes.
    static let reuseFor: TimeInterval = 5

    init(bus: Bus, database: Database, consumer: String) {
        self.bus = bus
        self.database = database
        self.consumer = consumer
    }

    func spend(_ call: BillingUsageCall, now: Date = Date()) async throws -> LedgerSpend {
        let completeBefore = min(call.to, try await completeBefore(now: now))
        guard completeBefore > call.from else { return LedgerSpend(spentMicros: 0, completeBefore: completeBefore) }
        let spent = try await database.withTenant(call.tenantID) { tx in
            try await LedgerRepository.spend(from: call.from, to: completeBefore, apiKeyID: call.apiKeyID, in: tx)
        }
        return LedgerSpend(spentMicros: spent, completeBefore: completeBefore)
    }

    /// A whole minute at least `publishMargin` before the first event the ledger has not finished
    /// with was stored, or before now when it has finished with all of them.
    func completeBefore(now: Date = Date()) async throws -> Date {
        if let recent = recent.withLock({ $0 }), recent.readAt <= now, now.timeIntervalSince(recent.readAt) < Self.reuseFor {
            return recent.answer
        }
        let answer = try await readCompleteBefore(now: now)
        recent.withLock { $0 = (answer, now) }
        return answer
    }

    private func readCompleteBefore(now: Date) async throws -> Date {
        let stream = StreamSpec.events.name
        let backlog = try await bus.consumerBacklog(stream: stream, consumer: consumer)
        var finishedUntil = now
        if !backlog.isCaughtUp {
            guard let next = try await bus.storedMessage(stream: stream, sequence: backlog.ackFloor + 1) else {
                // Removed from the stream (by its limits) while unfinished: nothing can be said.
                throw ServiceFault(code: "ledger_state_unknown", message: "the ledger's progress through the events cannot be read")
            }
            finishedUntil = min(now, next.storedAt)
        }
        let seconds = (finishedUntil.timeIntervalSince1970 - Self.publishMargin) / 60
        return Date(timeIntervalSince1970: seconds.rounded(.down) * 60)
    }
}
