import Contracts
import Foundation
import Synchronization

/// Records the usage events that the consumer's concurrent handlers hand in, a tenant's batch per
/// transaction (group commit): a writer waits `gathering` for more events to come before it
/// starts a transaction, and while `writers` transactions are under way, events wait and are
/// recorded together by the next. A transaction per event cost billing and PostgreSQL more CPU
/// than the whole gateway path; a ledger entry a few milliseconds later costs nobody anything
/// (the event is acknowledged only once recorded).
///
/// A batch holds one tenant's events only, so whatever fails a transaction (that tenant does not
/// exist, the database is down) is true of every event in it: each handler gets the error its
/// event would have had alone.
final class LedgerBatches: Sendable {
    private struct Waiting {
        var event: Envelope<UsageRecorded>
        var answer: CheckedContinuation<Result<Bool, any Error>, Never>
    }

    private struct State {
        var waiting: [Waiting] = []
        var writing = 0
    }

    let ledger: UsageLedger
    /// Transactions under way at most.
    let writers: Int
    /// Events in one transaction at most.
    let batchSize: Int
    /// How long a writer waits for more events before a transaction that would not be full.
    let gathering: Duration
    private let state = Mutex(State())

    init(ledger: UsageLedger, writers: Int = 4, batchSize: Int = 256, gathering: Duration = .milliseconds(20)) {
        self.ledger = ledger
        self.writers = writers
        self.batchSize = batchSize
        self.gathering = gathering
    }

    /// Records the event exactly once; false when it had been recorded before.
    func record(_ event: Envelope<UsageRecorded>) async throws -> Bool {
        try UsageLedger.check(event)
        let result = await withCheckedContinuation { answer in
            let startsWriter = state.withLock { state in
                state.waiting.append(Waiting(event: event, answer: answer))
                guard state.writing < writers else { return false }
                state.writing += 1
                return true
            }
            if startsWriter { Task { await write() } }
        }
        return try result.get()
    }

    /// Writes what waits, a tenant's batch at a time, until nothing does.
    private func write() async {
        while true {
            if gathering > .zero && state.withLock({ $0.waiting.count }) < batchSize {
                try? await Task.sleep(for: gathering)
            }
            guard let batch = nextBatch() else { return }
            do {
                let recorded = try await ledger.record(tenant: batch[0].event.tenantID, batch.map(\.event))
                // The same event twice in one batch (a redelivery) is recorded for the first only.
                var unanswered = recorded
                for waiting in batch { waiting.answer.resume(returning: .success(unanswered.remove(waiting.event.id) != nil)) }
            } catch {
                for waiting in batch { waiting.answer.resume(returning: .failure(error)) }
            }
        }
    }

    /// The oldest waiting event's tenant's waiting events (up to `batchSize`), or nil when
    /// nothing waits: the writer then stops.
    private func nextBatch() -> [Waiting]? {
        state.withLock { state in
            guard let tenant = state.waiting.first?.event.tenantID else {
                state.writing -= 1
                return nil
            }
            var batch: [Waiting] = []
            var rest: [Waiting] = []
            for waiting in state.waiting {
                if waiting.event.tenantID == tenant && batch.count < batchSize { batch.append(waiting) } else { rest.append(waiting) }
            }
            state.waiting = rest
            return batch
        }
    }
}
