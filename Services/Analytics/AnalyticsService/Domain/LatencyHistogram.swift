import Foundation

/// Calls counted by latency, in buckets about 1.5× apart from 1 ms to 2 minutes and one beyond:
/// small enough to keep per hour and group, fine enough that a percentile read from it is within
/// a bucket's width of the true one. Histograms add up bucket by bucket, so any period or group
/// is the sum of its hours.
public struct LatencyHistogram: Sendable, Equatable {
    /// The buckets' upper bounds in milliseconds (included); the last bucket holds the rest.
    public static let bounds: [Int64] = [
        1, 2, 3, 5, 7, 10, 15, 20, 30, 50, 70, 100, 150, 200, 300, 500, 700,
        1_000, 1_500, 2_000, 3_000, 5_000, 7_000, 10_000, 15_000, 20_000, 30_000, 60_000, 120_000,
    ]

    public private(set) var counts: [Int64]

    public init() { counts = Array(repeating: 0, count: Self.bounds.count + 1) }

    /// The counts as stored; a stored histogram with another number of buckets is refused.
    public init?(counts: [Int64]) {
        guard counts.count == Self.bounds.count + 1, counts.allSatisfy({ $0 >= 0 }) else { return nil }
        self.counts = counts
    }

    /// One call of `milliseconds`.
    public init(one milliseconds: Int) {
        self.init()
        counts[Self.bucket(of: Int64(max(0, milliseconds)))] += 1
    }

    public static func bucket(of milliseconds: Int64) -> Int {
        bounds.firstIndex { milliseconds <= $0 } ?? bounds.count
    }

    public var total: Int64 { counts.reduce(0, +) }

    public mutating func add(_ other: LatencyHistogram) {
        for index in counts.indices { counts[index] += other.counts[index] }
    }

    /// The latency under which `percent` of the calls fell: the bucket holding that rank, and
    /// within it by linear interpolation between its bounds. The last bucket has no upper bound,
    /// so ranks there answer its lower one. Zero when there are no calls.
    public func percentile(_ percent: Int) -> Int64 {
        let total = self.total
        guard total > 0 else { return 0 }
        // The rank of the call at `percent`, from 1 to total (nearest-rank).
        let rank = max(1, (total * Int64(percent) + 99) / 100)
        var below: Int64 = 0
        for (index, count) in counts.enumerated() where count > 0 {
            guard below + count >= rank else {
                below += count
                continue
            }
            let lower = index == 0 ? 0 : Self.bounds[index - 1]
            guard index < Self.bounds.count else { return lower }
            let upper = Self.bounds[index]
            // Ranks spread evenly across the bucket: the first near its lower bound, the last at its upper.
            return lower + (upper - lower) * (rank - below) / count
        }
        return Self.bounds.last!
    }
}
