import Foundation
import Synchronization

/// Group commit for a durable consumer's handlers: items they hand in concurrently are written a
/// tenant's batch per call of `write` (one transaction, as the caller writes it). A writer waits
/// `gathering` for more items before a batch that would not be full, and while `writers` batches
/// are under way the rest wait for the next. A transaction per event costs the database and the
/// consumer more CPU than anything else they do; an event recorded some milliseconds later costs
/// nobody anything (it is acknowledged only once written).
///
/// A batch holds one tenant's items. When a batch of several fails, each of its items is written
/// again alone, so an item that cannot be written fails by itself and not its batch-mates.
public final class TenantBatches<Item: Sendable, Answer: Sendable>: Sendable {
    /// Writes one tenant's items; answers one `Answer` per item, in order.
    public typealias Write = @Sendable (UUID, [Item]) async throws -> [Answer]

    private struct Waiting {
        var tenant: UUID
        var item: Item
        var answer: CheckedContinuation<Result<Answer, any Error>, Never>
    }

    private struct State {
        var waiting: [Waiting] = []
        var writing = 0
    }

    /// Batches under way at most.
    public let writers: Int
    /// Items in one batch at most.
    public let batchSize: Int
    /// How long a writer waits for more items before a batch that would not be full.
    public let gathering: Duration
    private let write: Write
    private let state = Mutex(State())

    public init(writers: Int = 4, batchSize: Int = 256, gathering: Duration = .milliseconds(20), write: @escaping Write) {
        self.writers = max(1, writers)
        self.batchSize = max(1, batchSize)
        self.gathering = gathering
        self.write = write
    }

    /// Writes `item` in a batch of `tenant`'s and returns its answer, or the error of writing it.
    public func submit(_ item: Item, tenant: UUID) async throws -> Answer {
        let result = await withCheckedContinuation { answer in
            let startsWriter = state.withLock { state in
                state.waiting.append(Waiting(tenant: tenant, item: item, answer: answer))
                guard state.writing < writers else { return false }
                state.writing += 1
                return true
            }
            if startsWriter { Task { await writeWhileWaiting() } }
        }
        return try result.get()
    }

    /// Writes what waits, a tenant's batch at a time, until nothing does.
    private func writeWhileWaiting() async {
        while true {
            if gathering > .zero && state.withLock({ $0.waiting.count }) < batchSize {
                await pause(for: gathering)
            }
            guard let batch = nextBatch() else { return }
            do {
                let answers = try await writeChecked(batch)
                for (waiting, answer) in zip(batch, answers) { waiting.answer.resume(returning: .success(answer)) }
                continue
            } catch where batch.count == 1 {
                batch[0].answer.resume(returning: .failure(error))
                continue
            } catch {}
            // Each alone, so the one that fails says so and the rest are written.
            for waiting in batch {
                do {
                    let answer = try await writeChecked([waiting])[0]
                    waiting.answer.resume(returning: .success(answer))
                } catch {
                    waiting.answer.resume(returning: .failure(error))
                }
            }
        }
    }

    private func writeChecked(_ batch: [Waiting]) async throws -> [Answer] {
        let answers = try await write(batch[0].tenant, batch.map(\.item))
        precondition(answers.count == batch.count, "a batch write must answer every item")
        return answers
    }

    /// The oldest waiting item's tenant's waiting items (up to `batchSize`), or nil when nothing
    /// waits: the writer then stops.
    private func nextBatch() -> [Waiting]? {
        state.withLock { state in
            guard let tenant = state.waiting.first?.tenant else {
                state.writing -= 1
                return nil
            }
            var batch: [Waiting] = []
            var rest: [Waiting] = []
            for waiting in state.waiting {
                if waiting.tenant == tenant && batch.count < batchSize { batch.append(waiting) } else { rest.append(waiting) }
            }
            state.waiting = rest
            return batch
        }
    }
}
