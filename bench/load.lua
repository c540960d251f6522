-- wrk script for the harness: POST bodies for track / bulk / sync, per-status counts, JSON summary.
--
-- Configured by environment (set by bench/harness.py):
--   BENCH_MODE       track | bulk | sync
--   BENCH_PATH       request path
--   BENCH_KEY        publishable key (X-Store-Key); empty for the ceiling
--   BENCH_STORE      storeName for tracking events
--   BENCH_THREADS    wrk threads (to interleave counters)
--   BENCH_TOKENS     distinct session tokens for sync (each synced twice in a row, then again)
--   BENCH_PREFIX     prefix making this run's session tokens unique
--   BENCH_IP_OFFSET  where this run starts in 198.18.0.0/15 (RFC 2544 benchmarking range)
--   BENCH_BATCH      events per bulk request
--
-- Each request carries X-Forwarded-For with a different address of 198.18.0.0/15 (the harness
-- runs the server with TRUSTED_PROXIES=127.0.0.1/32, as behind a load balancer), so the per-IP
-- rate limit (100/min) is exercised on every request but never reached: the benchmark measures
-- throughput, not the limiter refusing one client.

local mode = os.getenv("BENCH_MODE") or "track"
local path = os.getenv("BENCH_PATH") or "/"
local key = os.getenv("BENCH_KEY") or ""
local store = os.getenv("BENCH_STORE") or "bench-0.example.com"
local nthreads = tonumber(os.getenv("BENCH_THREADS") or "1")
local tokens = tonumber(os.getenv("BENCH_TOKENS") or "20000")
local prefix = os.getenv("BENCH_PREFIX") or "run"
local ip_offset = tonumber(os.getenv("BENCH_IP_OFFSET") or "0")
local batch = tonumber(os.getenv("BENCH_BATCH") or "1000")
local origin = os.getenv("BENCH_ORIGIN") or ""

local threads = {}
local counter = 0
statuses = {}
local bulk_body = nil

function setup(thread)
  thread:set("tid", #threads)
  table.insert(threads, thread)
end

local function event_json(n)
  return '{"storeName":"' .. store .. '","productId":"prod-' .. (n % 2000) ..
    '","productTitle":"Bench product ' .. (n % 2000) ..
    '","productUrl":"https://' .. store .. '/products/prod-' .. (n % 2000) ..
    '","variantId":"v-' .. (n % 7) .. '","sessionId":"' .. prefix .. '-s-' .. (n % 5000) ..
    '","customerEmail":"customer' .. (n % 1000) .. '@example.com","customerFirstName":"Ada"' ..
    ',"generatedImageUrl":"https://img.example.com/g/' .. n .. '.png"' ..
    ',"userAgent":"Mozilla/5.0 (X11; Linux x86_64) wrk"}'
end

function init(args)
  if mode == "bulk" then
    local events = {}
    for i = 1, batch do
      events[i] = event_json(tid * batch + i)
    end
    bulk_body = '{"events":[' .. table.concat(events, ",") .. ']}'
  end
end

local function headers_for(n)
  local ipn = (ip_offset + n) % 131072
  local ip = "198." .. (18 + math.floor(ipn / 65536)) .. "." .. (math.floor(ipn / 256) % 256) .. "." .. (ipn % 256)
  local headers = { ["Content-Type"] = "application/json", ["X-Forwarded-For"] = ip }
  if key ~= "" then
    headers["X-Store-Key"] = key
  end
  if origin ~= "" then
    headers["Origin"] = origin
  end
  return headers
end

function request()
  local n = counter * nthreads + tid
  counter = counter + 1
  local body
  if mode == "bulk" then
    body = bulk_body
  elseif mode == "sync" then
    -- Every token is synced twice in a row by this thread (a create, then an update; the two may
    -- race on different connections), so project and ceiling see the same 50/50 mix whatever
    -- their speed, until the thread's share of the tokens is used up (then: updates only).
    local per_thread = math.floor(tokens / nthreads)
    local token = tid * per_thread + (math.floor((counter - 1) / 2) % per_thread)
    body = '{"session_token":"' .. prefix .. '-' .. token .. '","items":[' ..
      '{"productId":"prod-' .. (token % 500) .. '","quantity":' .. (1 + n % 3) .. ',"price":19.9,"title":"Bench product"},' ..
      '{"productId":"prod-acc","quantity":1,"price":5,"title":"Accessory"}]}'
  else
    body = event_json(n)
  end
  return wrk.format("POST", path, headers_for(n), body)
end

function response(status, headers, body)
  statuses[status] = (statuses[status] or 0) + 1
end

function done(summary, latency, requests)
  local merged = {}
  for _, thread in ipairs(threads) do
    local counts = thread:get("statuses") or {}
    for status, count in pairs(counts) do
      merged[status] = (merged[status] or 0) + count
    end
  end
  local parts = {}
  for status, count in pairs(merged) do
    table.insert(parts, '"' .. status .. '":' .. count)
  end
  io.write(string.format(
    'BENCH_JSON {"requests":%d,"duration_us":%d,"bytes":%d,' ..
    '"errors":{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d},' ..
    '"latency_us":{"p50":%d,"p90":%d,"p99":%d,"max":%d,"mean":%.1f},"statuses":{%s}}\n',
    summary.requests, summary.duration, summary.bytes,
    summary.errors.connect, summary.errors.read, summary.errors.write, summary.errors.status, summary.errors.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max, latency.mean,
    table.concat(parts, ",")))
end
