import Contracts
import Foundation
@testable import GatewayService
import HTTPTypes
import SwitchyardRedis
import Synchronization
import Testing

/// The quota script against a real Redis, with the clock given by the test: the same limits
/// the gateway enforces, checked at chosen instants.
@Suite struct QuotaLimiterTests {
    /// 11:06:40 on the 18th of next month. The counters expire on Redis's own clock at (or a
    /// day after) the end of the month of the instant a call is made at, so the instants these
    /// tests choose lie ahead of the real one, or what they write would be gone at once.
    static let start = QuotaLimiter.monthEnd(of: Date()) + 17 * 86_400 + 11 * 3_600 + 6 * 60 + 40

    /// Fails closed unless told otherwise: a Redis error must fail the test, not let a request through.
    func withLimiter(failureMode: QuotaLimiter.RedisFailureMode = .closed, url: String = TestEnvironment.redisURL,
                     ledgerSpend: Int64 = 0, announcements: Announcements = Announcements(),
                     _ body: (QuotaLimiter) async throws -> Void) async throws {
        let redis = try RedisClient(url: url)
        let limiter = QuotaLimiter(
            redis: redis, failureMode: failureMode, leaseLength: .seconds(30),
            spendSoFar: { _, _, _, _ in ledgerSpend }, announce: { event, _ in announcements.record(event) },
            logger: TestEnvironment.logger)
        do { try await body(limiter) } catch {
            await redis.close()
            throw error
        }
        await redis.close()
    }

    func caller(key: QuotaLimits = .none, tenant: QuotaLimits = .none) -> Caller {
        Caller(credential: .apiKey(id: UUID()), tenantID: UUID(), roles: [.developer], allowedModels: nil, tenantLimits: tenant, keyLimits: key)
    }

    /// How many of `count` requests at `instant` the limiter admits.
    func admitted(_ limiter: QuotaLimiter, _ caller: Caller, count: Int, at instant: Date, tokens: Int = 1) async throws -> Int {
        var admitted = 0
        for _ in 0..<count {
            do {
                _ = try await limiter.admit(caller, requestID: UUID().uuidString, estimatedTokens: tokens, now: instant)
                admitted += 1
            } catch is QuotaExceeded {}
        }
        return admitted
    }

    @Test func theRateWindowNeverAdmitsTwiceTheLimitAroundAMinuteBoundary() async throws {
        try await withLimiter { limiter in
            let caller = caller(key: QuotaLimits(requestsPerMinute: 10))
            // A fixed window would admit 10 at 0:59 and 10 more at 1:01.
            let n1 = try await admitted(limiter, caller, count: 12, at: Self.start.addingTimeInterval(59))

            #expect(n1 == 10)
            let n2 = try await admitted(limiter, caller, count: 10, at: Self.start.addingTimeInterval(61))

            #expect(n2 == 0)
            // It refills at one request per 6 seconds.
            let n3 = try await admitted(limiter, caller, count: 10, at: Self.start.addingTimeInterval(65))

            #expect(n3 == 1)
            let n4 = try await admitted(limiter, caller, count: 10, at: Self.start.addingTimeInterval(59 + 120))

            #expect(n4 == 10)
        }
    }

    @Test func aRefusalSaysWhichLimitAndWhenToRetry() async throws {
        try await withLimiter { limiter in
            let caller = caller(key: QuotaLimits(requestsPerMinute: 60), tenant: QuotaLimits(requestsPerMinute: 2))
            _ = try await admitted(limiter, caller, count: 2, at: Self.start)
            do {
                _ = try await limiter.admit(caller, requestID: "r", estimatedTokens: 1, now: Self.start)
                Issue.record("a third request was admitted")
            } catch let refusal as QuotaExceeded {
                #expect(refusal.check.scope == .tenant)
                #expect(refusal.check.measure == .requestsPerMinute)
                #expect(refusal.retryAfter == .seconds(30))
                let error = APIError(refusal)
                #expect(error.status == .tooManyRequests)
                #expect(error.headers[HTTPField.Name("retry-after")!] == "30")
                #expect(error.headers[HTTPField.Name("x-ratelimit-remaining-requests")!] == "0")
            }
        }
    }

    @Test func tokensAreReservedFromTheEstimateAndSettledFromTheRealUsage() async throws {
        try await withLimiter { limiter in
            let caller = caller(key: QuotaLimits(tokensPerMinute: 1000))
            let first = try await limiter.admit(caller, requestID: "a", estimatedTokens: 600, now: Self.start)
            #expect(first.headers.contains { $0 == ("x-ratelimit-remaining-tokens", "400") })
            let n5 = try await admitted(limiter, caller, count: 1, at: Self.start, tokens: 600)

            #expect(n5 == 0)
            // The call used 100 tokens, not 600: 500 come back.
            await limiter.settle(first, actualTokens: 100, now: Self.start)
            let second = try await limiter.admit(caller, requestID: "b", estimatedTokens: 600, now: Self.start)
            #expect(second.headers.contains { $0 == ("x-ratelimit-remaining-tokens", "300") })
            // A failed call gives back everything it reserved.
            await limiter.settle(second, actualTokens: 0, now: Self.start)
            let n6 = try await admitted(limiter, caller, count: 1, at: Self.start, tokens: 900)

            #expect(n6 == 1)
        }
    }

    @Test func aRequestLargerThanATokenLimitIsRefusedWithoutARetryTime() async throws {
        try await withLimiter { limiter in
            let caller = caller(key: QuotaLimits(tokensPerMinute: 100))
            let refusal = try await #require(throws: QuotaExceeded.self) {
                _ = try await limiter.admit(caller, requestID: "big", estimatedTokens: 101, now: Self.start)
            }
            #expect(refusal.retryAfter == .zero)
            #expect(APIError(refusal).body.error.message.hasPrefix("Request too large"))
        }
    }

    @Test func concurrentRequestsHoldASlotUntilSettledOrTheLeaseEnds() async throws {
        try await withLimiter { limiter in
            let caller = caller(key: QuotaLimits(concurrentRequests: 2))
            let first = try await limiter.admit(caller, requestID: "one", estimatedTokens: 1, now: Self.start)
            _ = try await limiter.admit(caller, requestID: "two", estimatedTokens: 1, now: Self.start)
            let n7 = try await admitted(limiter, caller, count: 1, at: Self.start)

            #expect(n7 == 0)
            await limiter.settle(first, actualTokens: 1, now: Self.start)
            let n8 = try await admitted(limiter, caller, count: 2, at: Self.start)

            #expect(n8 == 1)
            // Gateways that died mid-request hold nothing past the lease (30 s here).
            let n9 = try await admitted(limiter, caller, count: 3, at: Self.start.addingTimeInterval(31))

            #expect(n9 == 2)
        }
    }

    @Test func theMonthlyTokenQuotaStartsAgainWithTheCalendarMonth() async throws {
        try await withLimiter { limiter in
            let caller = caller(tenant: QuotaLimits(tokensPerMonth: 1000))
            let lastMinuteOfTheMonth = QuotaLimiter.monthEnd(of: Self.start) - 60
            let inTheLastMinute = try await admitted(limiter, caller, count: 1, at: lastMinuteOfTheMonth, tokens: 800)

            #expect(inTheLastMinute == 1)
            let refusal = try await #require(throws: QuotaExceeded.self) {
                _ = try await limiter.admit(caller, requestID: "more", estimatedTokens: 800, now: lastMinuteOfTheMonth)
            }
            #expect(refusal.check.measure == .tokensPerMonth)
            #expect(refusal.retryAfter == .seconds(60))
            let inTheNextMonth = try await admitted(limiter, caller, count: 1, at: lastMinuteOfTheMonth.addingTimeInterval(61), tokens: 800)

            #expect(inTheNextMonth == 1)
        }
    }

    /// A month's counters, and the records of the calls a budget holds, are kept until a day
    /// after the month ends, however many calls wrote them; a minute's settled spend is kept
    /// `settledRetentionMinutes`; records of calls no longer running are gone.
    @Test func everyCounterAndRecordExpiresWithWhatItCounts() async throws {
        try await withLimiter { limiter in
            var caller = caller(tenant: QuotaLimits(tokensPerMonth: 1_000_000))
            caller.tenantBudget = Budget(amountMicros: 1_000_000)
            func redis(_ command: String...) async throws -> Int64? { try await limiter.redis.command(command).integer }
            let first = try await limiter.admit(caller, requestID: "a", estimatedTokens: 10, estimatedCostMicros: 1_000, now: Self.start)
            let keys = first.checks.map { QuotaLimiter.key($0, month: first.monthEnd) }
            let (quota, budget) = (keys[0], keys[1])
            let monthExpiry = Int64(first.monthEnd.timeIntervalSince1970 * 1000) + 86_400_000
            for key in [quota, budget, "\(budget):reserved", "\(budget):leases"] {
                #expect(try await redis("PEXPIRETIME", key) == monthExpiry, "\(key) after the first call")
            }
            let second = try await limiter.admit(caller, requestID: "b", estimatedTokens: 10, estimatedCostMicros: 1_000, now: Self.start + 1)
            for key in [quota, budget, "\(budget):reserved", "\(budget):leases"] {
                #expect(try await redis("PEXPIRETIME", key) == monthExpiry, "\(key) after the second call")
            }

            let minute = "\(budget):settled:\(QuotaLimiter.micros(Self.start + 3) / QuotaLimiter.minute)"
            let retention = 1...Int64(QuotaScripts.settledRetentionMinutes) * 60_000
            await limiter.settle(first, actualTokens: 4, actualCostMicros: 500, now: Self.start + 2)
            #expect(retention.contains(try #require(try await redis("PTTL", minute))), "after the first call settled")
            await limiter.settle(second, actualTokens: 6, actualCostMicros: 700, now: Self.start + 3)
            #expect(retention.contains(try #require(try await redis("PTTL", minute))), "after the second call settled")
            #expect(try await limiter.redis.command(["GET", quota]).text == "10")
            #expect(try await limiter.redis.command(["GET", budget]).text == "1200")
            #expect(try await limiter.redis.command(["GET", minute]).text == "1200")
            #expect(try await redis("EXISTS", "\(budget):reserved", "\(budget):leases") == 0)
            #expect(try await redis("PEXPIRETIME", quota) == monthExpiry)
        }
    }

    @Test func whenRedisIsUnreachableRateLimitsFailOpenOrClosedAsConfigured() async throws {
        let nobody = "redis://127.0.0.1:\(freePort())"
        let limited = caller(key: QuotaLimits(requestsPerMinute: 1))
        try await withLimiter(failureMode: .open, url: nobody) { limiter in
            let admission = try await limiter.admit(limited, requestID: "open", estimatedTokens: 1)
            #expect(admission.enforced == false)
        }
        try await withLimiter(failureMode: .closed, url: nobody) { limiter in
            let error = try await #require(throws: APIError.self) {
                _ = try await limiter.admit(limited, requestID: "closed", estimatedTokens: 1)
            }
            #expect(error.status == .serviceUnavailable)
        }
    }

    /// How many of `count` calls costing `costMicros` each, sent at once, a budget admits.
    func admittedAtOnce(_ limiter: QuotaLimiter, _ caller: Caller, count: Int, costMicros: Int64) async throws -> Int {
        try await withThrowingTaskGroup(of: Bool.self) { group in
            for _ in 0..<count {
                group.addTask {
                    do {
                        _ = try await limiter.admit(caller, requestID: UUID().uuidString, estimatedTokens: 1, estimatedCostMicros: costMicros)
                        return true
                    } catch is QuotaExceeded {
                        return false
                    }
                }
            }
            return try await group.reduce(0) { $0 + ($1 ? 1 : 0) }
        }
    }

    @Test func concurrentCallsCannotTogetherSpendPastABudget() async throws {
        try await withLimiter { limiter in
            let caller = caller(key: .none)
            var budgeted = caller
            budgeted.tenantBudget = Budget(amountMicros: 1_000_000)
            let admitted = try await admittedAtOnce(limiter, budgeted, count: 40, costMicros: 100_000)
            #expect(admitted == 10)
            let refusal = try await #require(throws: QuotaExceeded.self) {
                _ = try await limiter.admit(budgeted, requestID: "more", estimatedTokens: 1, estimatedCostMicros: 1)
            }
            let error = APIError(refusal)
            #expect(error.body.error.type == .insufficientQuota && error.status == .tooManyRequests)
        }
    }

    @Test func aBudgetCounterRedisDoesNotHaveStartsFromTheLedgersSpend() async throws {
        try await withLimiter(ledgerSpend: 950_000) { limiter in
            var caller = caller()
            caller.tenantBudget = Budget(amountMicros: 1_000_000)
            let m101 = try await admittedAtOnce(limiter, caller, count: 1, costMicros: 100_000)

            #expect(m101 == 0)
            let m102 = try await admittedAtOnce(limiter, caller, count: 1, costMicros: 50_000)

            #expect(m102 == 1)
        }
    }

    @Test func settlingGivesBackTheOverEstimateAndAnnouncesEachThresholdOnce() async throws {
        let announcements = Announcements()
        try await withLimiter(announcements: announcements) { limiter in
            var caller = caller()
            caller.keyBudget = Budget(amountMicros: 1_000_000, thresholds: [50, 80])
            let first = try await limiter.admit(caller, requestID: "a", estimatedTokens: 1, estimatedCostMicros: 900_000)
            await limiter.settle(first, actualTokens: 1, actualCostMicros: 550_000, tenant: caller.tenantID)
            #expect(announcements.thresholds == [50])
            // 450,000 came back: 400,000 more fits.
            let second = try await limiter.admit(caller, requestID: "b", estimatedTokens: 1, estimatedCostMicros: 400_000)
            await limiter.settle(second, actualTokens: 1, actualCostMicros: 100_000, tenant: caller.tenantID)
            #expect(announcements.thresholds == [50])
            let third = try await limiter.admit(caller, requestID: "c", estimatedTokens: 1, estimatedCostMicros: 200_000)
            await limiter.settle(third, actualTokens: 1, actualCostMicros: 200_000, tenant: caller.tenantID)
            #expect(announcements.thresholds == [50, 80])
            #expect(announcements.events.last?.spentMicros == 850_000 && announcements.events.last?.apiKeyID == caller.apiKeyID)
        }
    }

    @Test func thresholdsCrossedByConcurrentCallsOnTwoReplicasAreAnnouncedOnceEach() async throws {
        let announcements = Announcements()
        var caller = caller()
        caller.keyBudget = Budget(amountMicros: 1_000_000, thresholds: [25, 50, 75, 90])
        let budgeted = caller
        try await withLimiter(announcements: announcements) { first in
            try await withLimiter(announcements: announcements) { second in
                try await withThrowingTaskGroup(of: Void.self) { group in
                    for call in 0..<40 {
                        let replica = call.isMultiple(of: 2) ? first : second
                        group.addTask {
                            guard let admission = try? await replica.admit(
                                budgeted, requestID: "r\(call)", estimatedTokens: 1, estimatedCostMicros: 30_000) else { return }
                            await replica.settle(admission, actualTokens: 1, actualCostMicros: 30_000, tenant: budgeted.tenantID)
                        }
                    }
                    try await group.waitForAll()
                }
            }
        }
        // 33 calls fit in the budget: 990,000 spent, past 90 % and short of 100 %.
        #expect(announcements.thresholds.sorted() == [25, 50, 75, 90])
    }

    @Test func aWarnBudgetNeverRefusesButSaysSo() async throws {
        try await withLimiter { limiter in
            var caller = caller()
            caller.tenantBudget = Budget(amountMicros: 100, thresholds: [50], policy: .warn)
            let within = try await limiter.admit(caller, requestID: "a", estimatedTokens: 1, estimatedCostMicros: 40)
            #expect(!within.headers.contains { $0.0 == "x-switchyard-budget-warning" })
            let past = try await limiter.admit(caller, requestID: "b", estimatedTokens: 1, estimatedCostMicros: 500)
            #expect(past.headers.contains { $0 == ("x-switchyard-budget-warning", "540% of the tenant budget used this month") })
        }
    }

    @Test func aThrottleBudgetRefusesAGrowingShareOfCallsPastItsFirstThreshold() async throws {
        try await withLimiter(ledgerSpend: 950) { limiter in
            var caller = caller()
            caller.tenantBudget = Budget(amountMicros: 1_000, thresholds: [50], policy: .throttle)
            // The month so far: 950 of 1,000 spent.
            // At 95 % of the budget, a tenth of the calls should pass ((100 - 95) / (100 - 50)).
            var admitted = 0
            for _ in 0..<300 {
                admitted += try await admittedAtOnce(limiter, caller, count: 1, costMicros: 0)
            }
            #expect((10...60).contains(admitted), "\(admitted) of 300 passed")
        }
    }

    @Test func moneyFailsClosedWhenRedisIsUnreachableEvenWhenRateLimitsFailOpen() async throws {
        var caller = caller()
        caller.tenantBudget = Budget(amountMicros: 1_000_000)
        try await withLimiter(failureMode: .open, url: "redis://127.0.0.1:\(freePort())") { limiter in
            let error = try await #require(throws: APIError.self) {
                _ = try await limiter.admit(caller, requestID: "x", estimatedTokens: 1, estimatedCostMicros: 10)
            }
            #expect(error.status == .serviceUnavailable)
        }
    }

    @Test func resetTimesReadAsOpenAIWritesThem() {
        #expect(QuotaLimiter.resetText(micros: 20_000) == "20ms")
        #expect(QuotaLimiter.resetText(micros: 1_000_000) == "1s")
        #expect(QuotaLimiter.resetText(micros: 360_000_000) == "6m0s")
        #expect(QuotaLimiter.resetText(micros: 3_723_000_000) == "1h2m3s")
    }
}

/// The budget events a limiter announced, in order.
final class Announcements: Sendable {
    private let recorded = Mutex<[BudgetThresholdCrossed]>([])
    func record(_ event: BudgetThresholdCrossed) { recorded.withLock { $0.append(event) } }
    var events: [BudgetThresholdCrossed] { recorded.withLock { $0 } }
    var thresholds: [Int] { events.map(\.thresholdPercent) }
}
