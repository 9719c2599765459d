import AnalyticsService
import Testing

@Suite struct LatencyHistogramTests {
    @Test func eachLatencyLandsInTheBucketWhoseUpperBoundItDoesNotPass() {
        #expect(LatencyHistogram.bucket(of: 0) == 0)
        #expect(LatencyHistogram.bucket(of: 1) == 0)
        #expect(LatencyHistogram.bucket(of: 2) == 1)
        #expect(LatencyHistogram.bucket(of: 101) == LatencyHistogram.bounds.firstIndex(of: 150))
        #expect(LatencyHistogram.bucket(of: 120_001) == LatencyHistogram.bounds.count, "beyond the last bound")
    }

    @Test func percentilesInterpolateWithinTheBucketOfTheirRank() {
        var histogram = LatencyHistogram()
        // 100 calls spread over the (100, 150] bucket, and one slow one.
        for _ in 0..<100 { histogram.add(LatencyHistogram(one: 120)) }
        histogram.add(LatencyHistogram(one: 4_000))
        #expect(histogram.total == 101)
        // Rank 51 of 100 in (100, 150]: 100 + 50 × 51 / 100.
        #expect(histogram.percentile(50) == 125)
        #expect(histogram.percentile(99) == 150, "rank 100 is the bucket's last")
        #expect(histogram.percentile(100) == 5_000, "the slow call's bucket, (3000, 5000], at its last rank")
        #expect(LatencyHistogram().percentile(50) == 0)
    }

    @Test func histogramsAddUpBucketByBucketAndStoredOnesOfAnotherShapeAreRefused() {
        var sum = LatencyHistogram(one: 3)
        sum.add(LatencyHistogram(one: 3))
        sum.add(LatencyHistogram(one: 500_000))
        #expect(sum.counts[LatencyHistogram.bucket(of: 3)] == 2)
        #expect(sum.counts.last == 1)
        #expect(sum.percentile(100) == 120_000, "the open last bucket answers its lower bound")
        #expect(LatencyHistogram(counts: sum.counts) == sum)
        #expect(LatencyHistogram(counts: [1, 2, 3]) == nil)
        #expect(LatencyHistogram(counts: Array(repeating: -1, count: LatencyHistogram.bounds.count + 1)) == nil)
    }
}
