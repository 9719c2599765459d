import Foundation
import Synchronization
import SwitchyardBus
import Testing

/// Group commit as the consumers use it, with a write that records what it was given.
@Suite struct TenantBatchesTests {
    struct Refused: Error {}

    @Test func itemsHandedInTogetherAreWrittenTogetherPerTenantAndABadOneFailsAlone() async throws {
        let batches = Mutex<[[Int]]>([])
        let writer = TenantBatches<Int, Int>(writers: 1, batchSize: 100, gathering: .milliseconds(50)) { _, items in
            batches.withLock { $0.append(items) }
            if items.contains(13) { throw Refused() }
            return items.map { $0 * 2 }
        }
        let (tenantA, tenantB) = (UUID(), UUID())
        let answers = await withTaskGroup(of: (Int, Int?).self) { group in
            for item in 0..<60 {
                group.addTask {
                    let tenant = item.isMultiple(of: 2) ? tenantA : tenantB
                    return (item, try? await writer.submit(item, tenant: tenant))
                }
            }
            return await group.reduce(into: [Int: Int?]()) { $0[$1.0] = $1.1 }
        }
        for item in 0..<60 where item != 13 { #expect(answers[item] == item * 2, "\(item)") }
        #expect(answers[13] == .some(nil))
        let written = batches.withLock { $0 }
        // Every batch is one tenant's; items handed in together went together (on a loaded
        // machine the sixty may not all come within the gathering time, but ten of a tenant's
        // do); 13's batch was written again item by item.
        #expect(written.allSatisfy { batch in batch.allSatisfy { $0.isMultiple(of: 2) } || batch.allSatisfy { !$0.isMultiple(of: 2) } })
        #expect(written.contains { $0.count >= 10 }, "\(written.map(\.count))")
        #expect(written.contains([13]))
    }
}
