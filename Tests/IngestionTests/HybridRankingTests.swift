import Foundation
@testable import IngestionService
import NIOCore
import Testing

@Suite struct HybridRankingTests {
    let a = UUID(uuidString: "00000000-0000-0000-0000-00000000000A")!
    let b = UUID(uuidString: "00000000-0000-0000-0000-00000000000B")!

    @Test func storedVectorsRoundTripAndScoreAsDotProducts() {
        let stored = StoredVector.bytes(of: [0.6, 0.8, 0])
        #expect(stored.readableBytes == 12)
        #expect(abs(StoredVector.dot(stored, [0.6, 0.8, 0]) - 1) < 1e-6)
        #expect(abs(StoredVector.dot(stored, [0, 0, 1])) < 1e-9)
        #expect(abs(StoredVector.dot(stored, [-0.6, -0.8, 0]) + 1) < 1e-6)
        // Little-endian whatever the machine: 1.0 is 00 00 80 3f.
        #expect(Array(StoredVector.bytes(of: [1]).readableBytesView) == [0x00, 0x00, 0x80, 0x3F])

        // A document's vectors, one after another.
        var document = StoredVector.bytes(of: [1, 0])
        var second = StoredVector.bytes(of: [0, 1])
        document.writeBuffer(&second)
        let scores = StoredVector.similarities(document, count: 2, to: [0.6, 0.8])
        #expect(scores.map { zip($0, [0.6, 0.8]).allSatisfy { abs($0 - $1) < 1e-6 } } == true, "\(String(describing: scores))")
        #expect(StoredVector.similarities(document, count: 2, to: [1, 0, 0]) == nil)
        #expect(StoredVector.similarities(document, count: 3, to: [1, 0]) == nil)
    }

    @Test func theBestChunksAreKeptWhateverOrderTheyStreamIn() {
        let scores = (0..<1000).map { index in (ChunkKey(documentID: a, index: index), Double((index * 7919) % 1000) / 1000) }
        var best = BestChunks(depth: 5)
        for (key, score) in scores { best.offer(key, similarity: score) }
        let expected = scores.sorted { $0.1 > $1.1 }.prefix(5).map(\.0)
        #expect(best.ranked().map(\.key) == expected)

        var few = BestChunks(depth: 5)
        few.offer(ChunkKey(documentID: b, index: 0), similarity: 0.1)
        few.offer(ChunkKey(documentID: a, index: 1), similarity: 0.1)
        few.offer(ChunkKey(documentID: a, index: 0), similarity: 0.9)
        // Ties by document, then place.
        #expect(few.ranked().map(\.key) == [ChunkKey(documentID: a, index: 0), ChunkKey(documentID: a, index: 1), ChunkKey(documentID: b, index: 0)])
    }

    @Test func fusionRewardsAChunkBothRankingsPlaceWell() {
        let (x, y, z) = (ChunkKey(documentID: a, index: 0), ChunkKey(documentID: a, index: 1), ChunkKey(documentID: b, index: 0))
        // x is first by meaning only, y second in both, z first by words only.
        let fused = RankFusion.fuse(semantic: [x, y], keyword: [z, y], limit: 3)
        #expect(fused.map(\.key) == [y, x, z])
        #expect(abs(fused[0].score - 2 / 62.0) < 1e-12 && abs(fused[1].score - 1 / 61.0) < 1e-12)
        #expect(fused[0].semanticRank == 2 && fused[0].keywordRank == 2)
        #expect(fused[1].keywordRank == nil && fused[2].semanticRank == nil)
        #expect(RankFusion.fuse(semantic: [x, y], keyword: [z], limit: 1).map(\.key) == [x])
    }
}
