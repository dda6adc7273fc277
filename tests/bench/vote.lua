-- wrk script: one Top.gg delivery per request, keep-alive.
-- BENCH_REQUESTS = Lua file written by `bench-server lua FILE`;
-- BENCH_ROUTE = dbl | dsl | v1 (default dbl).
local spec = dofile(os.getenv("BENCH_REQUESTS"))[os.getenv("BENCH_ROUTE") or "dbl"]
wrk.method = "POST"
wrk.path = spec.path
wrk.body = spec.body
for name, value in pairs(spec.headers) do
  wrk.headers[name] = value
end
