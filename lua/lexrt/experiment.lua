--[[
lexrt.experiment: run one workload for N requests under several ways of
managing request memory, and measure what each costs.

Modes:
  gc            the handler builds plain Lua strings and tables; Lua's
                collector frees them
  arena         a lexrt.handler; each request runs in a request scope and
                builds into the scope's arena; pages return to the
                handler's pool and the next request reuses them
  arena-nopool  a fresh lexrt.arena per request, closed at its end; every
                page comes from the system and goes back

A workload is a table { name, handler = function(ctx, req) -> ref,
generate = function(rng, i) -> req (optional), requests = N (optional
default) } written once against the ctx interface of
lexrt.experiment.ctx, so the same code runs (and must produce the same
response bytes) in every mode.

Each mode runs three passes over the same generated requests:
  warm-up  the first few requests, unmeasured (fills pools and caches)
  timed    every request, timed alone, with the collector running as it
           would in production; counts collector cycles and the heap peak
  census   every request again with the collector stopped, so the growth
           of collectgarbage("count") across a request is exactly what the
           request allocated from Lua's heap (the garbage the collector
           must later clean up); also reads the arena's stats per request
The census runs after the timed pass so that its heap growth cannot
inflate the timed pass's resident memory.
]]

local Rng = require("lexrt.experiment.rng")
local measure = require("lexrt.experiment.measure")
local modes = require("lexrt.experiment.modes")

local M = {}

M.MODES = modes.NAMES
M.WORKLOADS = { "json", "template", "bulk" }
M.PAGE_SIZE = 65536
M.SWEEP_PAGE_SIZES = { 4096, 16384, 65536, 262144, 1048576 }
M.DEFAULT_REQUESTS = 200

local function fail(fmt, ...)
  error(fmt:format(...), 0)
end

local BUILTIN = {}
for _, name in ipairs(M.WORKLOADS) do
  BUILTIN[name] = true
end

local function default_generate(rng, i)
  return { index = i, seed = rng:int(0, 0x7fffffff) }
end

local function checked(w, where)
  if type(w) ~= "table" then
    fail("workload %s must return a table, got %s", where, type(w))
  end
  if type(w.handler) ~= "function" then
    fail("workload %s has no handler function", where)
  end
  if w.generate ~= nil and type(w.generate) ~= "function" then
    fail("workload %s: generate must be a function", where)
  end
  if w.name ~= nil and type(w.name) ~= "string" then
    fail("workload %s: name must be a string", where)
  end
  if w.requests ~= nil and (math.type(w.requests) ~= "integer" or w.requests < 1) then
    fail("workload %s: requests must be a positive integer", where)
  end
  return w
end

-- Loads a user workload file: a Lua chunk returning a workload table.
function M.load_workload(path)
  local chunk, err = loadfile(path, "t")
  if not chunk then
    fail("cannot load workload: %s", err)
  end
  local ok, w = pcall(chunk)
  if not ok then
    fail("workload %s raised while loading: %s", path, tostring(w))
  end
  checked(w, path)
  w.name = w.name or path:match("([^/]+)%.lua$") or path
  return w
end

-- A built-in name, a path to a .lua file, or a workload table.
function M.workload(spec)
  if type(spec) == "table" then
    checked(spec, spec.name or "table")
    spec.name = spec.name or "custom"
    return spec
  end
  if type(spec) ~= "string" then
    fail("workload must be a name, a file or a table, got %s", type(spec))
  end
  if BUILTIN[spec] then
    return require("lexrt.experiment.workload." .. spec)
  end
  if spec:match("%.lua$") or spec:find("/", 1, true) then
    return M.load_workload(spec)
  end
  fail("unknown workload '%s' (expected %s, or a .lua file)", spec, table.concat(M.WORKLOADS, ", "))
end

-- Request i depends only on (seed, i): every mode sees the same requests.
function M.generate(workload, n, seed)
  local gen = workload.generate or default_generate
  local reqs = {}
  for i = 1, n do
    local ok, req = pcall(gen, Rng.new(seed, i), i)
    if not ok then
      fail("workload %s, generate, request %d: %s", workload.name, i, tostring(req))
    end
    if req == nil then
      fail("workload %s, generate, request %d: returned nil", workload.name, i)
    end
    reqs[i] = req
  end
  return reqs
end

local function request_error(w, mode, i, err)
  fail("workload %s, mode %s, request %d: %s", w.name, mode, i, tostring(err))
end

-- Runs requests 1..n and, given `times`, stores each one's CPU time.
-- Returns the heap peak (KiB) seen at the end of a handler.
local function timed_pass(d, w, mode, reqs, n, times, tick)
  local clock, count, handler = measure.clock, collectgarbage, w.handler
  local peak = count("count")
  for i = 1, n do
    local t0 = clock()
    local ctx = d:start()
    local ok, ref = pcall(handler, ctx, reqs[i])
    local heap = count("count")
    d:finish()
    local t = clock() - t0
    if not ok then
      request_error(w, mode, i, ref)
    end
    if times then
      times[i] = t
    end
    if heap > peak then
      peak = heap
    end
    if tick then
      tick()
    end
  end
  return peak
end

-- Collecting between requests once the stopped collector has let the heap
-- grow this far keeps the census from holding every request's garbage.
local CENSUS_SLACK_KIB = 16 * 1024

local function census_pass(d, w, mode, reqs, n, keep_bodies, tick)
  local count, handler = collectgarbage, w.handler
  local c = { kib = {}, bytes = {}, wasted = {}, pages = {}, chunks = {}, capacity = {}, response = 0 }
  local bodies = keep_bodies and {} or nil
  count("collect")
  count("stop")
  local base = count("count")
  for i = 1, n do
    local c0 = count("count")
    local ctx = d:start()
    local ok, ref = pcall(handler, ctx, reqs[i])
    local c1 = count("count")
    local size
    if ok then
      ok, size = pcall(ctx.size, ctx, ref)
      if not ok then
        ref = ("handler must return a ref made by ctx (got %s)"):format(type(ref))
      end
    end
    if not ok then
      d:finish()
      request_error(w, mode, i, ref)
    end
    local st = d:stats()
    if bodies then
      bodies[i] = ctx:read(ref)
    end
    d:finish()
    c.kib[i] = c1 - c0
    c.bytes[i] = st.bytes_allocated or 0
    c.wasted[i] = st.wasted or 0
    c.pages[i] = st.page_count or 0
    c.chunks[i] = st.chunks or 0
    c.capacity[i] = st.capacity or 0
    c.response = c.response + size
    if count("count") - base > CENSUS_SLACK_KIB then
      count("restart")
      count("collect")
      count("stop")
      base = count("count")
    end
    if tick then
      tick()
    end
  end
  count("restart")
  c.bodies = bodies
  return c
end

local POOL_KEYS = { "pages_from_system", "pages_reused", "chunks_from_system", "chunks_reused" }

-- One mode at one page size: the measurements, as one flat row.
local function run_mode(w, reqs, mode, page_size, o, tick)
  local n, warmup = #reqs, o.warmup
  local prev_gc = collectgarbage(o.gc)
  local d = modes.open(mode, page_size)
  local ok, row = pcall(function()
    local row = { mode = mode, page_size = mode ~= "gc" and page_size or nil, requests = n, warmup = warmup }
    collectgarbage("collect")
    collectgarbage("collect")
    row.heap_before_kb = collectgarbage("count")
    row.rss_before_kb = measure.rss_kib()
    local has_peak = measure.reset_rss_peak()

    timed_pass(d, w, mode, reqs, warmup, nil, tick)
    local pool0 = d:pool()
    local times = {}
    for i = 1, n do
      times[i] = 0 -- sized up front: storing a time must not allocate
    end
    local cycles = measure.cycle_counter()
    row.heap_peak_kb = timed_pass(d, w, mode, reqs, n, times, tick)
    cycles.on = false
    row.gc_cycles = cycles.n
    row.heap_after_kb = collectgarbage("count")
    row.rss_after_kb = measure.rss_kib()
    row.rss_peak_kb = has_peak and measure.rss_peak_kib() or nil
    local pool1 = d:pool()

    local seconds = measure.sum(times)
    row.seconds = seconds
    row.req_per_s = seconds > 0 and n / seconds or nil
    table.sort(times)
    row.time_median_us = measure.median(times) * 1e6
    row.time_p99_us = measure.percentile(times, 99) * 1e6
    row.time_mean_us = seconds / n * 1e6
    row.time_max_us = times[n] * 1e6

    local c = census_pass(d, w, mode, reqs, n, o.keep_bodies, tick)
    row.bytes_mean, row.bytes_max = measure.mean_max(c.bytes)
    row.lua_kb_mean, row.lua_kb_max = measure.mean_max(c.kib)
    row.lua_kb_total = measure.sum(c.kib)
    row.response_bytes = c.response
    row.bodies = c.bodies
    if mode ~= "gc" then
      row.wasted_mean, row.wasted_max = measure.mean_max(c.wasted)
      row.pages_mean, row.pages_max = measure.mean_max(c.pages)
      row.capacity_mean = measure.mean_max(c.capacity)
    end
    if pool0 and pool1 then
      for _, k in ipairs(POOL_KEYS) do
        if pool1[k] and pool0[k] then
          row[k] = pool1[k] - pool0[k]
        end
      end
      row.handler_stats = d:pool()
    elseif mode == "arena-nopool" then
      -- Deterministic requests: the census saw the same pages the timed
      -- pass took, and without a pool every one came from the system.
      row.chunks_from_system = measure.sum(c.chunks)
      row.pages_from_system = measure.sum(c.pages) - row.chunks_from_system
      row.pages_reused, row.chunks_reused = 0, 0
    end
    return row
  end)
  d:close()
  collectgarbage(prev_gc)
  collectgarbage("restart")
  if not ok then
    error(row, 0)
  end
  return row
end

-- Every argument error of run and sweep reads the same way, luaL_argerror
-- style, and points at the caller: level 3 is this function, run or
-- sweep, their caller.
local function argerror(fname, msg)
  error(("bad argument #1 to '%s' (%s)"):format(fname, msg), 3)
end

local MIN_PAGE, MAX_PAGE = 4096, 16 * 1024 * 1024
local UNITS = { [""] = 1, k = 1024, m = 1024 * 1024 }

--[[
A page size: an integer, or a string "4096", "4k", "64KiB", "64kb", "1M",
"1MiB" (binary units throughout, since page sizes are powers of two).
Returns the size in bytes, or nil and a message. One parser for the
command line (--page-sizes) and the Lua API (page_size, page_sizes).
]]
function M.parse_size(v)
  local n, shown
  if type(v) == "string" then
    local digits, unit = v:match("^%s*(%d+)%s*([kKmM]?)[iI]?[bB]?%s*$")
    n = digits and math.tointeger(tonumber(digits))
    if not n then
      return nil, ("'%s' is not a size (examples: 4096, 4k, 64KiB, 1M)"):format(v)
    end
    n, shown = n * UNITS[unit:lower()], ("'%s'"):format(v)
  elseif type(v) == "number" then
    n, shown = math.tointeger(v), tostring(v)
  else
    return nil, ("page size must be an integer or a string such as '64k', got %s"):format(type(v))
  end
  if not n or n < MIN_PAGE or n > MAX_PAGE or n & (n - 1) ~= 0 then
    return nil, ("page size %s must be a power of two from 4 KiB to 16 MiB"):format(shown)
  end
  return n
end

-- The options each entry point takes; anything else is refused, so that a
-- misspelt option ("n" for "requests") cannot be silently ignored.
local OPTIONS = {
  run = { "workload", "requests", "modes", "page_size", "seed", "warmup", "gc", "keep_bodies", "progress" },
  sweep = { "workload", "requests", "modes", "page_sizes", "seed", "warmup", "gc", "keep_bodies", "progress" },
}

-- The helpers below return their value, or nil and a message for
-- argument #1; options passes the message up to run or sweep.

local function unknown_key(o, fname)
  local known = {}
  for _, k in ipairs(OPTIONS[fname]) do
    known[k] = true
  end
  for k in pairs(o) do
    if not known[k] then
      return ("unknown option '%s' (known: %s)"):format(tostring(k), table.concat(OPTIONS[fname], ", "))
    end
  end
  return nil
end

local function list_of(v, what)
  if type(v) == "string" then
    local out = {}
    for item in v:gmatch("[^,%s]+") do
      out[#out + 1] = item
    end
    v = out
  end
  if type(v) ~= "table" or #v == 0 then
    return nil, what .. " must be a non-empty list"
  end
  return v
end

local function modes_of(o)
  local list, err = list_of(o.modes or M.MODES, "modes")
  if not list then
    return nil, err
  end
  for _, m in ipairs(list) do
    if m ~= "gc" and m ~= "arena" and m ~= "arena-nopool" then
      return nil, ("unknown mode '%s' (expected %s)"):format(tostring(m), table.concat(M.MODES, ", "))
    end
  end
  return list
end

-- run's page_size or sweep's page_sizes, parsed, deduplicated and sorted
-- (a sweep's rows, and its plotted lines, go left to right).
local function page_sizes_of(o, fname)
  local sizes, err
  if fname == "sweep" then
    sizes, err = list_of(o.page_sizes or M.SWEEP_PAGE_SIZES, "page_sizes")
    if not sizes then
      return nil, err
    end
  else
    sizes = { o.page_size or M.PAGE_SIZE }
  end
  local seen, unique = {}, {}
  for _, v in ipairs(sizes) do
    local ps, why = M.parse_size(v)
    if not ps then
      return nil, why
    end
    if not seen[ps] then
      seen[ps] = true
      unique[#unique + 1] = ps
    end
  end
  table.sort(unique)
  return unique
end

local function options(o, fname)
  if o == nil then
    o = {}
  elseif type(o) ~= "table" then
    return nil, ("table expected, got %s"):format(type(o))
  end
  local bad = unknown_key(o, fname)
  if bad then
    return nil, bad
  end
  local ok, w = pcall(M.workload, o.workload or "json")
  if not ok then
    return nil, tostring(w)
  end
  local n = o.requests or w.requests or M.DEFAULT_REQUESTS
  if math.type(n) ~= "integer" or n < 1 then
    return nil, ("requests must be a positive integer, got %s"):format(tostring(n))
  end
  local seed = o.seed or 1
  if math.type(seed) ~= "integer" then
    return nil, ("seed must be an integer, got %s"):format(tostring(seed))
  end
  local mode_list, err = modes_of(o)
  if not mode_list then
    return nil, err
  end
  local sizes
  sizes, err = page_sizes_of(o, fname)
  if not sizes then
    return nil, err
  end
  local warmup = o.warmup or math.min(50, n // 10)
  if math.type(warmup) ~= "integer" or warmup < 0 then
    return nil, ("warmup must be a non-negative integer, got %s"):format(tostring(warmup))
  end
  local gc = o.gc or "incremental"
  if gc ~= "incremental" and gc ~= "generational" then
    return nil, ("gc must be 'incremental' or 'generational', got %s"):format(tostring(gc))
  end
  if o.keep_bodies ~= nil and type(o.keep_bodies) ~= "boolean" then
    return nil, ("keep_bodies must be a boolean, got %s"):format(type(o.keep_bodies))
  end
  if o.progress ~= nil and type(o.progress) ~= "function" then
    return nil, ("progress must be a function, got %s"):format(type(o.progress))
  end
  return {
    workload = w, requests = n, seed = seed, modes = mode_list, page_sizes = sizes,
    warmup = math.min(warmup, n), gc = gc, keep_bodies = o.keep_bodies or false,
    progress = o.progress,
  }
end

local function measure_all(o)
  local w = o.workload
  local reqs = M.generate(w, o.requests, o.seed)
  local plan = {}
  for _, mode in ipairs(o.modes) do
    if mode == "gc" then
      plan[#plan + 1] = { mode, nil } -- the page size does not apply
    else
      for _, ps in ipairs(o.page_sizes) do
        plan[#plan + 1] = { mode, ps }
      end
    end
  end
  local per_run = o.warmup + 2 * o.requests
  local total, done = #plan * per_run, 0
  local result = {
    workload = w.name, requests = o.requests, seed = o.seed, warmup = o.warmup,
    gc_mode = o.gc, modes = o.modes, page_sizes = o.page_sizes, rows = {},
  }
  for k, step in ipairs(plan) do
    local tick
    if o.progress then
      local label = step[2] and ("%s %s %d"):format(w.name, step[1], step[2]) or (w.name .. " " .. step[1])
      tick = function()
        done = done + 1
        o.progress(done, total, label)
      end
    end
    result.rows[k] = run_mode(w, reqs, step[1], step[2] or o.page_sizes[1], o, tick)
  end
  return result
end

--[[
Runs a workload under each mode at one page size.
opts: workload (name, .lua path or table; default "json"), requests,
modes (list or comma string; default all), page_size (an integer or a
size string such as "64k"; default 65536),
seed (default 1), warmup, gc ("incremental" or "generational"),
keep_bodies (true: keep every response body in row.bodies), progress
(function(done, total, label), called between requests). Any other
option is an argument error.
Returns { workload, requests, seed, warmup, gc_mode, modes, page_sizes,
rows = { one flat table of measurements per mode }, by_mode = { [mode] = row } }.
]]
function M.run(opts)
  local o, err = options(opts, "run")
  if not o then
    argerror("run", err)
  end
  local result = measure_all(o)
  result.by_mode = {}
  for _, row in ipairs(result.rows) do
    result.by_mode[row.mode] = row
  end
  return result
end

--[[
Runs a workload across page sizes (opts.page_sizes, a list of integers
or size strings such as { "4k", "1M" }, default 4 KiB .. 1 MiB); other
options as for run. gc mode does not depend on the page size and runs
once (its row has no page_size). Returns the same shape as run, without
by_mode: one row per arena mode and page size.
]]
function M.sweep(opts)
  local o, err = options(opts, "sweep")
  if not o then
    argerror("sweep", err)
  end
  return measure_all(o)
end

return M
