-- wrk script for bench/ingest.py: POSTs distinct structured CloudEvents (every request a
-- new CloudEvent id and IMM task id, so the daemon commits each one instead of answering
-- a duplicate).
--
-- Environment (read by every Lua state wrk creates, so the same in all of them):
--   BENCH_RUN      prefix of the ids, different in every round
--   BENCH_OUT      file that done() writes its results to (JSON, then samples)
--   BENCH_RATE     unset: closed loop, each connection sends as fast as it is answered.
--                  Set (events/s for the whole run): paced, for `ingest.py --rate`. Run
--                  it with one connection per thread (-t N -c N): each connection then
--                  sends on its own fixed schedule (rate/N a second, the connections'
--                  schedules staggered), and a request's latency is counted from the time
--                  it was due, not the time it went out, so a stalled server is charged
--                  for the requests it kept waiting (wrk alone would hide them: it only
--                  sends when the previous answer is in).
--   BENCH_CONNECTIONS  with BENCH_RATE: the number of connections (= threads)

local ffi = require("ffi")
ffi.cdef([[
typedef struct { long tv_sec; long tv_nsec; } bench_timespec;
int clock_gettime(int clock, bench_timespec *now);
]])
local CLOCK_MONOTONIC = 1 -- Linux
local clock = ffi.new("bench_timespec")

local function now_us()
  ffi.C.clock_gettime(CLOCK_MONOTONIC, clock)
  return tonumber(clock.tv_sec) * 1e6 + tonumber(clock.tv_nsec) / 1e3
end

local RUN = os.getenv("BENCH_RUN") or "wrk"
local RATE = tonumber(os.getenv("BENCH_RATE") or "")
local OUT = os.getenv("BENCH_OUT")

local HEADERS = { ["Content-Type"] = "application/cloudevents+json" }
-- the event mix of bench/ingest.py's cloud_event(): one in ten tasks failed, 50 batches
local EVENT = '{"specversion":"1.0","id":"bench-%s-%d-%d","source":"acs.imm",'
  .. '"type":"imm:Task:OfficeConversion","subject":"acs.imm:cn-shanghai:1234567890123456:bench",'
  .. '"time":"2026-11-20T11:30:02+08:00","datacontenttype":"application/json",'
  .. '"data":{"ProjectName":"bench","TaskType":"OfficeConversion",'
  .. '"TaskId":"OfficeConversion-%s-%d-%d","Status":"%s","Code":"%s",'
  .. '"EventSourceId":"batch-%s-%d","StartTime":"2026-11-20T03:29:58.102Z",'
  .. '"EndTime":"2026-11-20T03:30:02.211Z","Sources":[{"URI":"oss://bench/in/%d-%d.docx"}]}}'

-- ---------------------------------------------------------------- setup and done (main state)

local threads = {}

function setup(thread)
  thread:set("index", #threads)
  -- one epoch for all threads (CLOCK_MONOTONIC is system-wide): the schedules start
  -- a little after the threads are set up, once they have connected
  thread:set("epoch", now_us() + 200000)
  table.insert(threads, thread)
end

function done(summary, latency, requests)
  local out = assert(io.open(assert(OUT, "BENCH_OUT is not set"), "w"))
  local errors = summary.errors
  out:write(string.format(
    '{"requests":%d,"duration_us":%d,"connect":%d,"read":%d,"write":%d,"status":%d,'
      .. '"timeout":%d,"p50_us":%d,"p99_us":%d,"p999_us":%d,"max_us":%d}\n',
    summary.requests, summary.duration, errors.connect, errors.read, errors.write,
    errors.status, errors.timeout, latency:percentile(50), latency:percentile(99),
    latency:percentile(99.9), latency.max
  ))
  if RATE then
    -- paced: each request's latency from its due time, how late it went out, and that due
    -- time (CLOCK_MONOTONIC), all in microseconds
    for _, thread in ipairs(threads) do
      local due, late, at = thread:get("due_latency"), thread:get("late"), thread:get("due_at")
      for i = 1, #due do
        out:write(string.format("%d %d %d\n", due[i], late[i], at[i]))
      end
    end
  end
  out:close()
end

-- ---------------------------------------------------------------- running (one state a thread)

local sent = 0

local function event()
  sent = sent + 1
  local failed = sent % 10 == 0
  return string.format(
    EVENT, RUN, index, sent, RUN, index, sent, failed and "Failed" or "Succeeded",
    failed and "InvalidFile.Corrupted" or "", RUN, sent % 50, index, sent
  )
end

if not RATE then
  function request()
    return wrk.format("POST", nil, HEADERS, event())
  end
else
  local interval, next_due, started, lateness, due
  due_latency, late, due_at = {}, {}, {}

  function init(args)
    local n = assert(tonumber(os.getenv("BENCH_CONNECTIONS")), "BENCH_CONNECTIONS is not set")
    interval = 1e6 * n / RATE
    next_due = epoch + interval * index / n -- connection i starts i/N of an interval late
  end

  function delay()
    local wait = (next_due - now_us()) / 1000
    return wait > 0 and math.floor(wait) or 0 -- wrk's timers count whole milliseconds
  end

  function request()
    local now = now_us()
    -- woken up to a millisecond early (the timer's rounding): count from the send then
    due = next_due
    started = math.min(next_due, now)
    lateness = math.max(0, math.floor(now - next_due))
    next_due = next_due + interval
    return wrk.format("POST", nil, HEADERS, event())
  end

  function response(status, headers, body)
    due_latency[#due_latency + 1] = math.floor(now_us() - started)
    late[#late + 1] = lateness
    due_at[#due_at + 1] = math.floor(due)
  end
end
