-- wrk script: one legacy bot vote per request, each from a new voter, so that
-- every delivery is a new de-duplication key (claimed, handled, confirmed).
-- DEDUP_AUTH = the route's Authorization; DEDUP_RUN = a number (0..999999)
-- unique to the run, so that two runs against one Redis never share a voter.
local run = tonumber(os.getenv("DEDUP_RUN") or "0")
local threads = 0

function setup(thread) -- main state: give each wrk thread its own range of voters
  thread:set("first", threads * 1000000000)
  threads = threads + 1
end

first = 0
local n = 0
wrk.method = "POST"
wrk.path = "/dbl"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["User-Agent"] = "DBL"
wrk.headers["Authorization"] = os.getenv("DEDUP_AUTH")

function request()
  n = n + 1
  -- A Discord ID: "1", the run (6 digits), the voter (10 digits).
  local user = string.format("1%06d%010d", run, first + n)
  return wrk.format(nil, nil, nil, '{"bot":"264811613708746752","user":"' .. user ..
    '","type":"upvote","isWeekend":false,"query":"?ref=home"}')
end
