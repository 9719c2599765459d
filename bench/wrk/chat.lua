-- wrk script for `make bench`: a realistic chat completion request with a tenant's API key,
-- and a summary line (`BENCH {json}`) the runner reads. Non-2xx answers are counted as errors.
--   BENCH_KEY     the bearer token (a tenant API key; unused by the direct and one-hop targets)
--   BENCH_MODEL   the model to ask for
wrk.method = "POST"
wrk.path = "/v1/chat/completions"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer " .. (os.getenv("BENCH_KEY") or "none")
wrk.body = string.format([[{"model":"%s","messages":[{"role":"system","content":"You are a concise assistant for a logistics company."},{"role":"user","content":"Summarise in one sentence why a shipment from Rotterdam to Hamburg could be delayed this week."}],"max_tokens":64,"temperature":0.2}]],
  os.getenv("BENCH_MODEL") or "bench-chat")

function done(summary, latency, requests)
  local errors = summary.errors
  local socket_errors = errors.connect + errors.read + errors.write + errors.timeout
  io.write(string.format(
    'BENCH {"requests":%d,"duration_us":%d,"non2xx":%d,"socket_errors":%d,"p50_us":%d,"p90_us":%d,"p99_us":%d,"max_us":%d}\n',
    summary.requests, summary.duration, errors.status, socket_errors,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max))
end
