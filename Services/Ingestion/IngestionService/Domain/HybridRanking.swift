import Foundation
import NIOCore

/// A chunk, by its document and place in it.
struct ChunkKey: Hashable, Sendable {
    var documentID: UUID
    var index: Int
}

/// Embeddings as stored: a unit vector's 32-bit floats, little-endian, one after another.
enum StoredVector {
    static func bytes(of vector: [Float]) -> ByteBuffer {
        var buffer = ByteBuffer()
        buffer.reserveCapacity(vector.count * 4)
        for value in vector { buffer.writeInteger(value.bitPattern, endianness: .little) }
        return buffer
    }

    /// The dot product of `query` and the stored vector at `offset` in `stored` (their cosine
    /// similarity, both being unit vectors). Read in place, without making an array.
    static func dot(_ stored: ByteBuffer, at offset: Int = 0, _ query: [Float]) -> Double {
        precondition(offset + query.count * 4 <= stored.readableBytes, "a stored vector shorter than the query's")
        return stored.withUnsafeReadableBytes { raw in
            var sum: Float = 0
            for index in query.indices {
                let bits = UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: offset + index * 4, as: UInt32.self))
                sum += Float(bitPattern: bits) * query[index]
            }
            return Double(sum)
        }
    }

    /// Each of a document's vectors, stored one after another, with its similarity to `query`;
    /// nil when they are not all of its length (made by another model of the same name).
    static func similarities(_ stored: ByteBuffer, count: Int, to query: [Float]) -> [Double]? {
        let stride = query.count * 4
        guard stride > 0, stored.readableBytes == count * stride else { return nil }
        return (0..<count).map { dot(stored, at: $0 * stride, query) }
    }
}

/// The `depth` best chunks by similarity, kept while every chunk's score streams past.
struct BestChunks {
    let depth: Int
    private(set) var kept: [(key: ChunkKey, similarity: Double)] = []
    /// The lowest score kept once `depth` are: anything at or below it is not kept.
    private var floor = -Double.infinity

    init(depth: Int) { self.depth = depth }

    mutating func offer(_ key: ChunkKey, similarity: Double) {
        guard kept.count < depth || similarity > floor else { return }
        kept.append((key, similarity))
        // Sorted and cut in batches: the buffer grows to twice the depth at most.
        if kept.count >= 2 * depth { trim() }
    }

    /// Best first; ties by document and place, so a search answers the same way every time.
    mutating func ranked() -> [(key: ChunkKey, similarity: Double)] {
        trim()
        return kept
    }

    private mutating func trim() {
        kept.sort { ($0.similarity, $1.key.documentID.uuidString, $1.key.index) > ($1.similarity, $0.key.documentID.uuidString, $0.key.index) }
        if kept.count > depth { kept.removeLast(kept.count - depth) }
        if kept.count == depth, let last = kept.last { floor = last.similarity }
    }
}

/// Reciprocal rank fusion: a chunk scores 1 / (k + rank) in each ranking it appears in, summed
/// (Cormack, Clarke and Büttcher, 2009; k = 60 as there). Robust to the rankings' scores being on
/// different scales, which cosine similarity and full-text rank are.
enum RankFusion {
    static let k = 60.0

    struct Fused: Equatable {
        var key: ChunkKey
        var score: Double
        /// Places from 1 in each ranking; nil where the chunk is absent.
        var semanticRank: Int?
        var keywordRank: Int?
    }

    /// The best `limit`, best first; ties by document and place.
    static func fuse(semantic: [ChunkKey], keyword: [ChunkKey], limit: Int) -> [Fused] {
        var fused: [ChunkKey: Fused] = [:]
        for (place, key) in semantic.enumerated() {
            fused[key, default: Fused(key: key, score: 0)].score += 1 / (k + Double(place + 1))
            fused[key]!.semanticRank = place + 1
        }
        for (place, key) in keyword.enumerated() {
            fused[key, default: Fused(key: key, score: 0)].score += 1 / (k + Double(place + 1))
            fused[key]!.keywordRank = place + 1
        }
        return fused.values.sorted {
            ($0.score, $1.key.documentID.uuidString, $1.key.index) > ($1.score, $0.key.documentID.uuidString, $0.key.index)
        }.prefix(limit).map { $0 }
    }
}
