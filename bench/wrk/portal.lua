-- Drives the portal from wrk: one script for every endpoint of the benchmark.
--
--   wrk -t1 -c16 -d10s --latency -s bench/wrk/portal.lua http://127.0.0.1:8101 -- <path> [requests file]
--
-- With a requests file (lines of "<agent ip>\t<JSON body>", written by bench/run.py from the
-- seeded keys and their fingerprints) it POSTs the bodies in turn, each with its agent's address in
-- X-Forwarded-For as the production proxy would send it; without one it GETs <path>.
-- BENCH_PORTS (e.g. "8101,8102") spreads the threads over several portal instances;
-- BENCH_COOKIE adds a Cookie header (a signed-in super-admin for the list pages).
-- At the end it prints one line "BENCH_JSON {...}" with the counts and latency percentiles (us).

local ports = os.getenv("BENCH_PORTS")
local counter = 0

function setup(thread)
  counter = counter + 1
  thread:set("id", counter - 1)
  if ports and ports ~= "" then
    local list = {}
    for port in string.gmatch(ports, "[^,]+") do
      table.insert(list, port)
    end
    local port = list[((counter - 1) % #list) + 1]
    thread.addr = wrk.lookup("127.0.0.1", port)[1]
  end
end

local requests = {}
local index = 0

function init(args)
  local path = args[1] or "/healthz"
  local file = args[2]
  local headers = {["X-Forwarded-Proto"] = "https"}
  local cookie = os.getenv("BENCH_COOKIE")
  if cookie and cookie ~= "" then
    headers["Cookie"] = cookie
  end
  if file and file ~= "" then
    for line in io.lines(file) do
      local ip, body = string.match(line, "^([^\t]*)\t(.*)$")
      if body then
        local h = {["Content-Type"] = "application/json", ["X-Forwarded-Proto"] = "https", ["X-Forwarded-For"] = ip}
        table.insert(requests, wrk.format("POST", path, h, body))
      end
    end
  else
    table.insert(requests, wrk.format("GET", path, headers))
  end
  -- Threads start at different places of the cycle, so they do not send the same key at once.
  index = math.floor((id or 0) * #requests / 2) % #requests
end

function request()
  index = index + 1
  if index > #requests then
    index = 1
  end
  return requests[index]
end

function done(summary, latency, requests_)
  local e = summary.errors
  io.write(string.format(
    'BENCH_JSON {"requests": %d, "duration_us": %d, "bytes": %d, "errors_connect": %d, "errors_read": %d, ' ..
    '"errors_write": %d, "errors_status": %d, "errors_timeout": %d, "latency_us": {"mean": %.1f, ' ..
    '"p50": %d, "p90": %d, "p95": %d, "p99": %d, "max": %d}}\n',
    summary.requests, summary.duration, summary.bytes, e.connect, e.read, e.write, e.status, e.timeout,
    latency.mean, latency:percentile(50), latency:percentile(90), latency:percentile(95),
    latency:percentile(99), latency.max))
end
