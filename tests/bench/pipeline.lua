-- wrk script: BENCH_DEPTH (default 16) Top.gg deliveries written at once per
-- connection (HTTP/1.1 pipelining); wrk counts every answer. Same variables
-- as vote.lua.
local spec = dofile(os.getenv("BENCH_REQUESTS"))[os.getenv("BENCH_ROUTE") or "dbl"]
local depth = tonumber(os.getenv("BENCH_DEPTH") or "16")
local batch

init = function(args)
  local headers = {}
  for name, value in pairs(spec.headers) do
    headers[name] = value
  end
  local one = wrk.format("POST", spec.path, headers, spec.body)
  batch = string.rep(one, depth)
end

request = function()
  return batch
end
