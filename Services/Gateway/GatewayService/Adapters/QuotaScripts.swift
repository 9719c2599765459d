import SwitchyardRedis

/// The Lua scripts behind `QuotaLimiter`. Each runs atomically in Redis, so however many
/// gateway replicas share one Redis, a limit is checked and taken as one step.
///
/// Arguments of `admit` and `settle`: `ARGV[1]` now in microseconds, or empty for Redis's own
/// clock (so replicas with clocks apart, and requests whose times were read out of order, still
/// see one timeline), `ARGV[2]` the request id, `ARGV[3]` how long a reservation is held at most
/// (µs), `ARGV[4]` the number of limits n, then four arguments per limit i (whose key is
/// `KEYS[i]`): kind, limit, period in microseconds (for `quota` and budgets: the end of the
/// period, unix µs), amount.
///
/// Kinds:
/// - `rate`: GCRA (generic cell rate algorithm). The key holds the theoretical arrival time
///   (µs); an amount of `limit` fits in one period at once, then it refills continuously. Unlike
///   a fixed window it never admits twice the limit around a window boundary.
/// - `quota`: a counter for one calendar period (tokens per month), kept until the period ends.
/// - `concurrency`: a sorted set of leases (request id → expiry), so a gateway that dies
///   mid-request cannot hold a slot longer than the lease.
/// - `budget`: micro-USD spent and reserved in one calendar month, refused past the limit;
///   `budget-soft` counts the same but never refuses (the `warn` policy). A counter Redis does
///   not have (a new month, or Redis lost it) is not taken as zero: the script answers
///   `{-1, index}` and the caller seeds it from the ledger first (`seedBudget`).
///
/// Beside a budget counter `K` live what lets it be checked against the ledger (`reconcileBudget`):
/// - `K:reserved` (request id → micro-USD) and `K:leases` (request id → expiry): the calls
///   admitted and not yet settled. A reservation whose lease ran out (its gateway died) is given
///   back by the next call that checks the budget.
/// - `K:settled:<minute>`: what calls settled in each minute (Redis's clock), kept
///   `settledRetentionMinutes`: the spend the ledger may not have recorded yet.
/// - `K:since`: when the counter was started, the first moment those records cover.
enum QuotaScripts {
    /// How long a minute's settled spend is kept beside a budget counter.
    static let settledRetentionMinutes = 120

    /// Reads the time (`ARGV[1]`, or Redis's clock) and defines the budget counter's helpers.
    private static let clockAndBudgetHelpers = """
        local now = tonumber(ARGV[1])
        if not now then
          local time = redis.call('TIME')
          now = tonumber(time[1]) * 1000000 + tonumber(time[2])
        end

        -- Gives back the reservations of `key` whose lease ran out (at most `most`); returns how many.
        local function release_expired(key, most)
          local expired = redis.call('ZRANGEBYSCORE', key .. ':leases', '-inf', now, 'LIMIT', 0, most)
          if #expired == 0 then return 0 end
          local total = 0
          for _, amount in ipairs(redis.call('HMGET', key .. ':reserved', unpack(expired))) do
            total = total + (tonumber(amount) or 0)
          end
          redis.call('HDEL', key .. ':reserved', unpack(expired))
          redis.call('ZREM', key .. ':leases', unpack(expired))
          if total ~= 0 and redis.call('DECRBY', key, string.format('%.0f', total)) < 0 then redis.call('SET', key, 0, 'KEEPTTL') end
          return #expired
        end

        """

    /// Reads the arguments `admit` and `settle` share: the request id, the lease, the count of limits.
    private static let arguments = clockAndBudgetHelpers + """
        local request = ARGV[2]
        local lease = tonumber(ARGV[3])
        local n = tonumber(ARGV[4])

        """

    /// Checks every limit and takes them all, or none. Returns
    /// `{admitted (1|0), refusing limit's index (0 if admitted), retry after µs,
    ///   then per limit: remaining, reset µs}`.
    static let admit = RedisScript(arguments + """
        -- A month's counters are kept until a day after it ends (`period`, unix µs), as `seedBudget` keeps a budget's.
        local function month_expiry(period) return math.ceil(period / 1000) + 86400000 end
        local refused, retry = 0, 0
        local out = {}
        local plans = {}
        for i = 1, n do
          local b = 4 + (i - 1) * 4
          local kind, limit, period, amount = ARGV[b + 1], tonumber(ARGV[b + 2]), tonumber(ARGV[b + 3]), tonumber(ARGV[b + 4])
          local key = KEYS[i]
          local remaining, reset = 0, 0
          if kind == 'rate' then
            local interval = period / limit
            local tat = tonumber(redis.call('GET', key) or '0')
            if tat < now then tat = now end
            local taken = tat + amount * interval - now
            if taken > period then
              if refused == 0 then refused, retry = i, taken - period end
              remaining, reset = math.floor((period - (tat - now)) / interval), tat - now
            else
              plans[i] = tat + amount * interval
              remaining, reset = math.floor((period - taken) / interval), taken
            end
          elseif kind == 'quota' then
            local used = tonumber(redis.call('GET', key) or '0')
            if used + amount > limit then
              if refused == 0 then refused, retry = i, period - now end
              remaining = limit - used
            else
              plans[i] = used + amount
              remaining = limit - used - amount
            end
            reset = period - now
          elseif kind == 'budget' or kind == 'budget-soft' then
            local stored = redis.call('GET', key)
            if not stored then return {-1, i} end
            local used = tonumber(stored)
            if release_expired(key, 64) > 0 then used = tonumber(redis.call('GET', key)) end
            if kind == 'budget' and used + amount > limit then
              if refused == 0 then refused, retry = i, period - now end
              remaining = limit - used
            else
              plans[i] = amount
              remaining = limit - used - amount
            end
            reset = period - now
          elseif kind == 'concurrency' then
            redis.call('ZREMRANGEBYSCORE', key, '-inf', now)
            local active = redis.call('ZCARD', key)
            if active + 1 > limit then
              if refused == 0 then refused, retry = i, 1000000 end
              remaining = limit - active
            else
              plans[i] = now + period
              remaining = limit - active - 1
            end
          else
            return redis.error_reply('unknown limit kind ' .. tostring(kind))
          end
          -- A soft budget may be overspent: its remainder goes negative; no other count does.
          if kind ~= 'budget-soft' then remaining = math.max(remaining, 0) end
          out[#out + 1] = math.floor(remaining)
          out[#out + 1] = math.floor(math.max(reset, 0))
        end
        if refused == 0 then
          for i = 1, n do
            local b = 4 + (i - 1) * 4
            local kind, period = ARGV[b + 1], tonumber(ARGV[b + 3])
            local key = KEYS[i]
            if kind == 'rate' then
              redis.call('SET', key, string.format('%.0f', plans[i]), 'PX', math.ceil((plans[i] - now) / 1000) + 1000)
            elseif kind == 'quota' then
              redis.call('SET', key, string.format('%.0f', plans[i]), 'PXAT', month_expiry(period))
            elseif kind == 'budget' or kind == 'budget-soft' then
              redis.call('INCRBY', key, plans[i])
              -- The calls' records expire with the counter; set once, when they are made.
              local new = redis.call('EXISTS', key .. ':reserved', key .. ':leases') < 2
              redis.call('HSET', key .. ':reserved', request, string.format('%.0f', plans[i]))
              redis.call('ZADD', key .. ':leases', string.format('%.0f', now + lease), request)
              if new then
                redis.call('PEXPIREAT', key .. ':reserved', month_expiry(period))
                redis.call('PEXPIREAT', key .. ':leases', month_expiry(period))
              end
            else
              redis.call('ZADD', key, plans[i], request)
              redis.call('PEXPIRE', key, math.ceil(period / 1000) + 1000)
            end
          end
        end
        local result = {refused == 0 and 1 or 0, refused, math.floor(retry)}
        for _, v in ipairs(out) do result[#result + 1] = v end
        return result
        """)

    /// Settles what `admit` took once the real usage is known. For tokens the amount is the
    /// difference (negative gives back an over-estimate, never below an empty bucket); for a
    /// budget it is the call's cost, or empty when unknown (the reservation stands as its cost):
    /// the reservation is replaced by it (or, when its lease ran out and it was given back
    /// already, the cost is added) and the cost is recorded in this minute's settled spend. A
    /// concurrency lease is released. Returns each budget's micro-USD used afterwards (0 for the
    /// other limits, whose counts the gateway does not need).
    static let settle = RedisScript(arguments + """
        local counts = {}
        for i = 1, n do
          local b = 4 + (i - 1) * 4
          local kind, limit, period, amount = ARGV[b + 1], tonumber(ARGV[b + 2]), tonumber(ARGV[b + 3]), tonumber(ARGV[b + 4])
          local key = KEYS[i]
          if kind == 'rate' and amount ~= 0 then
            local stored = redis.call('GET', key)
            if stored then
              local tat = tonumber(stored) + amount * (period / limit)
              if tat > now then
                redis.call('SET', key, string.format('%.0f', tat), 'PX', math.ceil((tat - now) / 1000) + 1000)
              else
                redis.call('DEL', key)
              end
            end
          elseif kind == 'quota' and amount ~= 0 then
            if redis.call('EXISTS', key) == 1 then
              local used = redis.call('INCRBY', key, amount)
              if used < 0 then redis.call('SET', key, 0, 'KEEPTTL') end
            end
          elseif kind == 'budget' or kind == 'budget-soft' then
            local stored = redis.call('GET', key)
            if stored then
              local reserved = tonumber(redis.call('HGET', key .. ':reserved', request) or '')
              local cost = amount or reserved or 0
              local change = cost - (reserved or 0)
              if reserved then
                redis.call('HDEL', key .. ':reserved', request)
                redis.call('ZREM', key .. ':leases', request)
              end
              counts[i] = tonumber(stored)
              if change ~= 0 then
                counts[i] = redis.call('INCRBY', key, string.format('%.0f', change))
                if counts[i] < 0 then
                  redis.call('SET', key, 0, 'KEEPTTL')
                  counts[i] = 0
                end
              end
              if cost > 0 then
                local minute = key .. ':settled:' .. math.floor(now / 60000000)
                local text = string.format('%.0f', cost)
                -- Only a new minute's count equals the first cost added to it.
                if redis.call('INCRBY', minute, text) == tonumber(text) then
                  redis.call('PEXPIRE', minute, \(settledRetentionMinutes * 60_000))
                end
              end
            end
          elseif kind == 'concurrency' then
            redis.call('ZREM', key, request)
          end
          counts[i] = counts[i] or 0
        end
        return counts
        """)

    /// Starts a month's budget counter at the ledger's spend unless it exists (another gateway
    /// started it), and notes when. `KEYS[1]` the counter, `ARGV[1]` now (µs) or empty,
    /// `ARGV[2]` the spend, `ARGV[3]` the expiry (unix ms). Returns 1 when it started it.
    static let seedBudget = RedisScript(clockAndBudgetHelpers + """
        local key = KEYS[1]
        if not redis.call('SET', key, ARGV[2], 'PXAT', ARGV[3], 'NX') then return 0 end
        redis.call('SET', key .. ':since', string.format('%.0f', now), 'PXAT', ARGV[3])
        return 1
        """)

    /// Sets a budget counter to what it should hold: the ledger's spend of calls that started
    /// before `ARGV[2]` (µs, a whole minute up to which the ledger is complete), given as
    /// `ARGV[3]`, plus what calls settled here since that minute, plus the reservations of calls
    /// still running. Leaves it alone when its records do not reach back that far (it was started
    /// later, or the minute is older than the settled spend is kept). `KEYS[1]` the counter,
    /// `ARGV[1]` now (µs) or empty. Returns `{1, before, after}` when it checked the counter,
    /// `{0}` when it could not.
    static let reconcileBudget = RedisScript(clockAndBudgetHelpers + """
        local key = KEYS[1]
        local complete, ledger = tonumber(ARGV[2]), tonumber(ARGV[3])
        if not redis.call('GET', key) then return {0} end
        local since = tonumber(redis.call('GET', key .. ':since') or '')
        if not since then
          -- A counter from before these records: they start now.
          local expiry = redis.call('PEXPIRETIME', key)
          if expiry > 0 then redis.call('SET', key .. ':since', string.format('%.0f', now), 'PXAT', expiry) end
          return {0}
        end
        local retained = (\(settledRetentionMinutes) - 10) * 60000000
        if since > complete or complete < now - retained then return {0} end
        while release_expired(key, 1000) > 0 do end
        local reserved = 0
        for _, amount in ipairs(redis.call('HVALS', key .. ':reserved')) do reserved = reserved + tonumber(amount) end
        local settled = 0
        for minute = math.floor(complete / 60000000), math.floor(now / 60000000) do
          settled = settled + tonumber(redis.call('GET', key .. ':settled:' .. minute) or '0')
        end
        local before = tonumber(redis.call('GET', key))
        local after = ledger + settled + reserved
        if after ~= before then redis.call('SET', key, string.format('%.0f', after), 'KEEPTTL') end
        return {1, before, after}
        """)
}
