-- The Lua-side benchmark: each lexrt operation beside its Lua peer, in the
-- same process. Run by `make bench`, or:
--   LUA_PATH='lua/?.lua;lua/?/init.lua;;' LUA_CPATH='build/?.so;;' lua5.4 bench/lua_bench.lua
--     [--processes N]   the target ratios again in N fresh processes,
--                       with their spread (medians of each process's rounds)
--     [--ratios]        only the target ratios, one "ratio NAME VALUE" line
--                       each (what --processes reads from its children)
--     [--no-workloads]  skip the experiment workloads at the end
-- ROUNDS (default 11) rounds; N (default 2000000) iterations per round.
local lexrt = require("lexrt")

local ROUNDS = tonumber(os.getenv("ROUNDS")) or 11
local N = tonumber(os.getenv("N")) or 2000000
local clock = os.clock

local opts = { processes = 0 }
do
  local i = 1
  while arg[i] do
    if arg[i] == "--processes" then
      opts.processes = math.tointeger(tonumber(arg[i + 1])) or error("--processes needs a count")
      i = i + 1
    elseif arg[i] == "--ratios" then
      opts.ratios = true
    elseif arg[i] == "--no-workloads" then
      opts.no_workloads = true
    else
      error("unknown argument " .. arg[i])
    end
    i = i + 1
  end
end

local function median(xs)
  local s = table.move(xs, 1, #xs, 1, {})
  table.sort(s)
  local n = #s
  return n % 2 == 1 and s[(n + 1) // 2] or (s[n // 2] + s[n // 2 + 1]) / 2
end

local function spread(xs)
  return math.min(table.unpack(xs)), math.max(table.unpack(xs))
end

-- ns per iteration of one timed run of f(n).
local function time(f, n)
  collectgarbage()
  local t = clock()
  f(n)
  return (clock() - t) / n * 1e9
end

-- Rows measured together: every round times each of them once, in turn
-- (the order rotates), so a slow moment of the machine lands on all of
-- them. Returns per row the list of its round times.
local function interleave(fs, n)
  local xs = {}
  for k, f in ipairs(fs) do
    f(n // 10) -- warm up
    xs[k] = {}
  end
  for r = 1, ROUNDS do
    for j = 0, #fs - 1 do
      local k = (r + j - 1) % #fs + 1
      xs[k][r] = time(fs[k], n)
    end
  end
  return xs
end

-- Every loop below does the same bookkeeping as its peer, so that only
-- the operation differs. Resets every 2048 allocations keep the arena in
-- a few pages, as a request would.
local a = lexrt.arena()
local s = "hello"
local function len_loop(n)
  for i = 1, n do
    if i & 2047 == 0 then s:len() end
    s:len()
  end
end
local function alloc_loop(n)
  for i = 1, n do
    if i & 2047 == 0 then a:reset() end
    a:alloc(24)
  end
end

-- The bound form: a:allocator() carries the arena as an upvalue, so each
-- call skips the method lookup and the self check.
local bound = a:allocator()
local function bound_loop(n)
  for i = 1, n do
    if i & 2047 == 0 then a:reset() end
    bound(24)
  end
end

local s24 = ("x"):rep(24)
local ra = lexrt.arena()
local rh = ra:put(s24) -- same bytes as s24: both loops find their result interned
local function sub_loop(n)
  for _ = 1, n do s24:sub(1, 24) end
end
local function read_loop(n)
  for _ = 1, n do ra:read(rh) end
end

local h = lexrt.handler()
local function empty() end
local function pcall_loop(n)
  for _ = 1, n do pcall(empty) end
end
local function with_loop(n)
  for _ = 1, n do h:with_scope(empty) end
end

-- The target ratios: { label, target, lexrt loop, peer loop, n }. The
-- bound allocator has no target of its own: it is a:alloc's alternative.
local TARGETS = {
  { "a:alloc(24) / s:len()", 1.2, alloc_loop, len_loop, N },
  { "alloc(24) bound / s:len()", 1.2, bound_loop, len_loop, N },
  { "a:read(h) / s:sub(1, 24)", 1.1, read_loop, sub_loop, N },
  { "h:with_scope(fn) / pcall(fn)", 1.5, with_loop, pcall_loop, N // 4 },
}

-- Median of the per-round ratios (each round's pair ran back to back).
local function target_ratios()
  local out = {}
  for i, t in ipairs(TARGETS) do
    local xs = interleave({ t[3], t[4] }, t[5])
    local rs = {}
    for r = 1, ROUNDS do rs[r] = xs[1][r] / xs[2][r] end
    out[i] = { ratio = median(rs), lexrt = median(xs[1]), peer = median(xs[2]), lo = xs[1], hi = xs[2] }
  end
  return out
end

if opts.ratios then
  for i, r in ipairs(target_ratios()) do
    print(("ratio %d %.4f %.2f %.2f"):format(i, r.ratio, r.lexrt, r.peer))
  end
  return
end

if opts.processes > 0 then
  -- Fresh interpreters (same environment), one after another.
  local cmd = ("%q %q --ratios"):format(arg[-1] or "lua5.4", arg[0])
  local per = {}
  for i = 1, #TARGETS do per[i] = {} end
  print(("target ratios in %d processes (each the median of %d interleaved rounds)"):format(
    opts.processes, ROUNDS))
  for p = 1, opts.processes do
    local f = assert(io.popen(cmd))
    for line in f:lines() do
      local i, r = line:match("^ratio (%d+) (%S+)")
      if i then per[tonumber(i)][p] = tonumber(r) end
    end
    assert(f:close(), "child process failed")
  end
  print(("%-32s %7s %7s %15s  %s"):format("ratio", "target", "median", "min-max", "per process"))
  for i, t in ipairs(TARGETS) do
    local lo, hi = spread(per[i])
    local each = {}
    for p, v in ipairs(per[i]) do each[p] = ("%.2f"):format(v) end
    print(("%-32s %6.2fx %6.2fx %6.2f-%5.2fx  %s"):format(t[1], t[2], median(per[i]), lo, hi,
      table.concat(each, " ")))
  end
  return
end

-- One process: the target pairs, then the other rows.
local results = target_ratios()

local rows = {}
local function row(name, f, n)
  local xs = interleave({ f }, n or N)[1]
  local lo, hi = spread(xs)
  rows[#rows + 1] = { name = name, med = median(xs), lo = lo, hi = hi }
  return median(xs)
end

local s65 = ("x"):rep(65)
local sub64 = row("s:sub(1, 64) (a new 64-byte Lua string)", function(n)
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
local scope = row("h:enter_request_scope() + exit_request_scope(id)", function(n)
  for _ = 1, n do
    h:exit_request_scope(h:enter_request_scope())
  end
end, N // 4)
local tbl = row("{} (an empty Lua table, for scale)", function(n)
  for _ = 1, n do local _ = {} end
end)

print(("%-48s %9s %9s %9s"):format("operation (ns per call)", "median", "min", "max"))
for i, t in ipairs(TARGETS) do
  local r = results[i]
  local l1, h1 = spread(r.lo)
  local l2, h2 = spread(r.hi)
  local a_name, p_name = t[1]:match("^(.-) / (.*)$")
  print(("%-48s %9.1f %9.1f %9.1f"):format(a_name, r.lexrt, l1, h1))
  print(("%-48s %9.1f %9.1f %9.1f"):format("  " .. p_name, r.peer, l2, h2))
end
for _, r in ipairs(rows) do
  print(("%-48s %9.1f %9.1f %9.1f"):format(r.name, r.med, r.lo, r.hi))
end
print()
print(("%-40s %7s %7s   (median of %d per-round ratios; --processes N for the spread)"):format(
  "ratio", "target", "this run", ROUNDS))
for i, t in ipairs(TARGETS) do
  print(("%-40s %6.2fx %6.2fx"):format(t[1], t[2], results[i].ratio))
end
print(("%-40s %7s %6.2fx"):format("a:put(64 B) / s:sub(1, 64)", "", put / sub64))
print(("%-40s %7s %6.2fx"):format("enter+exit / {}", "", scope / tbl))

if opts.no_workloads then
  return
end

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
    ar.req_per_s / gc.req_per_s, gc.lua_kib_per_req, ar.lua_kib_per_req))
end
