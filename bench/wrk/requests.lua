-- Replays prepared requests: one line each, "METHOD<TAB>PATH<TAB>BODY". Each thread takes every Nth line
-- and never wraps around (a reused code would be a replay): when its lines run out the thread stops.
-- With WRAP = 1 (the baseline, which keeps no state) the lines repeat for the whole run instead.
-- wrk -s requests.lua URL -- FILE THREADS API_KEY [WRAP]
local threads = {}
local counter = 0

function setup(thread)
  thread:set("id", counter)
  counter = counter + 1
  table.insert(threads, thread)
end

function init(args)
  local path, nthreads, key = args[1], tonumber(args[2]), args[3]
  wrap = args[4] == "1"
  lines = {}
  local i = 0
  for line in io.lines(path) do
    if i % nthreads == id then
      local method, target, body = line:match("^(%u+)\t([^\t]+)\t(.*)$")
      table.insert(lines, {method, target, body})
    end
    i = i + 1
  end
  headers = {["Content-Type"] = "application/json", ["Authorization"] = "Bearer " .. key}
  idx, answered, exhausted = 0, 0, 0
  accepted, rejected, other, server_errors = 0, 0, 0, 0
end

function request()
  idx = idx + 1
  if wrap and idx > #lines then
    idx = 1
  elseif idx > #lines then
    exhausted = exhausted + 1
    idx = #lines
  end
  local item = lines[idx]
  return wrk.format(item[1], item[2], headers, item[3])
end

function response(status, hdrs, body)
  answered = answered + 1
  if not wrap and answered >= #lines then
    wrk.thread:stop()
  end
  if status >= 500 then
    server_errors = server_errors + 1
  elseif status == 201 or body:find('"accepted"', 1, true) then
    accepted = accepted + 1
  elseif status < 300 or status == 409 or status == 422 then
    rejected = rejected + 1
  else
    other = other + 1
  end
end

function done(summary, latency, requests)
  local a, r, o, s, e = 0, 0, 0, 0, 0
  for _, t in ipairs(threads) do
    a = a + t:get("accepted")
    r = r + t:get("rejected")
    o = o + t:get("other")
    s = s + t:get("server_errors")
    e = e + t:get("exhausted")
  end
  io.write(string.format(
    'RESULT {"requests": %d, "seconds": %.3f, "p50_ms": %.3f, "p99_ms": %.3f, "non2xx": %d, ' ..
    '"socket_errors": %d, "accepted": %d, "rejected": %d, "other": %d, "server_errors": %d, "exhausted": %d}\n',
    summary.requests, summary.duration / 1e6, latency:percentile(50) / 1000, latency:percentile(99) / 1000,
    summary.errors.status, summary.errors.connect + summary.errors.read + summary.errors.write +
    summary.errors.timeout, a, r, o, s, e))
end
