import Contracts
import Foundation
@testable import GatewayService
import Logging
import Synchronization
import Testing

/// A budget counter kept true to the ledger, against a real Redis with the clock given by the
/// test: reservations of gateways that died end with their lease, and a check against the
/// ledger's spend corrects the counter both ways.
extension QuotaLimiterTests {
    /// A whole minute, so the settled-spend minutes of these tests are known.
    static let minute0 = Date(timeIntervalSince1970: (start.timeIntervalSince1970 / 60).rounded(.down) * 60)

    func budgeted(_ amountMicros: Int64 = 1_000_000) -> Caller {
        var caller = caller()
        caller.tenantBudget = Budget(amountMicros: amountMicros)
        return caller
    }

    func counter(of limiter: QuotaLimiter) throws -> BudgetCounter {
        let counters = limiter.budgetCounters.current(at: Self.start)
        return try #require(counters.count == 1 ? counters.first : nil)
    }

    func value(of counter: BudgetCounter, _ limiter: QuotaLimiter) async throws -> Int64? {
        try await limiter.redis.command(["GET", counter.redisKey]).integer
    }

    func isAdmitted(_ limiter: QuotaLimiter, _ caller: Caller, _ request: String, costMicros: Int64, at instant: Date) async throws -> Admission? {
        do {
            return try await limiter.admit(caller, requestID: request, estimatedTokens: 1, estimatedCostMicros: costMicros, now: instant)
        } catch is QuotaExceeded {
            return nil
        }
    }

    @Test func theReservationOfACallWhoseGatewayDiedIsGivenBackWhenItsLeaseEnds() async throws {
        try await withLimiter { limiter in
            let caller = budgeted()
            // Admitted, and never settled: its gateway died. The lease is 30 s.
            #expect(try await isAdmitted(limiter, caller, "died", costMicros: 600_000, at: Self.start) != nil)
            #expect(try await isAdmitted(limiter, caller, "early", costMicros: 600_000, at: Self.start + 29) == nil)
            let later = try #require(try await isAdmitted(limiter, caller, "later", costMicros: 600_000, at: Self.start + 31))
            let counter = try counter(of: limiter)
            #expect(try await value(of: counter, limiter) == 600_000)

            // The dead gateway's call settles after all (its cost is added, not swapped for the
            // reservation given back), and so does the live one.
            let died = Admission(requestID: "died", checks: later.checks, reservedTokens: 1, reservedTokensAtMost: 1, reservedCostMicros: 600_000,
                                 monthEnd: later.monthEnd, headers: [], enforced: true)
            await limiter.settle(died, actualTokens: 1, actualCostMicros: 250_000, now: Self.start + 32)
            #expect(try await value(of: counter, limiter) == 850_000)
            await limiter.settle(later, actualTokens: 1, actualCostMicros: 100_000, now: Self.start + 33)
            #expect(try await value(of: counter, limiter) == 350_000)
        }
    }

    @Test func aCheckSetsTheCounterToTheLedgerPlusWhatSettledSinceAndWhatIsStillRunning() async throws {
        try await withLimiter(ledgerSpend: 100_000) { limiter in
            let caller = budgeted()
            let t0 = Self.minute0
            // Seeded from the ledger at t0 + 5 s: 100,000.
            let settled = try #require(try await isAdmitted(limiter, caller, "a", costMicros: 200_000, at: t0 + 5))
            await limiter.settle(settled, actualTokens: 1, actualCostMicros: 150_000, now: t0 + 10)
            _ = try #require(try await isAdmitted(limiter, caller, "running", costMicros: 300_000, at: t0 + 70))
            let counter = try counter(of: limiter)
            // Drift: the counter says 77,777 more than anything spent.
            _ = try await limiter.redis.command(["INCRBY", counter.redisKey, "77777"])
            #expect(try await value(of: counter, limiter) == 627_777)

            // The ledger is complete only to before the counter was started: nothing to check by.
            let tooEarly = try await limiter.reconcile(counter, ledger: LedgerSpend(spentMicros: 0, completeBefore: t0 - 60), now: t0 + 90)
            #expect(tooEarly == nil)
            #expect(try await value(of: counter, limiter) == 627_777)

            // Complete to when the counter started: that spend, plus the 150,000 settled since,
            // plus the call still running.
            let fromStart = try await limiter.reconcile(counter, ledger: LedgerSpend(spentMicros: 100_000, completeBefore: t0 + 5), now: t0 + 90)
            #expect(fromStart?.before == 627_777 && fromStart?.after == 550_000)

            // Complete to t0 + 60 s, when call "a" is in the ledger, and so is a call whose
            // gateway never settled it (40,000): the counter goes up to the ledger.
            let caughtUp = try await limiter.reconcile(
                counter, ledger: LedgerSpend(spentMicros: 100_000 + 150_000 + 40_000, completeBefore: t0 + 60), now: t0 + 90)
            #expect(caughtUp?.before == 550_000 && caughtUp?.after == 590_000)
            #expect(try await value(of: counter, limiter) == 590_000)
        }
    }

    @Test func whatSettledSinceTheLedgersCompleteMinuteCountsBesideIt() async throws {
        try await withLimiter(ledgerSpend: 0) { limiter in
            let caller = budgeted()
            let t0 = Self.minute0
            _ = try #require(try await isAdmitted(limiter, caller, "first", costMicros: 1, at: t0 - 1))
            // Two calls settle in the minute from t0 and one in the next; the ledger, complete to
            // t0, has none of them, and a call of 999 from before t0 that nobody settled.
            for (index, second) in [10.0, 50, 70].enumerated() {
                let admission = try #require(try await isAdmitted(limiter, caller, "c\(index)", costMicros: 10_000, at: t0 + second - 1))
                await limiter.settle(admission, actualTokens: 1, actualCostMicros: 1_000 * Int64(index + 1), now: t0 + second)
            }
            let counter = try counter(of: limiter)
            let check = try await limiter.reconcile(counter, ledger: LedgerSpend(spentMicros: 999, completeBefore: t0), now: t0 + 100)
            // "first" was never settled: its lease ran out and its reservation was given back.
            let after = try #require(check?.after)
            #expect(after == Int64(999 + 1_000 + 2_000 + 3_000), "\(after)")
            // A minute's settled spend is kept two hours; a ledger further behind checks nothing.
            let stale = try await limiter.reconcile(counter, ledger: LedgerSpend(spentMicros: 0, completeBefore: t0), now: t0 + 115 * 60)
            #expect(stale == nil)
        }
    }

    @Test func oneReplicaChecksACounterPerIntervalAndCorrectsItFromBillingsAnswer() async throws {
        try await withLimiter(ledgerSpend: 500_000) { limiter in
            let caller = budgeted()
            // Seeded and settled at Redis's own clock, as the gateway runs.
            let admission = try await limiter.admit(caller, requestID: "x", estimatedTokens: 1, estimatedCostMicros: 100_000)
            await limiter.settle(admission, actualTokens: 1, actualCostMicros: 100_000)
            let counter = try #require(limiter.budgetCounters.current(at: Date()).first)
            #expect(try await value(of: counter, limiter) == 600_000)
            _ = try await limiter.redis.command(["SET", "\(counter.redisKey):since", "0", "KEEPTTL"])

            let asked = Mutex(0)
            // Billing's answer: complete to a minute ago, 450,000 spent (the ledger priced a
            // call lower than the router did), and "x" settled since.
            let completeBefore = Date(timeIntervalSince1970: (Date().timeIntervalSince1970 / 60).rounded(.down) * 60 - 60)
            let reconciler = BudgetReconciler(
                limiter: limiter,
                ledgerSpend: { tenant, key, from, to in
                    asked.withLock { $0 += 1 }
                    #expect(tenant == caller.tenantID && key == nil && to == counter.monthEnd && from < to)
                    return LedgerSpend(spentMicros: 450_000, completeBefore: completeBefore)
                },
                interval: .seconds(60), logger: TestEnvironment.logger)
            await reconciler.reconcileAll()
            #expect(try await value(of: counter, limiter) == 550_000)
            // Another replica within the interval leaves it alone.
            await reconciler.reconcileAll()
            #expect(asked.withLock { $0 } == 1)
        }
    }
}
