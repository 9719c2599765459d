import Contracts
import Foundation
import HTTPTypes
import Logging
import Metrics
import Synchronization
import SwitchyardRedis

/// One limit that applies to a request: whose it is, what it counts, how much.
struct LimitCheck: Sendable, Equatable {
    enum Scope: String, Sendable { case tenant, key }
    enum Measure: String, Sendable {
        case requestsPerMinute = "requests_per_minute"
        case requestsPerDay = "requests_per_day"
        case tokensPerMinute = "tokens_per_minute"
        case tokensPerMonth = "tokens_per_month"
        case concurrentRequests = "concurrent_requests"
        /// Micro-USD in the calendar month.
        case budget

        var countsTokens: Bool { self == .tokensPerMinute || self == .tokensPerMonth }
        var countsRequests: Bool { self == .requestsPerMinute || self == .requestsPerDay }
        var isMonthly: Bool { self == .tokensPerMonth || self == .budget }
    }

    var scope: Scope
    var measure: Measure
    var limit: Int
    var redisKey: String
    /// The budget a `.budget` check enforces.
    var budget: Budget?
    /// The key a `.key` check limits.
    var apiKeyID: UUID?
}

/// What `admit` took, to be settled once the call is over.
struct Admission: Sendable {
    var requestID: String
    var checks: [LimitCheck]
    /// Taken from token rates: an estimate.
    var reservedTokens: Int
    /// Taken from monthly token quotas: a bound the call cannot exceed.
    var reservedTokensAtMost: Int
    var reservedCostMicros: Int64
    /// The month the token quota was taken from, so settling after midnight on the last day
    /// corrects the right month.
    var monthEnd: Date
    /// `x-ratelimit-*` headers for the response.
    var headers: [(String, String)]
    /// False when Redis could not be reached and limits were let through (fail open).
    var enforced: Bool

    /// Whether anything was taken in Redis that settling must correct (nothing when no limit
    /// applies, or when Redis could not be reached and limits were let through).
    var tookAnything: Bool { enforced && !checks.isEmpty }

    /// Whether the call holds one of a concurrency limit's slots, which its settling releases.
    var holdsConcurrencySlot: Bool { checks.contains { $0.measure == .concurrentRequests } }
}

/// A request refused by a limit.
struct QuotaExceeded: Error, Sendable {
    var check: LimitCheck
    var retryAfter: Duration
    var headers: [(String, String)]
    /// Refused by a budget's `throttle` policy rather than its end.
    var throttled = false
    /// What the call would have taken from the refusing limit, and what was left of it besides
    /// the reservations of calls still running: micro-USD for a budget, tokens for a quota.
    var asked: Int64 = 0
    var left: Int64 = 0
}

/// Rate limits, quotas and money budgets per API key and per tenant, kept in Redis so that
/// every gateway replica shares them. One script checks and takes every limit of a request at
/// once (`QuotaScripts`); tokens and cost are reserved from an estimate and settled from real
/// usage, so concurrent calls cannot together spend past a budget. Budget counters are checked
/// against billing's ledger now and then (`BudgetReconciler`).
public struct QuotaLimiter: Sendable {
    public enum RedisFailureMode: String, Sendable, CaseIterable {
        /// Let requests through while Redis is unreachable (logged and counted).
        case open
        /// Refuse them with 503.
        case closed
    }

    let redis: RedisClient
    let failureMode: RedisFailureMode
    /// How long a concurrency slot and a budget reservation are held at most: longer than any
    /// request may take.
    let leaseLength: Duration
    /// A month's spend so far from the ledger, for a budget counter Redis does not have:
    /// `(tenant, key or nil for the tenant's, month start, month end)`.
    let spendSoFar: @Sendable (UUID, UUID?, Date, Date) async throws -> Int64
    /// Where `budget.threshold_crossed` goes.
    let announce: @Sendable (BudgetThresholdCrossed, UUID) async -> Void
    let logger: Logger
    /// The budget counters this replica has used, for `reconcile`.
    let budgetCounters = BudgetCounters()

    init(redis: RedisClient, failureMode: RedisFailureMode, leaseLength: Duration,
         spendSoFar: @escaping @Sendable (UUID, UUID?, Date, Date) async throws -> Int64,
         announce: @escaping @Sendable (BudgetThresholdCrossed, UUID) async -> Void, logger: Logger) {
        self.redis = redis
        self.failureMode = failureMode
        self.leaseLength = leaseLength
        self.spendSoFar = spendSoFar
        self.announce = announce
        self.logger = logger
    }

    static let minute: Int64 = 60_000_000
    static let day: Int64 = 86_400_000_000

    /// The limits that apply to a caller, tenant's first, in a fixed order.
    static func checks(for caller: Caller) -> [LimitCheck] {
        guard let tenantID = caller.tenantID else { return [] }
        // One hash tag per tenant: every key of a request lands on one Redis Cluster slot.
        let tenantKey = "sy:{\(Subject.token(tenantID))}"
        var checks: [LimitCheck] = []
        func add(_ limits: QuotaLimits, scope: LimitCheck.Scope, prefix: String) {
            let measures: [(LimitCheck.Measure, Int?)] = [
                (.requestsPerMinute, limits.requestsPerMinute), (.requestsPerDay, limits.requestsPerDay),
                (.tokensPerMinute, limits.tokensPerMinute), (.tokensPerMonth, limits.tokensPerMonth),
                (.concurrentRequests, limits.concurrentRequests),
            ]
            for case let (measure, limit?) in measures {
                checks.append(LimitCheck(scope: scope, measure: measure, limit: limit, redisKey: "\(prefix):\(measure.rawValue)"))
            }
        }
        add(caller.tenantLimits, scope: .tenant, prefix: "\(tenantKey):tenant")
        if let budget = caller.tenantBudget {
            checks.append(LimitCheck(scope: .tenant, measure: .budget, limit: Int(budget.amountMicros), redisKey: "\(tenantKey):tenant:budget", budget: budget))
        }
        if let keyID = caller.apiKeyID {
            let keyPrefix = "\(tenantKey):key:\(Subject.token(keyID))"
            add(caller.keyLimits, scope: .key, prefix: keyPrefix)
            if let budget = caller.keyBudget {
                checks.append(LimitCheck(scope: .key, measure: .budget, limit: Int(budget.amountMicros), redisKey: "\(keyPrefix):budget", budget: budget, apiKeyID: keyID))
            }
        }
        return checks
    }

    /// Takes one request, `estimatedCostMicros` and tokens from every limit of `caller`:
    /// `estimatedTokens` from token rates, `tokensAtMost` (the estimate unless given) from monthly
    /// token quotas, which like budgets hold however many calls run at once. Throws
    /// `QuotaExceeded` naming the first limit that refuses (and takes nothing). `now` is Redis's
    /// clock unless given (tests give it).
    func admit(
        _ caller: Caller, requestID: String, estimatedTokens: Int, tokensAtMost: Int? = nil, estimatedCostMicros: Int64 = 0, now: Date? = nil
    ) async throws -> Admission {
        let checks = Self.checks(for: caller)
        let month = Self.monthEnd(of: now ?? Date())
        let tokensAtMost = tokensAtMost ?? estimatedTokens
        var admission = Admission(
            requestID: requestID, checks: checks, reservedTokens: estimatedTokens, reservedTokensAtMost: tokensAtMost,
            reservedCostMicros: estimatedCostMicros, monthEnd: month, headers: [], enforced: true)
        guard !checks.isEmpty else { return admission }
        func amount(_ check: LimitCheck) -> Int {
            switch check.measure {
            case .budget: Int(estimatedCostMicros)
            case .tokensPerMonth: tokensAtMost
            case .tokensPerMinute: estimatedTokens
            case .requestsPerMinute, .requestsPerDay, .concurrentRequests: 1
            }
        }
        // A request larger than a token limit could never pass: say so instead of "retry later".
        if let tooLarge = checks.first(where: { $0.measure.countsTokens && amount($0) > $0.limit }) {
            throw QuotaExceeded(check: tooLarge, retryAfter: .zero, headers: [])
        }
        var values: [RedisValue] = []
        // Once more after seeding a budget counter from the ledger; a second miss is an error.
        for attempt in 0..<2 {
            let reply: RedisValue
            do {
                reply = try await redis.evaluate(
                    QuotaScripts.admit, keys: checks.map { Self.key($0, month: month) },
                    arguments: arguments(checks, requestID: requestID, now: now, month: month, amount: amount))
            } catch {
                return try unavailable(error, admission: &admission)
            }
            guard case .array(let array) = reply else { throw RedisError.server("unexpected reply from the admit script: \(reply)") }
            if array.first?.integer == -1, attempt == 0, let index = array.last?.integer {
                try await seed(checks[Int(index) - 1], caller: caller, month: month, now: now)
                continue
            }
            values = array
            break
        }
        budgetCounters.note(checks, caller: caller, month: month)
        guard values.count == 3 + 2 * checks.count,
              let admitted = values[0].integer, let refusing = values[1].integer, let retryMicros = values[2].integer else {
            throw RedisError.server("unexpected reply from the admit script: \(values)")
        }
        let states = (0..<checks.count).map { index in
            (remaining: values[3 + 2 * index].integer ?? 0, resetMicros: values[4 + 2 * index].integer ?? 0)
        }
        admission.headers = Self.headers(checks, states)
        guard admitted == 1 else {
            let check = checks[Int(refusing) - 1]
            Counter(label: "switchyard_gateway_quota_refusals_total", dimensions: [("limit", check.measure.rawValue), ("scope", check.scope.rawValue)]).increment()
            throw QuotaExceeded(check: check, retryAfter: .microseconds(retryMicros), headers: admission.headers,
                                asked: Int64(amount(check)), left: Int64(states[Int(refusing) - 1].remaining))
        }
        for (check, state) in zip(checks, states) where check.measure == .budget {
            try await applyPolicy(check, usedMicros: Int64(check.limit) - state.remaining, admission: &admission)
        }
        return admission
    }

    /// `warn` adds a header past the first threshold; `throttle` refuses a share of calls past
    /// it that grows to all of them at the budget (`block` refused in the script already).
    private func applyPolicy(_ check: LimitCheck, usedMicros: Int64, admission: inout Admission) async throws {
        guard let budget = check.budget, let first = budget.thresholds.first else { return }
        let used = Double(usedMicros) / Double(budget.amountMicros)
        let start = Double(first) / 100
        guard used >= start else { return }
        switch budget.policy {
        case .warn:
            admission.headers.append(("x-switchyard-budget-warning", "\(Int(used * 100))% of the \(check.scope.rawValue) budget used this month"))
        case .throttle:
            let share = start >= 1 ? 0 : max(0, (1 - used) / (1 - start))
            guard Double.random(in: 0..<1) >= share else { return }
            await settle(admission, actualTokens: 0, actualCostMicros: 0)
            Counter(label: "switchyard_gateway_quota_refusals_total", dimensions: [("limit", "budget_throttle"), ("scope", check.scope.rawValue)]).increment()
            throw QuotaExceeded(check: check, retryAfter: .seconds(60), headers: admission.headers, throttled: true)
        case .block:
            return
        }
    }

    /// Starts a month's budget counter from the ledger's spend, unless another gateway did first.
    private func seed(_ check: LimitCheck, caller: Caller, month: Date, now: Date?) async throws {
        guard let tenant = caller.tenantID else { return }
        let spent: Int64
        do {
            spent = try await spendSoFar(tenant, check.scope == .key ? caller.apiKeyID : nil, Self.monthStart(of: month.addingTimeInterval(-1)), month)
        } catch {
            // Money fails closed: without the month's spend, nothing is let through.
            logger.error("budget counter cannot be seeded from the ledger", metadata: ["error": "\(error)"])
            throw APIError(.serviceUnavailable, "Budgets cannot be checked right now; please retry.", code: "budget_unavailable",
                           headers: [.retryAfter: "1"])
        }
        let expiry = Int64(month.timeIntervalSince1970 * 1000) + 86_400_000
        _ = try await redis.evaluate(QuotaScripts.seedBudget, keys: [Self.key(check, month: month)], arguments: [now.map { String(Self.micros($0)) } ?? "", String(spent), String(expiry)])
    }

    /// Corrects the tokens and cost taken by `admission` to the real ones (nil keeps the
    /// estimate: the call's usage is not known), releases its concurrency slot, and announces
    /// budget thresholds the month's spending has now reached. Never throws: a failure is
    /// logged, and the lease and windows expire by themselves.
    func settle(_ admission: Admission, actualTokens: Int?, actualCostMicros: Int64? = nil, tenant: UUID? = nil, now: Date? = nil) async {
        guard admission.tookAnything else { return }
        // Unknown usage keeps the estimate, on monthly quotas too: their bound was only held
        // while the call ran.
        let used = actualTokens ?? admission.reservedTokens
        do {
            let reply = try await redis.evaluate(
                QuotaScripts.settle, keys: admission.checks.map { Self.key($0, month: admission.monthEnd) },
                arguments: arguments(admission.checks, requestID: admission.requestID, now: now, month: admission.monthEnd) { check in
                    switch check.measure {
                    case .budget: actualCostMicros.map(Int.init)
                    case .tokensPerMonth: used - admission.reservedTokensAtMost
                    case .tokensPerMinute: used - admission.reservedTokens
                    case .requestsPerMinute, .requestsPerDay, .concurrentRequests: 0
                    }
                })
            if let tenant, case .array(let counts) = reply {
                for (check, count) in zip(admission.checks, counts) where check.measure == .budget {
                    await announceThresholds(check, usedMicros: count.integer ?? 0, tenant: tenant, month: admission.monthEnd)
                }
            }
        } catch {
            logger.warning("could not settle quotas", metadata: ["request_id": "\(admission.requestID)", "error": "\(error)"])
        }
    }

    /// Publishes `budget.threshold_crossed` for each threshold the month's spending has reached,
    /// once per threshold per month across all replicas (a Redis key claims each).
    private func announceThresholds(_ check: LimitCheck, usedMicros: Int64, tenant: UUID, month: Date) async {
        guard let budget = check.budget else { return }
        let reached = budget.thresholds.filter { Int64($0) * budget.amountMicros <= usedMicros * 100 }
        guard !reached.isEmpty else { return }
        let period = Self.periodName(monthEnd: month)
        let expiry = String(Int64(month.timeIntervalSince1970 * 1000) + 86_400_000)
        do {
            let claims = try await redis.pipeline(reached.map { ["SET", "\(Self.key(check, month: month)):announced:\($0)", "1", "PXAT", expiry, "NX"] })
            for (threshold, claim) in zip(reached, claims) where claim.text == "OK" {
                await announce(BudgetThresholdCrossed(
                    apiKeyID: check.apiKeyID, thresholdPercent: threshold,
                    budgetMicros: budget.amountMicros, spentMicros: usedMicros, period: period), tenant)
            }
        } catch {
            logger.warning("budget thresholds not announced", metadata: ["error": "\(error)"])
        }
    }

    /// Sets `counter` to the ledger's spend of calls that started before `ledger.completeBefore`,
    /// plus what calls settled here since then, plus the reservations of calls still running
    /// (`QuotaScripts.reconcileBudget`). Returns the counter before and after, or nil when it was
    /// not checked (Redis has no such counter, or not the records to check it by yet).
    func reconcile(_ counter: BudgetCounter, ledger: LedgerSpend, now: Date? = nil) async throws -> (before: Int64, after: Int64)? {
        let reply = try await redis.evaluate(
            QuotaScripts.reconcileBudget, keys: [counter.redisKey],
            arguments: [now.map { String(Self.micros($0)) } ?? "", String(Self.micros(ledger.completeBefore)), String(ledger.spentMicros)])
        guard case .array(let values) = reply, values.first?.integer == 1, values.count == 3,
              let before = values[1].integer, let after = values[2].integer else { return nil }
        return (before, after)
    }

    /// `2026-11` for the month ending at `monthEnd`.
    static func periodName(monthEnd: Date) -> String {
        let start = monthStart(of: monthEnd.addingTimeInterval(-1))
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "UTC")!
        let parts = calendar.dateComponents([.year, .month], from: start)
        return String(format: "%04d-%02d", parts.year!, parts.month!)
    }


    private func unavailable(_ error: any Error, admission: inout Admission) throws -> Admission {
        Counter(label: "switchyard_gateway_quota_store_errors_total", dimensions: [("mode", failureMode.rawValue)]).increment()
        // Money fails closed whatever the rate limits do.
        let mode = admission.checks.contains { $0.measure == .budget } ? .closed : failureMode
        switch mode {
        case .open:
            logger.warning("rate limits not enforced: Redis is unreachable", metadata: ["error": "\(error)"])
            admission.enforced = false
            return admission
        case .closed:
            logger.error("request refused: Redis is unreachable and rate limits fail closed", metadata: ["error": "\(error)"])
            throw APIError(.serviceUnavailable, "Rate limits cannot be checked right now; please retry.", code: "quota_store_unavailable",
                           headers: [.retryAfter: "1"])
        }
    }

    private var leaseMicros: Int64 { Int64(leaseLength.milliseconds) * 1000 }

    /// The Redis key of a check; a monthly one's names its month (by the month's end).
    static func key(_ check: LimitCheck, month: Date) -> String {
        guard check.measure.isMonthly else { return check.redisKey }
        return "\(check.redisKey):\(Int64(month.timeIntervalSince1970))"
    }

    /// The scripts' arguments (`QuotaScripts`); an amount of nil is sent empty.
    private func arguments(_ checks: [LimitCheck], requestID: String, now: Date?, month: Date, amount: (LimitCheck) -> Int?) -> [String] {
        var arguments = [now.map { String(Self.micros($0)) } ?? "", requestID, String(leaseMicros), String(checks.count)]
        for check in checks {
            let (kind, period): (String, Int64) = switch check.measure {
            case .requestsPerMinute, .tokensPerMinute: ("rate", Self.minute)
            case .requestsPerDay: ("rate", Self.day)
            case .tokensPerMonth: ("quota", Self.micros(month))
            case .concurrentRequests: ("concurrency", leaseMicros)
            case .budget: (check.budget?.policy == .warn ? "budget-soft" : "budget", Self.micros(month))
            }
            arguments += [kind, String(check.limit), String(period), amount(check).map(String.init) ?? ""]
        }
        return arguments
    }

    static func micros(_ date: Date) -> Int64 { Int64((date.timeIntervalSince1970 * 1_000_000).rounded()) }

    /// The first instant of the next calendar month, UTC.
    static func monthEnd(of date: Date) -> Date { month(of: date).end }

    /// The first instant of the calendar month, UTC.
    static func monthStart(of date: Date) -> Date { month(of: date).start }

    /// The month of the calls being admitted now, so that a call does not make a `Calendar`.
    private static let latestMonth = Mutex<DateInterval?>(nil)

    private static func month(of date: Date) -> DateInterval {
        if let month = latestMonth.withLock({ $0 }), month.start <= date, date < month.end { return month }
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "UTC")!
        let month = calendar.dateInterval(of: .month, for: date)!
        latestMonth.withLock { $0 = month }
        return month
    }

    /// OpenAI's headers: for requests and for tokens, the limit with the least left.
    static func headers(_ checks: [LimitCheck], _ states: [(remaining: Int64, resetMicros: Int64)]) -> [(String, String)] {
        var headers: [(String, String)] = []
        for (suffix, counts) in [("requests", \LimitCheck.Measure.countsRequests), ("tokens", \LimitCheck.Measure.countsTokens)] {
            let tightest = zip(checks, states).filter { $0.0.measure[keyPath: counts] }.min { $0.1.remaining < $1.1.remaining }
            guard let (check, state) = tightest else { continue }
            headers += [
                ("x-ratelimit-limit-\(suffix)", String(check.limit)),
                ("x-ratelimit-remaining-\(suffix)", String(state.remaining)),
                ("x-ratelimit-reset-\(suffix)", resetText(micros: state.resetMicros)),
            ]
        }
        return headers
    }

    /// OpenAI's reset format: `20ms`, `1s`, `6m0s`, `1h2m3s`.
    static func resetText(micros: Int64) -> String {
        let milliseconds = (micros + 999) / 1000
        if milliseconds < 1000 { return "\(milliseconds)ms" }
        let seconds = (milliseconds + 999) / 1000
        let (hours, minutes, rest) = (seconds / 3600, seconds % 3600 / 60, seconds % 60)
        if hours > 0 { return "\(hours)h\(minutes)m\(rest)s" }
        if minutes > 0 { return "\(minutes)m\(rest)s" }
        return "\(rest)s"
    }
}

extension APIError {
    init(_ exceeded: QuotaExceeded) {
        let check = exceeded.check
        let owner = check.scope == .key ? "this API key" : "your organization"
        if check.measure == .budget {
            var headers = HTTPFields()
            headers[.retryAfter] = String(max(1, (exceeded.retryAfter.milliseconds + 999) / 1000))
            let budget = Money.usd(micros: Int64(check.limit))
            let message = if exceeded.throttled {
                "The monthly budget of \(owner) is nearly spent: calls are being slowed down. Please try again later."
            } else if exceeded.left > 0 {
                // Refused by its reservation, not by a spent budget: say what it would take.
                "This call may cost up to \(Money.usd(micros: exceeded.asked)) USD (its prompt and max_tokens, or without max_tokens the "
                    + "most the model writes), more than the \(Money.usd(micros: exceeded.left)) USD left of the monthly budget of \(owner) "
                    + "(\(budget) USD) beside calls still running. Set a lower max_tokens, raise the budget or wait for the next month."
            } else {
                "You exceeded the monthly budget of \(owner) (\(budget) USD). Raise the budget or wait for the next month."
            }
            self.init(exceeded.throttled ? .rateLimit : .insufficientQuota, message,
                      code: exceeded.throttled ? "budget_throttled" : "insufficient_quota", status: .tooManyRequests, headers: headers)
            return
        }
        let unit = check.measure.rawValue.replacingOccurrences(of: "_", with: " ")
        let message = if exceeded.retryAfter == .zero && check.measure.countsTokens {
            "Request too large: it may use more tokens than the limit of \(check.limit) \(unit) for \(owner). Lower max_tokens or the prompt."
        } else if check.measure == .tokensPerMonth && exceeded.left > 0 {
            // Refused by its reservation, not by a spent quota: say what it would take.
            "This call may use up to \(exceeded.asked) tokens (its prompt and max_tokens, or without max_tokens the most the model writes), "
                + "more than the \(exceeded.left) left of the \(check.limit) \(unit) of \(owner) beside calls still running. "
                + "Set a lower max_tokens or wait for the next month."
        } else {
            "Rate limit reached for \(owner): \(check.limit) \(unit). Please try again later."
        }
        var headers = HTTPFields()
        for (name, value) in exceeded.headers { headers[HTTPField.Name(name)!] = value }
        if exceeded.retryAfter > .zero {
            let seconds = (exceeded.retryAfter.milliseconds + 999) / 1000
            headers[.retryAfter] = String(max(seconds, 1))
        }
        self.init(.rateLimit, message, code: check.measure.rawValue, status: .tooManyRequests, headers: headers)
    }
}
