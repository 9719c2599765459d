import Contracts
import Foundation
import Logging
import Metrics
import ServiceLifecycle
import Synchronization
import SwitchyardBus
import SwitchyardRedis

/// One month's budget counter in Redis: the tenant's, or one key's.
struct BudgetCounter: Sendable, Hashable {
    var tenantID: UUID
    /// The key whose budget it counts; nil for the tenant's.
    var apiKeyID: UUID?
    /// The first instant of the next month: the counter counts the month before it.
    var monthEnd: Date
    var redisKey: String
}

/// The budget counters a replica has used this month, noted as calls are admitted.
final class BudgetCounters: Sendable {
    private let counters = Mutex<Set<BudgetCounter>>([])

    func note(_ checks: [LimitCheck], caller: Caller, month: Date) {
        guard let tenant = caller.tenantID else { return }
        let budgets = checks.filter { $0.measure == .budget }
        guard !budgets.isEmpty else { return }
        let noted = budgets.map { check in
            BudgetCounter(tenantID: tenant, apiKeyID: check.scope == .key ? check.apiKeyID : nil, monthEnd: month,
                          redisKey: QuotaLimiter.key(check, month: month))
        }
        counters.withLock { $0.formUnion(noted) }
    }

    /// The counters of months not over at `now`; older ones are forgotten.
    func current(at now: Date) -> [BudgetCounter] {
        counters.withLock { counters in
            counters = counters.filter { $0.monthEnd > now }
            return Array(counters)
        }
    }
}

/// Keeps the gateway's budget counters true to the ledger.
///
/// A counter moves on every call (reserved when admitted, settled from the router's cost), and
/// may drift from what the ledger charges: a gateway dies between admitting and settling (its
/// reservation is given back when the lease ends, but the call's cost is never added), Redis
/// cannot be reached to settle, a call fails at the gateway yet is charged, or a router priced a
/// call before it heard of a new price. Every `interval`, one replica per counter (a Redis claim
/// decides which) asks billing for the ledger's spend up to a time the ledger is complete to
/// (`LedgerSpend`) and sets the counter to that spend, plus what calls settled here since, plus
/// the reservations of calls still running (`QuotaLimiter.reconcile`).
struct BudgetReconciler: Service {
    let limiter: QuotaLimiter
    /// The ledger's spend of a budget's month, from billing: `(tenant, key or nil, month start, month end)`.
    let ledgerSpend: @Sendable (UUID, UUID?, Date, Date) async throws -> LedgerSpend
    let interval: Duration
    let logger: Logger

    func run() async throws {
        while !Task.isCancelled && !Task.isShuttingDownGracefully {
            // Replicas started together spread out rather than ask billing at the same moment.
            let wait = interval * Double.random(in: 0.8...1.2)
            try? await cancelWhenGracefulShutdown { try await Task.sleep(for: wait) }
            guard !Task.isCancelled && !Task.isShuttingDownGracefully else { return }
            await reconcileAll()
        }
    }

    /// Checks every counter this replica has used this month that no other replica checked within
    /// the interval.
    func reconcileAll(now: Date = Date()) async {
        for counter in limiter.budgetCounters.current(at: now) {
            do {
                let claim = try await limiter.redis.command(
                    ["SET", "\(counter.redisKey):checked", "1", "PX", String(max(1, interval.milliseconds)), "NX"])
                guard claim.text == "OK" else { continue }
                try await reconcile(counter)
            } catch {
                logger.warning("budget counter not checked against the ledger", metadata: [
                    "tenant_id": "\(counter.tenantID)", "api_key_id": "\(counter.apiKeyID.map { "\($0)" } ?? "-")", "error": "\(error)",
                ])
            }
        }
    }

    func reconcile(_ counter: BudgetCounter) async throws {
        let monthStart = QuotaLimiter.monthStart(of: counter.monthEnd.addingTimeInterval(-1))
        let ledger = try await ledgerSpend(counter.tenantID, counter.apiKeyID, monthStart, counter.monthEnd)
        guard let (before, after) = try await limiter.reconcile(counter, ledger: ledger), before != after else { return }
        Counter(label: "switchyard_gateway_budget_corrections_total", dimensions: [("direction", after > before ? "up" : "down")]).increment()
        logger.info("budget counter corrected from the ledger", metadata: [
            "tenant_id": "\(counter.tenantID)", "api_key_id": "\(counter.apiKeyID.map { "\($0)" } ?? "-")",
            "counter_micros": "\(before)", "corrected_micros": "\(after)", "ledger_complete_before": "\(ledger.completeBefore)",
        ])
    }
}
