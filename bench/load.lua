-- wrk script for the server benchmarks (bench/server.py): POSTs decisions or GETs a list of paths,
-- optionally paced at a fixed rate, and prints one JSON line of figures when done.
--   wrk ... -s bench/load.lua URL -- post ORIGIN SITE VERSION [RATE [SUBJECTS_FILE]]
--   wrk ... -s bench/load.lua URL -- get PATHS_FILE [RATE [HEADER_NAME HEADER_VALUE]]
-- RATE 0 means as fast as the server answers; SUBJECTS_FILE (lines "USER<TAB>SUBJECT_TOKEN") sends
-- decisions of those users, each proven by its token, in turn.
local ffi = require("ffi")
ffi.cdef [[
  typedef struct { long tv_sec; long tv_nsec; } bench_timespec;
  int clock_gettime(int clock_id, bench_timespec *tp);
]]
local clock = ffi.new("bench_timespec")
local function now_ms()
  ffi.C.clock_gettime(1, clock) -- CLOCK_MONOTONIC
  return tonumber(clock.tv_sec) * 1000 + tonumber(clock.tv_nsec) / 1e6
end

local threads = {}
function setup(thread)
  thread:set("number", #threads)
  table.insert(threads, thread)
end

local mode, paths, body_format, interval, next_at, run_id, subjects
local sent = 0
created, refused, refusals = 0, 0, ""

function init(args)
  mode = args[1]
  local rate
  if mode == "post" then
    local origin, site, version = args[2], args[3], args[4]
    rate, subjects = tonumber(args[5]), {}
    if args[6] then
      for line in io.lines(args[6]) do
        local user, token = line:match("^([^\t]+)\t(.+)$")
        table.insert(subjects, string.format(',"subject_id":"%s","subject_token":"%s"', user, token))
      end
    end
    wrk.method = "POST"
    wrk.headers["Content-Type"] = "application/json"
    wrk.headers["Origin"] = origin
    -- What the widget sends when a visitor accepts all: a new visitor and idempotency key each time.
    body_format = '{"site_id":"' .. site .. '","policy_version":"' .. version .. '","language":"en",'
      .. '"choices":{"necessary":true,"analytics":true,"advertising":false},'
      .. '"signals":{"dnt":false,"gpc":false},"collection_method":"banner",'
      .. '"visitor_secret":"visitor-credential-%s","idempotency_key":"k%s"%s}'
  else
    paths = {}
    for line in io.lines(args[2]) do table.insert(paths, line) end
    rate = tonumber(args[3])
    if args[4] then wrk.headers[args[4]] = args[5] end
  end
  if rate and rate > 0 then interval = 1000 / rate end
  -- Keys unique across runs and threads: 8 random bytes per thread, then a counter.
  local urandom = io.open("/dev/urandom", "rb")
  run_id = urandom:read(8):gsub(".", function(c) return string.format("%02x", c:byte()) end)
  urandom:close()
end

function request()
  sent = sent + 1
  if mode == "post" then
    local id = run_id .. sent
    local subject = ""
    if #subjects > 0 then subject = subjects[sent % #subjects + 1] end
    return wrk.format(nil, nil, nil, string.format(body_format, id, id, subject))
  end
  return wrk.format("GET", paths[(sent * 7 + number) % #paths + 1])
end

-- Paced runs: each request gets the next slot of a fixed schedule (open-loop, as users arrive).
function delay()
  if not interval then return 0 end
  local now = now_ms()
  next_at = (next_at or now) + interval
  return math.max(0, next_at - now)
end

function response(status, headers, body)
  if status == 201 or (mode == "get" and status == 200) then
    created = created + 1
  else
    refused = refused + 1
    if #refusals < 200 then refusals = refusals .. " " .. status end
  end
end

function done(summary, latency, requests)
  local ok, bad, statuses = 0, 0, ""
  for _, thread in ipairs(threads) do
    ok = ok + thread:get("created")
    bad = bad + thread:get("refused")
    statuses = statuses .. thread:get("refusals")
  end
  local errors = summary.errors
  io.write(string.format(
    '{"requests":%d,"duration_us":%d,"ok":%d,"not_ok":%d,"socket_errors":%d,"p50_us":%d,"p90_us":%d,"p99_us":%d,"max_us":%d,"refusals":"%s"}\n',
    summary.requests, summary.duration, ok, bad, errors.connect + errors.read + errors.write + errors.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max, statuses))
end
