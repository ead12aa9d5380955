--[[
Runs an experiment's measurements and returns the raw figures
(summary.lua turns them into rows, intervals and verdicts).

A variant is a mode at one page size and one concurrency (requests in
flight). Every variant runs once per round, in the order stats.schedule
gives, so that the machine's drift falls on all of them alike. One run of
a variant in a round is a segment:
  setup    a fresh driver, the mode's collector, two full collections
  warm-up  the first `warmup` requests, unmeasured (fills pools and caches)
  timed    requests 1..n, each timed on the wall clock from the setting
           up of its memory to its release (with several in flight,
           including the time it waits while the others run). The
           segment's throughput is n over the CPU time of the whole pass:
           what the requests cost, without the time the process spent
           descheduled on a busy machine. The Lua heap is sampled after
           every request (its peak) and collector cycles are counted.
After the rounds, a census per variant: every request once more with the
collector stopped, so that the growth of collectgarbage("count") is
exactly what the requests allocated on Lua's heap, and, before each
request's memory goes, its arena's figures and the arena memory the
driver holds (open requests plus pool). The census's own allocations
are left out of the count.
]]

local measure = require("lexrt.experiment.measure")
local modes = require("lexrt.experiment.modes")
local stats = require("lexrt.experiment.stats")

local M = {}

local clock, count = measure.clock, collectgarbage

-- Runs slot(k) for k = 1..slots, each in a coroutine, round robin: each
-- resume runs a request until its next ctx:wait() or its end. Stops early
-- once failed() is true or a slot raises outside its request's pcall
-- (that error is returned).
local function interleave(slot, slots, failed)
  local cos, live, err = {}, slots, nil
  for k = 1, slots do
    cos[k] = coroutine.create(slot)
  end
  while live > 0 and not err and not failed() do
    for k = 1, slots do
      local co = cos[k]
      if co then
        local ok, e = coroutine.resume(co, k)
        if not ok then
          err = e
          break
        end
        if coroutine.status(co) == "dead" then
          cos[k], live = false, live - 1
        end
      end
    end
  end
  -- After a failure, close the requests still suspended, so that their
  -- scopes and arenas are released now.
  for k = 1, slots do
    if cos[k] and coroutine.status(cos[k]) == "suspended" then
      coroutine.close(cos[k])
    end
  end
  return err
end

-- Runs requests 1..n through driver d, `slots` at a time; after(i, t) is
-- called once request i has released its memory, t its latency, and
-- current[k] is the request slot k is running. Returns the pass's
-- elapsed time, or nil, i, err for the first request that raised.
local function pass(d, reqs, n, slots, after, probe, current)
  local request = d.request
  local next_i, failed_i, failed_err = 0, nil, nil
  local function slot(k)
    while not failed_i do
      next_i = next_i + 1
      local i = next_i
      if i > n then
        return
      end
      current[k] = i
      local t0 = clock()
      local ok, err = pcall(request, d, k, reqs[i], probe)
      local t1 = clock()
      if not ok then
        failed_i, failed_err = i, err
        return
      end
      after(i, t1 - t0)
    end
  end
  local start = clock()
  if slots == 1 then
    slot(1)
  else
    local err = interleave(slot, slots, function()
      return failed_i ~= nil
    end)
    if err then
      failed_i, failed_err = failed_i or next_i, err
    end
  end
  local elapsed = clock() - start
  if failed_i then
    return nil, failed_i, failed_err
  end
  return elapsed
end

local function fail(v, w, i, err)
  error(("workload %s, mode %s, request %d: %s"):format(w.name, v.mode, i, tostring(err)), 0)
end

local function run_pass(v, w, d, reqs, n, after, probe, current)
  local elapsed, i, err = pass(d, reqs, n, v.concurrency, after, probe, current)
  if not elapsed then
    fail(v, w, i, err)
  end
  return elapsed
end

local function ignore() end

-- The timed part of a segment, on an open driver.
local function timed(v, w, d, reqs, o, lat)
  local n, current = o.requests, {}
  if o.warmup > 0 then
    run_pass(v, w, d, reqs, o.warmup, ignore, nil, current)
  end
  local pool0 = d:pool()
  local iso0 = d.isolate_stats and d:isolate_stats()
  local peak = count("count")
  local function after(i, t)
    lat[i] = t
    local heap = count("count")
    if heap > peak then
      peak = heap
    end
  end
  local cycles = measure.cycle_counter()
  local cpu0 = os.clock()
  local elapsed = run_pass(v, w, d, reqs, n, after, nil, current)
  local cpu = os.clock() - cpu0
  cycles.on = false
  local pool1 = d:pool()
  local iso1 = iso0 and d:isolate_stats()

  local sorted = stats.sorted(lat, n)
  local seg = {
    cpu_seconds = cpu,
    req_per_s = cpu > 0 and n / cpu or nil,
    wall_seconds = elapsed,
    req_per_wall_s = elapsed > 0 and n / elapsed or nil,
    p99_us = stats.percentile(sorted, 99) * 1e6,
    heap_peak_kib = peak,
    gc_cycles = cycles.n,
    latencies = measure.pack(lat, n),
  }
  if pool0 and pool1 then
    for _, k in ipairs(modes.POOL_KEYS) do
      seg[k] = pool1[k] - pool0[k]
    end
    seg.handler_stats = pool1
  end
  if iso1 then
    seg.image_bytes = iso1.image_bytes
    seg.restores = iso1.restores - iso0.restores
    seg.restore_seconds = (iso1.restore_seconds or 0) - (iso0.restore_seconds or 0)
  end
  return seg
end

local function open(v, w)
  return modes.open(v.mode, { workload = w, page_size = v.page_size, slots = v.concurrency })
end

-- One variant in one round.
local function segment(v, w, reqs, o, lat)
  count(v.collector)
  count("collect")
  count("collect")
  local d = open(v, w)
  local ok, seg = pcall(timed, v, w, d, reqs, o, lat)
  d:close()
  if not ok then
    error(seg, 0)
  end
  return seg
end

-- Growth of the stopped heap past which the census collects between
-- requests, so that it does not hold every request's garbage at once.
local CENSUS_SLACK_KIB = 16 * 1024

-- The census's probe: reads a request's figures into c before its memory
-- goes. Returns the probe and a function giving the Lua heap (KiB) the
-- probe itself has allocated, which is not the requests'.
local function census_probe(c, d, current)
  local harness = 0
  local function probe(k, ctx, ref, a)
    local c0 = count("count")
    local ok, size = pcall(ctx.size, ctx, ref)
    if not ok then
      error(("handler must return a ref made by ctx (got %s)"):format(type(ref)), 0)
    end
    c.response_bytes = c.response_bytes + size
    if a then
      local st = a:stats()
      c.stored_bytes = c.stored_bytes + st.bytes_allocated
      c.arena_bytes = c.arena_bytes + st.bytes_allocated
      c.wasted_bytes = c.wasted_bytes + st.wasted
      c.pages = c.pages + st.pages
      c.chunks = c.chunks + st.chunks
      c.capacity_bytes = c.capacity_bytes + st.capacity
    else
      c.stored_bytes = c.stored_bytes + ctx.bytes
    end
    local held = d:held()
    if held > c.held_peak_bytes then
      c.held_peak_bytes = held
    end
    if c.bodies then
      c.bodies[current[k]] = ctx:read(ref)
    end
    harness = harness + (count("count") - c0)
  end
  return probe, function()
    return harness
  end
end

local function census_passes(v, w, d, reqs, o)
  local current = {}
  local c = {
    lua_kib = 0, stored_bytes = 0, arena_bytes = 0, wasted_bytes = 0, pages = 0, chunks = 0,
    capacity_bytes = 0, held_peak_bytes = 0, response_bytes = 0,
    bodies = o.keep_bodies and {} or nil,
  }
  if o.warmup > 0 then
    run_pass(v, w, d, reqs, o.warmup, ignore, nil, current)
  end
  local probe, harness = census_probe(c, d, current)
  count("collect")
  count("stop")
  local base = count("count")
  local function after()
    local grown = count("count") - base
    if grown > CENSUS_SLACK_KIB then
      c.lua_kib = c.lua_kib + grown
      count("restart")
      count("collect")
      count("stop")
      base = count("count")
    end
  end
  run_pass(v, w, d, reqs, o.requests, after, probe, current)
  c.lua_kib = c.lua_kib + (count("count") - base) - harness()
  count("restart")
  return c
end

local function census(v, w, reqs, o)
  count(v.collector)
  local d = open(v, w)
  local ok, c = pcall(census_passes, v, w, d, reqs, o)
  count("restart")
  d:close()
  if not ok then
    error(c, 0)
  end
  return c
end

--[[
Calibration: how many requests a round needs so that its timing means
something (as hyperfine and criterion do). Starting from `start`
requests, doubles the count until time_of(n), the CPU seconds n requests
take, reaches min_seconds, or the count reaches max_requests (then
`capped` is true). Pure: time_of is the only clock, so the specs give it
a fake one. Returns { requests, from = start, seconds (at that count),
min_seconds, max_requests, capped, tries = { { requests, seconds }... } }.
]]
function M.calibrate(start, min_seconds, max_requests, time_of)
  local n = math.max(1, math.min(start, max_requests))
  local tries = {}
  while true do
    local t = time_of(n)
    tries[#tries + 1] = { requests = n, seconds = t }
    if t >= min_seconds or n >= max_requests then
      return {
        requests = n, from = start, seconds = t, min_seconds = min_seconds, max_requests = max_requests,
        capped = t < min_seconds, tries = tries,
      }
    end
    n = math.min(n * 2, max_requests)
  end
end

--[[
The CPU seconds of one round of every variant of `plan` at o.requests
requests (o.warmup first, unmeasured): the least of them, the round of
the fastest variant, which calibrate compares with its minimum. The
caller's collector mode is restored.
]]
function M.fastest_round(plan, w, reqs, o)
  local previous = count("incremental")
  local ok, least = pcall(function()
    local lat, least = {}, math.huge
    for i = 1, o.requests do
      lat[i] = 0.0
    end
    for _, v in ipairs(plan) do
      least = math.min(least, segment(v, w, reqs, o, lat).cpu_seconds)
    end
    return least
  end)
  count("restart")
  count(previous)
  if not ok then
    error(least, 0)
  end
  return least
end

-- Runs request `req` once through a fresh driver of variant v, unmeasured:
-- true, or false and the error (opening the driver included).
function M.try(v, w, req)
  local ok, d = pcall(modes.open, v.mode, { workload = w, page_size = v.page_size, slots = 1 })
  if not ok then
    return false, d
  end
  local done, err = pcall(d.request, d, 1, req)
  d:close()
  return done, err
end

--[[
Measures every variant of `plan` (a list of { mode, collector,
page_size, concurrency, label }) on requests `reqs`, for o.rounds rounds
of o.requests requests (o.warmup, o.keep_bodies). progress(done, total,
label) is called after each segment, counting requests.
Returns raw, order: raw[k] = { rounds = { segment figures per round },
census = { census figures } } for variant k, and order[r] the variant
numbers in the order round r ran them. The caller's collector mode is
restored, also after an error.
]]
function M.measure(plan, w, reqs, o, progress)
  local previous = count("incremental")
  local order = stats.schedule(#plan, o.rounds)
  local per_segment = o.warmup + o.requests
  local total, done = (#plan * o.rounds + #plan) * per_segment, 0
  local function tick(label)
    done = done + per_segment
    if progress then
      progress(done, total, label)
    end
  end
  local ok, raw = pcall(function()
    local raw = {}
    for k = 1, #plan do
      raw[k] = { rounds = {} }
    end
    -- Sized once, before anything is timed: storing a latency must not
    -- allocate.
    local lat = {}
    for i = 1, o.requests do
      lat[i] = 0.0
    end
    for r, round in ipairs(order) do
      for _, k in ipairs(round) do
        raw[k].rounds[r] = segment(plan[k], w, reqs, o, lat)
        tick(("%s %s, round %d of %d"):format(w.name, plan[k].label, r, o.rounds))
      end
    end
    for k, v in ipairs(plan) do
      raw[k].census = census(v, w, reqs, o)
      tick(("%s %s, census"):format(w.name, v.label))
    end
    return raw
  end)
  count("restart")
  count(previous)
  if not ok then
    error(raw, 0)
  end
  return raw, order
end

return M
