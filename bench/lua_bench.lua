-- The Lua-side benchmark: each lexrt operation beside its Lua peer, in the
-- same process, median of ROUNDS rounds. Run by `make bench`, or:
--   LUA_PATH='lua/?.lua;lua/?/init.lua;;' LUA_CPATH='build/?.so;;' lua5.4 bench/lua_bench.lua
local lexrt = require("lexrt")

local ROUNDS = tonumber(os.getenv("ROUNDS")) or 7
local N = tonumber(os.getenv("N")) or 2000000
local clock = os.clock

local function median(xs)
  table.sort(xs)
  return xs[(#xs + 1) // 2]
end

-- ns per iteration of f(n), median over ROUNDS, with min and max.
local function measure(f, n)
  local xs = {}
  f(n // 10) -- warm up
  for r = 1, ROUNDS do
    collectgarbage()
    local t = clock()
    f(n)
    xs[r] = (clock() - t) / n * 1e9
  end
  local lo, hi = math.min(table.unpack(xs)), math.max(table.unpack(xs))
  return median(xs), lo, hi
end

local rows = {}
local function row(name, f, n)
  local med, lo, hi = measure(f, n or N)
  rows[#rows + 1] = { name = name, med = med, lo = lo, hi = hi }
  return med
end

local function ratio(label, a, b)
  print(("%-48s %6.2fx"):format(label, a / b))
end

-- Both loops do the same bookkeeping, so only the call differs. Resets
-- every 2048 allocations keep the arena in a few pages, as a request would.
local a = lexrt.arena()
local s = "hello"
local len = row("s:len()", function(n)
  for i = 1, n do
    if i & 2047 == 0 then s:len() end
    s:len()
  end
end)
local alloc = row("a:alloc(24)", function(n)
  for i = 1, n do
    if i & 2047 == 0 then a:reset() end
    a:alloc(24)
  end
end)

local s65 = ("x"):rep(65)
local sub = row("s:sub(1, 64) (a new 64-byte Lua string)", function(n)
  for i = 1, n do
    if i & 2047 == 0 then s65:len() end
    s65:sub(1, 64)
  end
end)
local s64 = ("y"):rep(64)
local put = row("a:put(64-byte string)", function(n)
  for i = 1, n do
    if i & 2047 == 0 then a:reset() end
    a:put(s64)
  end
end)

local h = lexrt.handler()
local scope = row("h:enter_request_scope() + exit_request_scope(id)", function(n)
  for _ = 1, n do
    h:exit_request_scope(h:enter_request_scope())
  end
end, N // 4)
local function request(arena) arena:alloc(24) end
local with = row("h:with_scope(fn) (fn allocates 24 bytes)", function(n)
  for _ = 1, n do h:with_scope(request) end
end, N // 4)
local tbl = row("{} (an empty Lua table, for scale)", function(n)
  for _ = 1, n do local _ = {} end
end)

print(("%-48s %9s %9s %9s"):format("operation (ns per call)", "median", "min", "max"))
for _, r in ipairs(rows) do
  print(("%-48s %9.1f %9.1f %9.1f"):format(r.name, r.med, r.lo, r.hi))
end
print()
ratio("a:alloc(24) / s:len()   (target <= 1.5)", alloc, len)
ratio("a:put(64 B) / s:sub(1, 64)", put, sub)
ratio("enter+exit / {}", scope, tbl)
ratio("with_scope / enter+exit", with, scope)

-- The experiment workloads, arena mode against gc mode, in this process.
local experiment = require("lexrt.experiment")
print()
print(("%-10s %14s %14s %12s %16s"):format("workload", "gc req/s", "arena req/s", "arena/gc",
  "Lua KiB/req gc/arena"))
for _, w in ipairs({ "json", "template", "bulk" }) do
  local res = experiment.run({ workload = w, modes = { "gc", "arena" }, seed = 1,
    requests = tonumber(os.getenv("REQUESTS")) })
  local gc, ar = res.by_mode.gc, res.by_mode.arena
  print(("%-10s %14.0f %14.0f %11.2fx %8.1f / %-7.1f"):format(w, gc.req_per_s, ar.req_per_s,
    ar.req_per_s / gc.req_per_s, gc.lua_kb_mean, ar.lua_kb_mean))
end
