-- What an isolate costs, in one run (part of `make bench`):
--   1. an empty iso:call() beside a plain pcall(f) and h:with_scope(f);
--   2. the image restore every call pays, against the image's size;
--   3. each built-in workload in an isolate against Lua's collector,
--      incremental and generational;
--   4. patterns: how long a backtracking pattern runs before the budget
--      stops it, and lexrt's matcher against the host's string library;
--   5. library calls under max_instructions: how long the worst offenders
--      outside patterns run before the budget stops them, and what the
--      charged wrappers cost an ordinary handler;
--   6. a yield round trip: an effect that suspends iso:call and is
--      resumed, against a plain coroutine yield/resume and an effect that
--      returns without yielding.
-- Every figure is a median over interleaved rounds, so that a slow moment
-- of the machine hits all sides alike. CPU time (os.clock).
--   LUA_PATH='lua/?.lua;lua/?/init.lua;;' LUA_CPATH='build/?.so;;' lua5.4 bench/isolate_bench.lua
-- Environment: ROUNDS (default 7 for calls, 3 for workloads), CALLS.
local lexrt = require("lexrt")
local experiment = require("lexrt.experiment")

local clock = os.clock
local ROUNDS = tonumber(os.getenv("ROUNDS")) or 7
local CALLS = tonumber(os.getenv("CALLS")) or 200000

local function median(xs)
  local s = {}
  for i, x in ipairs(xs) do
    s[i] = x
  end
  table.sort(s)
  return s[(#s + 1) // 2]
end

-- ns per call of each entry's f(n), over interleaved rounds.
local function interleaved(entries, n, rounds)
  local samples = {}
  for _, e in ipairs(entries) do
    e.f((e.n or n) // 10 + 1) -- warm up
    samples[e] = {}
  end
  for r = 1, rounds do
    for k = 0, #entries - 1 do
      local e = entries[(r + k - 1) % #entries + 1] -- rotate the order
      collectgarbage()
      local t = clock()
      e.f(e.n or n)
      samples[e][r] = (clock() - t) / (e.n or n) * 1e9
    end
  end
  for _, e in ipairs(entries) do
    e.ns = median(samples[e])
  end
end

-- Measures entries (interleaved), then prints the title and each
-- entry's name and ns.
local function report(title, entries, n)
  interleaved(entries, n, ROUNDS)
  print()
  print(title)
  for _, e in ipairs(entries) do
    print(("  %-24s %8.0f"):format(e.name, e.ns))
  end
end

------------------------------------------------------------------ 1. empty calls
local h = lexrt.handler()
local iso = lexrt.isolate({ handler = h, source = "return function() end" })
local function f() end
local calls = {
  { name = "pcall(f)", f = function(n) for _ = 1, n do pcall(f) end end },
  { name = "h:with_scope(f)", f = function(n) for _ = 1, n do h:with_scope(f) end end },
  { name = "iso:call()", f = function(n) for _ = 1, n do iso:call() end end },
}
interleaved(calls, CALLS, ROUNDS)
local pc, ws, ic = calls[1].ns, calls[2].ns, calls[3].ns
print(("isolate: an empty call, ns (median of %d interleaved rounds of %d calls)"):format(ROUNDS, CALLS))
for _, e in ipairs(calls) do
  print(("  %-18s %8.0f"):format(e.name, e.ns))
end
print(("  iso:call() / pcall(f)        %6.1fx"):format(ic / pc))
print(("  iso:call() / with_scope(f)   %6.1fx"):format(ic / ws))
print(("  iso:call() %.2f us (target <= 2 us): %s, image %d bytes"):format(ic / 1000,
  ic <= 2000 and "met" or "NOT met", iso:stats().image_bytes))

------------------------------------------------------------------ 2. read-only data
-- A lookup handler reading 10 of N records kept at module level, the way
-- a user keeps a routing table: the same function in this state (pcall),
-- in an isolate whose image form is chosen by its own timing (copy for a
-- small image, mapped for a large one), and in an isolate forced to copy
-- (the restore before issue 19). One interleaved run.
local core = require("lexrt.core")
do -- a block, so that its records are garbage before the workloads run
local LOOKUP = [[
  local recs = {}
  for i = 1, %d do recs[i] = { id = i, name = "user" .. i, email = "u" .. i .. "@example.com", score = i * 3 } end
  return function(k)
    local s = 0
    for j = 1, 10 do s = s + recs[(k + j) %% #recs + 1].score end
    return s
  end]]
local rows, by_n = {}, {}
for _, count in ipairs({ 10, 1000, 10000, 50000 }) do
  local src = LOOKUP:format(count)
  local fn = load(src)()
  core._isolate_image_form(nil)
  local auto = lexrt.isolate({ source = src })
  core._isolate_image_form("copy")
  local copy = lexrt.isolate({ source = src })
  core._isolate_image_form(nil)
  local bytes = auto:stats().image_bytes
  local slow_n = math.max(50, math.min(CALLS // 4, (1 << 30) // bytes))
  local row = {
    count = count, bytes = bytes, form = auto:stats().image_form, auto = auto, copy = copy,
    host = { n = CALLS // 4, f = function(k) for i = 1, k do pcall(fn, i) end end },
    iso = { n = CALLS // 4, f = function(k) for i = 1, k do auto:call(i) end end },
    old = { n = slow_n, f = function(k) for i = 1, k do copy:call(i) end end },
  }
  rows[#rows + 1] = row
  by_n[count] = row
end
local entries = {}
for _, r in ipairs(rows) do
  entries[#entries + 1] = r.host
  entries[#entries + 1] = r.iso
  entries[#entries + 1] = r.old
end
interleaved(entries, CALLS, ROUNDS)
print()
print(("isolate: a handler reading 10 of N module-level records, us per call (median of %d interleaved rounds)"):format(ROUNDS))
print(("  %8s %10s %7s %10s %10s %12s %12s %14s"):format("records", "image KiB", "form", "pcall", "isolate",
  "copy restore", "vs 10 recs", "restored bytes"))
for _, r in ipairs(rows) do
  r.auto:call(1)
  print(("  %8d %10.1f %7s %10.2f %10.2f %12.2f %11.2fx %14d"):format(r.count, r.bytes / 1024, r.form,
    r.host.ns / 1000, r.iso.ns / 1000, r.old.ns / 1000, r.iso.ns / by_n[10].iso.ns,
    r.auto:stats().last_restore_bytes))
end
local big, small = by_n[50000], by_n[10]
print(("  50000 records cost %.2fx the 10-record call (target <= 3x): %s"):format(big.iso.ns / small.iso.ns,
  big.iso.ns <= 3 * small.iso.ns and "met" or "NOT met"))
print(("  the 10-record call against the copy restore of the same image: %.2fx (target <= 1x, within noise)")
  :format(small.iso.ns / small.old.ns))
for _, r in ipairs(rows) do
  r.auto:close()
  r.copy:close()
end
end
collectgarbage()
collectgarbage()

------------------------------------------------------------------ 3. workloads
-- The same requests through the workload's handler with a gc ctx, in this
-- state (its collector incremental, then generational) and in an isolate
-- (lexrt.experiment's isolate mode: request copied in, body copied out).
-- The sides alternate in short batches (a few ms each, so that a busy
-- moment of the machine falls on all sides alike); each side's figure is
-- the median of its batches, and its best batch is shown beside it.
local modes = require("lexrt.experiment.modes")
local Ctx = require("lexrt.experiment.ctx")
local WROUNDS = tonumber(os.getenv("WROUNDS")) or 41
local BATCH = { json = 40, template = 12, bulk = 2 }

local function run_host(w, reqs)
  local handler = w.handler
  for i = 1, #reqs do
    local ctx = Ctx.gc()
    local _ = ctx:read(handler(ctx, reqs[i]))
  end
end

local function run_iso(d, reqs)
  for i = 1, #reqs do
    d:request(1, reqs[i])
  end
end

-- Host heap KiB per request, the collector stopped: the garbage it leaves.
local function host_kib(serve, reqs)
  collectgarbage()
  collectgarbage("stop")
  local c0 = collectgarbage("count")
  serve(reqs)
  local kib = (collectgarbage("count") - c0) / #reqs
  collectgarbage("restart")
  collectgarbage()
  return kib
end

print()
print(("isolate: workloads, requests per second (median of %d interleaved batches per side, best batch"
  .. " in brackets; CPU time)"):format(WROUNDS))
print(("  %-9s %17s %17s %17s %9s %9s %24s"):format("workload", "gc incr", "gc gen", "isolate",
  "vs incr", "vs gen", "host Lua KiB/req gc / iso"))
local verdict
for _, name in ipairs(experiment.WORKLOADS) do
  local w = experiment.workload(name)
  local reqs = experiment.generate(w, BATCH[name], 1)
  local d = modes.BY_NAME.isolate.open({ workload = w, page_size = lexrt.PAGE_BYTES, slots = 1 }, "isolate")
  local sides = {
    { gc = "incremental", f = function() run_host(w, reqs) end },
    { gc = "generational", f = function() run_host(w, reqs) end },
    { gc = "incremental", f = function() run_iso(d, reqs) end },
  }
  for _, side in ipairs(sides) do
    side.rps = {}
    collectgarbage(side.gc)
    side.f() -- warm up
  end
  for r = 1, WROUNDS do
    for k = 0, #sides - 1 do
      local side = sides[(r + k - 1) % #sides + 1]
      collectgarbage(side.gc)
      local t = clock()
      side.f()
      side.rps[r] = #reqs / (clock() - t)
    end
  end
  collectgarbage("incremental")
  local inc, gen, isol = median(sides[1].rps), median(sides[2].rps), median(sides[3].rps)
  local best = {}
  for k, side in ipairs(sides) do
    best[k] = math.max(table.unpack(side.rps))
  end
  local kib_gc = host_kib(function(rs) run_host(w, rs) end, reqs)
  local kib_iso = host_kib(function(rs) run_iso(d, rs) end, reqs)
  d:close()
  print(("  %-9s %8.0f (%6.0f) %8.0f (%6.0f) %8.0f (%6.0f) %8.2fx %8.2fx %13.1f / %-8.1f"):format(name,
    inc, best[1], gen, best[2], isol, best[3], isol / inc, isol / gen, kib_gc, kib_iso))
  if name == "json" then
    verdict = ("isolate / incremental gc on json: %.2fx by medians, %.2fx by best batches"
      .. " (target >= 1.25x): %s"):format(isol / inc, best[3] / best[1],
      isol / inc >= 1.25 and "met" or "NOT met by medians")
  end
end
print("  " .. verdict)

------------------------------------------------------------------ 4. patterns
-- A catastrophic pattern runs until the budget stops it: the time to the
-- stop, per max_instructions (median of PROUNDS calls).
local PROUNDS = tonumber(os.getenv("PROUNDS")) or 5
local HOSTILE = [[
  local subject, hostile = ("a"):rep(30000), ("a*"):rep(30) .. "b"
  return function() return string.find(subject, hostile) end
]]
print()
print(("isolate: a backtracking string.find stopped by max_instructions (median of %d calls)"):format(PROUNDS))
for _, max in ipairs({ 1e6, 1e7 }) do
  local stopper = lexrt.isolate({ source = HOSTILE, max_instructions = max })
  local times = {}
  for r = 1, PROUNDS do
    local t = clock()
    local ok = pcall(stopper.call, stopper)
    times[r] = clock() - t
    assert(not ok, "the hostile call was not stopped")
  end
  stopper:close()
  print(("  max_instructions = %-8.0e %8.2f ms to the stop"):format(max, median(times) * 1000))
end

-- Ordinary patterns: the same loop in the host (Lua's string library)
-- and in an isolate without a budget (lexrt's matcher); the ratio is the
-- matcher's cost, the loop's own being alike on both sides.
local ORDINARY = [[
  local lines = {}
  for i = 1, 50 do
    lines[i] = ("GET /api/v1/items/%d?q=%d HTTP/1.1  host: example.org  key%d = value%d"):format(i, i * 7, i, i)
  end
  return function(n)
    local hits = 0
    for k = 1, n do
      local line = lines[k % 50 + 1]
      if line:find("HTTP/1%.%d") then hits = hits + 1 end
      local method, path = line:match("^(%u+)%s+(%S+)")
      if method then hits = hits + #path end
      local key, value = line:match("(%w+)%s*=%s*(%w+)")
      if key then hits = hits + #value end
      if line:find("example.org", 1, true) then hits = hits + 1 end
      if line:find("%d+$") then hits = hits + 1 end
    end
    return hits
  end
]]
local host_fn = assert(load(ORDINARY, "=ordinary"))()
local matcher = lexrt.isolate({ source = ORDINARY })
local PN = tonumber(os.getenv("PCALLS")) or 20000
local sides = {
  { name = "host string library", f = function(n) return host_fn(n) end, n = PN },
  { name = "isolate, lexrt matcher", f = function(n) return matcher:call(n) end, n = PN },
}
assert(host_fn(100) == matcher:call(100), "the two sides disagree")
report(("isolate: ordinary find/match, ns per loop of 5 calls (median of %d interleaved rounds of %d)")
  :format(ROUNDS, PN), sides, PN)
print(("  lexrt matcher / host string library: %.2fx"):format(sides[2].ns / sides[1].ns))
matcher:close()

------------------------------------------------------------------ 5. library calls
-- Library calls that would run for minutes or forever if each counted as
-- one instruction: the time from call start to the stop at
-- max_instructions = 1e7 (median of PROUNDS calls). Strings are made in
-- the call, so their making is in the figure.
local OFFENDERS = {
  { "('') :rep(math.maxinteger), in a loop",
    "while true do local _ = (''):rep(math.maxinteger) end" },
  { "table.move over a huge empty range", "table.move({}, 1, 1e15, 2)" },
  { "table.insert, __len huge",
    "table.insert(setmetatable({}, { __len = function() return 1e15 end }), 1, 0)" },
  { "table.sort, __index = tostring, __len huge",
    "table.sort(setmetatable({}, { __len = function() return 2^31 - 2 end, __index = tostring }))" },
  { "utf8.len of 16 MiB, in a loop",
    "local s = ('a'):rep(16 << 20) while true do utf8.len(s) end" },
  { "rawequal of two 8 MiB strings, in a loop",
    "local a, b = ('x'):rep(8 << 20), ('x'):rep(8 << 20) while true do rawequal(a, b) end" },
}
print()
print(("isolate: library calls stopped by max_instructions = 1e7, ms from call start to the stop"
  .. " (median of %d calls)"):format(PROUNDS))
for _, o in ipairs(OFFENDERS) do
  local stopper = lexrt.isolate({ source = "return function() " .. o[2] .. " end", max_instructions = 1e7 })
  local times = {}
  for r = 1, PROUNDS do
    local t = clock()
    local ok, e = pcall(stopper.call, stopper)
    times[r] = clock() - t
    assert(not ok and tostring(e):find("instruction budget exceeded", 1, true), tostring(e))
  end
  assert(stopper:stats().instruction_stops == PROUNDS)
  stopper:close()
  print(("  %-44s %9.3f"):format(o[1], median(times) * 1000))
end

-- The wrappers' cost to an ordinary handler: the same isolate with a
-- budget it never reaches and without one (no wrappers but load's and
-- coroutine's).
local HANDLER = [[
  return function(id)
    local parts = {}
    table.insert(parts, string.format("id=%d", id))
    table.insert(parts, string.format("name=%s path=/items/%d", "item" .. id, id))
    table.insert(parts, string.format("%5.2f", id / 7))
    table.insert(parts, 1, ("-"):rep(8))
    return table.concat(parts, ";")
  end
]]
local plain = lexrt.isolate({ source = HANDLER })
local budgeted = lexrt.isolate({ source = HANDLER, max_instructions = 1e9 })
assert(plain:call(42) == budgeted:call(42), "the two sides disagree")
local HN = tonumber(os.getenv("HCALLS")) or 20000
local hsides = {
  { name = "no max_instructions", f = function(n) for i = 1, n do plain:call(i) end end, n = HN },
  { name = "max_instructions = 1e9", f = function(n) for i = 1, n do budgeted:call(i) end end, n = HN },
}
report(("isolate: an ordinary handler (format, insert, concat, rep), ns per call (median of %d"
  .. " interleaved rounds of %d)"):format(ROUNDS, HN), hsides, HN)
print(("  with budget / without: %.2fx"):format(hsides[2].ns / hsides[1].ns))
plain:close()
budgeted:close()

------------------------------------------------------------------ 6. yield round trip
-- K effects in one call, each a round trip through the host: the isolate
-- yields to the driver, the gate's host function yields the host
-- coroutine, the resume comes back in. Per effect, ns.
do
  local hy = lexrt.handler({
    policy = lexrt.policy({ allow_effects = { "time" } }),
    effects = { time = { wait = function() return coroutine.yield() end, now = function() return 1 end } },
  })
  local loop = "return function(k) local s = 0 for _ = 1, k do s = s + (time.%s() or 1) end return s end"
  local waits = lexrt.isolate({ handler = hy, source = loop:format("wait") })
  local returns = lexrt.isolate({ handler = hy, source = loop:format("now") })
  local n = CALLS // 2
  local trips = {
    { name = "coroutine yield/resume", f = function(k)
      local co = coroutine.wrap(function() for _ = 1, k do coroutine.yield() end end)
      for _ = 1, k do co() end
    end },
    { name = "effect that yields", f = function(k)
      local co = coroutine.create(function() return waits:call(k) end)
      repeat coroutine.resume(co, 1) until coroutine.status(co) == "dead"
    end },
    { name = "effect that returns", f = function(k) returns:call(k) end },
  }
  report(("isolate: a yield round trip, ns per effect (median of %d interleaved rounds of %d)"):format(ROUNDS, n),
    trips, n)
  print(("  effect that yields / coroutine yield/resume  %5.1fx"):format(trips[2].ns / trips[1].ns))
  print(("  what the wait adds to an effect              %5.0f ns"):format(trips[2].ns - trips[3].ns))
end
