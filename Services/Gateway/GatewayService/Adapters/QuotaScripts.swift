import SwitchyardRedis

/// The Lua scripts behind `QuotaLimiter`. Each runs atomically in Redis, so however many
/// gateway replicas share one Redis, a limit is checked and taken as one step.
///
/// Arguments of both: `ARGV[1]` now in microseconds, or empty for Redis's own clock (so replicas
/// with clocks apart, and requests whose times were read out of order, still see one timeline),
/// `ARGV[2]` the request id, `ARGV[3]` the
/// number of limits n, then four arguments per limit i (whose key is `KEYS[i]`):
/// kind, limit, period in microseconds (for `quota`: the end of the period, unix µs), amount.
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
///   `{-1, index}` and the caller seeds it from the ledger first.
enum QuotaScripts {
    /// Reads the arguments both scripts share: the time, the request id and the count of limits.
    private static let arguments = """
        local now = tonumber(ARGV[1])
        if not now then
          local time = redis.call('TIME')
          now = tonumber(time[1]) * 1000000 + tonumber(time[2])
        end
        local request = ARGV[2]
        local n = tonumber(ARGV[3])

        """

    /// Checks every limit and takes them all, or none. Returns
    /// `{admitted (1|0), refusing limit's index (0 if admitted), retry after µs,
    ///   then per limit: remaining, reset µs}`.
    static let admit = RedisScript(arguments + """
        local refused, retry = 0, 0
        local out = {}
        local plans = {}
        for i = 1, n do
          local b = 3 + (i - 1) * 4
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
              plans[i] = amount
              remaining = limit - used - amount
            end
            reset = period - now
          elseif kind == 'budget' or kind == 'budget-soft' then
            local stored = redis.call('GET', key)
            if not stored then return {-1, i} end
            local used = tonumber(stored)
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
            local b = 3 + (i - 1) * 4
            local kind, period = ARGV[b + 1], tonumber(ARGV[b + 3])
            local key = KEYS[i]
            if kind == 'rate' then
              redis.call('SET', key, string.format('%.0f', plans[i]), 'PX', math.ceil((plans[i] - now) / 1000) + 1000)
            elseif kind == 'quota' then
              redis.call('INCRBY', key, plans[i])
              redis.call('PEXPIREAT', key, math.ceil(period / 1000) + 86400000)
            elseif kind == 'budget' or kind == 'budget-soft' then
              redis.call('INCRBY', key, plans[i])
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

    /// Settles what `admit` took once the real usage is known: the amount is the difference
    /// (negative gives back an over-estimate, never below an empty bucket); a concurrency
    /// lease is released. Returns each limit's count afterwards (budgets: micro-USD used).
    static let settle = RedisScript(arguments + """
        local counts = {}
        for i = 1, n do
          local b = 3 + (i - 1) * 4
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
          elseif (kind == 'quota' or kind == 'budget' or kind == 'budget-soft') and amount ~= 0 then
            if redis.call('EXISTS', key) == 1 then
              local used = redis.call('INCRBY', key, amount)
              if used < 0 then redis.call('SET', key, 0, 'KEEPTTL') end
            end
          elseif kind == 'concurrency' then
            redis.call('ZREM', key, request)
          end
          counts[i] = 0
          if kind == 'quota' or kind == 'budget' or kind == 'budget-soft' then
            counts[i] = tonumber(redis.call('GET', key) or '0') or 0
          end
        end
        return counts
        """)
}
