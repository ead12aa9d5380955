--[[
lexrt.experiment: runs one workload's requests under several ways of
managing request memory (the modes of lexrt.experiment.modes: gc,
gc-gen, arena, arena-nopool) and says, with intervals, what each costs
against Lua's incremental collector.

A workload is a table { name, handler = function(ctx, req) -> ref,
generate = function(rng, i) -> req (optional), requests = N (optional:
requests per round) } written once against the ctx interface of
lexrt.experiment.ctx, so the same code runs (and must produce the same
response bytes) in every mode.

run and sweep check their options here, then:
  runner.lua   measures: every variant in every round, interleaved, then
               a census of what each request allocates
  summary.lua  medians, intervals, verdicts and conclusions
  stats.lua    the statistics themselves (pure functions)
]]

local argcheck = require("lexrt.argcheck")
local format = require("lexrt.experiment.format")
local Rng = require("lexrt.experiment.rng")
local measure = require("lexrt.experiment.measure")
local modes = require("lexrt.experiment.modes")
local runner = require("lexrt.experiment.runner")
local stats = require("lexrt.experiment.stats")
local summary = require("lexrt.experiment.summary")

local core = require("lexrt.maybe_core").core
-- Carries a workload's code into an isolate (the isolate mode), where the
-- build has isolates.
local has_bundle, bundle = pcall(require, "lexrt.experiment.bundle")
if not has_bundle then
  bundle = nil
end

local M = {}

M.MODES = modes.NAMES
M.BASELINE = modes.BASELINE
M.WORKLOADS = { "json", "template", "bulk" }
M.PAGE_SIZE = core and core.PAGE_BYTES or 65536
M.SWEEP_PAGE_SIZES = { 4096, 16384, 65536, 262144, 1048576 }
-- Requests per round for a workload that names no count of its own.
M.DEFAULT_REQUESTS = 200
-- Rounds: with 30, the 95% interval of a median leaves out the nine most
-- extreme rounds on either side (stats.interval_ranks), so that a burst
-- of load on the machine during a few rounds cannot decide a verdict;
-- the default run (make run) takes about half a minute on 2 cores.
M.DEFAULT_ROUNDS = 30
-- Calibration (when the caller does not fix `requests`): the count is
-- doubled until a round of the fastest mode takes at least this much CPU
-- time, so that a fast handler still gets rounds long enough to time
-- and to see its collector at work; at most MAX_REQUESTS requests.
M.MIN_ROUND_SECONDS = 0.05
M.MAX_REQUESTS = 65536

local function fail(fmt, ...)
  error(fmt:format(...), 0)
end

---------------------------------------------------------------- workloads

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

-- Puts the directory of workload file `path` first on package.path (once),
-- so that the workload can require the modules beside it, as a script
-- run with lua5.4 from its directory would; the isolate mode's bundle
-- finds them there too.
local function add_neighbours(path)
  local dir = path:match("^(.*)/[^/]*$") or "."
  local entries = dir .. "/?.lua;" .. dir .. "/?/init.lua;"
  if package.path:sub(1, #entries) ~= entries then
    package.path = entries .. package.path
  end
end

-- Loads a user workload file: a Lua chunk returning a workload table.
function M.load_workload(path)
  local chunk, err = loadfile(path, "t")
  if chunk then
    add_neighbours(path)
  end
  if not chunk then
    fail("cannot load workload: %s", err)
  end
  local ok, w = pcall(chunk)
  if not ok then
    fail("workload %s raised while loading: %s", path, tostring(w))
  end
  checked(w, path)
  w.name = w.name or path:match("([^/]+)%.lua$") or path
  if bundle then
    bundle.remember(w, path)
  end
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

---------------------------------------------------------------- page sizes

local UNITS = { [""] = 1, k = 1024, m = 1024 * 1024 }

-- The core decides which page sizes it takes (core.MIN_PAGE_BYTES ..
-- core.MAX_PAGE_BYTES, powers of two); without the core, only the arena
-- modes could use one, and they cannot run.
local function valid_page_size(n)
  if n < 1 or n & (n - 1) ~= 0 then
    return false
  end
  return not core or (n >= core.MIN_PAGE_BYTES and n <= core.MAX_PAGE_BYTES)
end

local function page_rule()
  if not core then
    return "a power of two"
  end
  return ("a power of two from %s to %s"):format(format.size_label(core.MIN_PAGE_BYTES),
    format.size_label(core.MAX_PAGE_BYTES))
end

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
  if not n or not valid_page_size(n) then
    return nil, ("page size %s must be %s"):format(shown, page_rule())
  end
  return n
end

---------------------------------------------------------------- options

-- Each option's reader takes the value given (nil when absent) and the
-- options read so far, and returns the value to use, or nil and a
-- message. They run in this order, so that a default can depend on an
-- option read before it (requests on the workload, warmup on requests).
-- Anything not listed for run or sweep is refused, so that a misspelt
-- option ("n" for "requests") cannot be silently ignored.

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

-- Unmeasured requests before each mode in each round, unless told.
function M.default_warmup(requests)
  return math.min(50, requests // 10)
end

local function integer(v, name, min)
  if math.type(v) ~= "integer" or v < min then
    local what = min == 1 and "a positive integer" or min == 0 and "a non-negative integer" or "an integer"
    return nil, ("%s must be %s, got %s"):format(name, what, tostring(v))
  end
  return v
end

-- Parsed, deduplicated and sorted sizes (a sweep's rows, and its plotted
-- lines, go left to right).
local function page_sizes(list)
  local seen, unique = {}, {}
  for _, v in ipairs(list) do
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

local function concurrency_list(v)
  local list, err
  if math.type(v) == "integer" then
    list = { v }
  else
    list, err = list_of(v, "concurrency")
    if not list then
      return nil, err
    end
  end
  local seen, out = {}, {}
  for _, c in ipairs(list) do
    local n = math.tointeger(tonumber(c))
    if not n or n < 1 then
      return nil, ("concurrency must be a positive integer, got %s"):format(tostring(c))
    end
    if not seen[n] then
      seen[n] = true
      out[#out + 1] = n
    end
  end
  table.sort(out)
  return out
end

local READ = {
  { "workload", function(v)
    local ok, w = pcall(M.workload, v or "json")
    if not ok then
      return nil, tostring(w)
    end
    return w
  end },
  { "requests", function(v, o)
    return integer(v or o.workload.requests or M.DEFAULT_REQUESTS, "requests", 1)
  end },
  { "rounds", function(v)
    return integer(v or M.DEFAULT_ROUNDS, "rounds", 1)
  end },
  { "modes", function(v, o)
    local list, err = list_of(v or modes.defaults(o.workload), "modes")
    if not list then
      return nil, err
    end
    for _, m in ipairs(list) do
      local _, why = modes.get(m)
      if why then
        return nil, why
      end
    end
    return list
  end },
  { "concurrency", function(v, o, fname)
    local list, err = concurrency_list(v or 1)
    if list and fname == "run" and #list > 1 then
      return nil, "concurrency must be one positive integer in run (sweep takes a list)"
    end
    return list, err
  end },
  { "page_size", function(v)
    return page_sizes({ v or M.PAGE_SIZE })
  end, "run" },
  { "page_sizes", function(v, o)
    -- A concurrency sweep keeps the default page size unless told.
    local default = #o.concurrency > 1 and { M.PAGE_SIZE } or M.SWEEP_PAGE_SIZES
    local list, err = list_of(v or default, "page_sizes")
    if not list then
      return nil, err
    end
    return page_sizes(list)
  end, "sweep" },
  { "seed", function(v)
    return integer(v or 1, "seed", math.mininteger)
  end },
  { "warmup", function(v, o)
    local n, err = integer(v or M.default_warmup(o.requests), "warmup", 0)
    return n and math.min(n, o.requests), err
  end },
  { "min_round_seconds", function(v)
    v = v or M.MIN_ROUND_SECONDS
    if type(v) ~= "number" or v < 0 or v ~= v then
      return nil, ("min_round_seconds must be a non-negative number, got %s"):format(tostring(v))
    end
    return v
  end },
  { "max_requests", function(v, o)
    return integer(v or math.max(M.MAX_REQUESTS, o.requests), "max_requests", 1)
  end },
  { "keep_bodies", function(v)
    if v ~= nil and type(v) ~= "boolean" then
      return nil, ("keep_bodies must be a boolean, got %s"):format(type(v))
    end
    return v or false
  end },
  { "progress", function(v)
    if v ~= nil and type(v) ~= "function" then
      return nil, ("progress must be a function, got %s"):format(type(v))
    end
    return v or false
  end },
}

local function known_options(fname)
  local names = {}
  for _, r in ipairs(READ) do
    if r[3] == nil or r[3] == fname then
      names[#names + 1] = r[1]
    end
  end
  return names
end

local function unknown_key(opts, fname)
  local names = known_options(fname)
  local known = {}
  for _, k in ipairs(names) do
    known[k] = true
  end
  for k in pairs(opts) do
    if not known[k] then
      return ("unknown option '%s' (known: %s)"):format(tostring(k), table.concat(names, ", "))
    end
  end
end

-- The options of run or sweep, read and checked; nil and a message for
-- argument #1 otherwise.
local function options(opts, fname)
  if opts == nil then
    opts = {}
  elseif type(opts) ~= "table" then
    return nil, ("table expected, got %s"):format(type(opts))
  end
  local bad = unknown_key(opts, fname)
  if bad then
    return nil, bad
  end
  local o = { baseline = M.BASELINE }
  for _, r in ipairs(READ) do
    local name, read, only = r[1], r[2], r[3]
    if only == nil or only == fname then
      local v, err = read(opts[name], o, fname)
      if v == nil then
        return nil, err
      end
      o[name] = v
    end
  end
  o.page_sizes = o.page_sizes or o.page_size
  -- Calibrated only when the caller leaves the count open.
  o.calibrate = opts.requests == nil and o.min_round_seconds > 0
  o.warmup_fixed = opts.warmup ~= nil
  return o
end

---------------------------------------------------------------- running

-- Each mode at each page size (one row for the modes without pages) and
-- each concurrency, labelled by what varies. A mode whose requests
-- cannot take turns (interleaves = false) runs only with one in flight;
-- the second result names those left out.
local function plan_of(o)
  local plan, alone = {}, {}
  for _, c in ipairs(o.concurrency) do
    for _, name in ipairs(o.modes) do
      local entry = modes.BY_NAME[name]
      local sizes = entry.pages and o.page_sizes or { o.page_sizes[1] }
      if c > 1 and entry.interleaves == false then
        sizes, alone[name] = {}, true
      end
      for _, ps in ipairs(sizes) do
        local label = name
        if entry.pages and #o.page_sizes > 1 then
          label = label .. " " .. format.size_label(ps)
        end
        if #o.concurrency > 1 then
          label = ("%s x%d"):format(label, c)
        end
        plan[#plan + 1] = {
          mode = name, collector = entry.collector, pages = entry.pages, page_size = ps,
          concurrency = c, label = label,
        }
      end
    end
  end
  return plan, alone
end

-- Requests 1..n of the workload, extending `reqs` (request i depends on
-- (seed, i) alone, so the first ones stay as they were).
local function extend(reqs, w, n, seed)
  if #reqs < n then
    local more = M.generate(w, n, seed)
    for i = #reqs + 1, n do
      reqs[i] = more[i]
    end
  end
  return reqs
end

-- The isolate mode runs the workload without os, io, package or debug:
-- one request, before anything is measured, tells whether it can. A
-- workload that fails in an isolate but not under gc is refused here,
-- with the way to leave isolate out, instead of failing the whole run
-- when its turn comes.
local function preflight(plan, w, reqs, o)
  for _, v in ipairs(plan) do
    if v.mode == "isolate" then
      local ok, err = runner.try(v, w, reqs[1])
      if not ok and runner.try({ mode = "gc", page_size = v.page_size }, w, reqs[1]) then
        local others = {}
        for _, m in ipairs(o.modes) do
          if m ~= "isolate" then
            others[#others + 1] = m
          end
        end
        local hint = #others > 0 and ("leave isolate out: -m %s (modes = %q)"):format(table.concat(others, ","),
          table.concat(others, ",")) or "run it in another mode: -m gc"
        error(("workload %s cannot run in isolate mode (it runs under gc): %s. An isolate has only the"
          .. " libraries string, table, math, utf8 and coroutine, no os, io, package or debug, and can require"
          .. " only Lua modules found on package.path; %s"):format(w.name, tostring(err):match("^[^\n]*"), hint), 0)
      end
      return
    end
  end
end

-- Sets o.requests (and the default warm-up) by calibration; returns
-- what calibrate found, or false when the count was fixed.
local function calibrate(plan, w, reqs, o)
  if not o.calibrate then
    return false
  end
  local trial = setmetatable({}, { __index = o })
  local cal = runner.calibrate(o.requests, o.min_round_seconds, o.max_requests, function(n)
    trial.requests = n
    trial.warmup = o.warmup_fixed and math.min(o.warmup, n) or M.default_warmup(n)
    return runner.fastest_round(plan, w, extend(reqs, w, n, o.seed), trial)
  end)
  o.requests = cal.requests
  o.warmup = o.warmup_fixed and math.min(o.warmup, cal.requests) or M.default_warmup(cal.requests)
  return cal
end

local function measure_all(o)
  local w = o.workload
  local plan, alone = plan_of(o)
  if #plan == 0 then
    error(("no mode of %s can run with more than one request in flight"):format(table.concat(o.modes, ", ")), 0)
  end
  local reqs = M.generate(w, o.requests, o.seed)
  preflight(plan, w, reqs, o)
  local calibration = calibrate(plan, w, reqs, o)
  for i = o.requests + 1, #reqs do
    reqs[i] = nil
  end
  o.level = stats.LEVEL
  local raw, order = runner.measure(plan, w, reqs, o, o.progress or nil)
  local rows, conclusions, notes, order_labels = summary.build(plan, raw, order, o)
  local has_baseline = false
  for _, name in ipairs(o.modes) do
    has_baseline = has_baseline or name == o.baseline
  end
  if not has_baseline then
    table.insert(notes, 1, ("No %s row: %s is the baseline every mode is compared with, so this run has no"
      .. " ratios and no verdicts (add it to the modes: %s)."):format(o.baseline, o.baseline,
      table.concat({ o.baseline, table.unpack(o.modes) }, ",")))
  end
  for _, name in ipairs(o.modes) do
    if alone[name] then
      table.insert(notes, 1, ("%s runs one request at a time (a call runs to completion), so it has rows only"
        .. " with one request in flight."):format(name))
    end
  end
  local _, coverage = stats.interval_ranks(o.rounds, stats.LEVEL)
  return {
    workload = w.name, requests = o.requests, rounds = o.rounds, warmup = o.warmup, seed = o.seed,
    modes = o.modes, page_sizes = o.page_sizes, concurrency = o.concurrency, baseline = o.baseline,
    timer = measure.TIMER, throughput_timer = measure.THROUGHPUT_TIMER, level = stats.LEVEL, coverage = coverage,
    verdicts = stats.verdict_allowed(coverage), calibration = calibration,
    rows = rows, conclusions = conclusions, notes = notes, not_measured = summary.NOT_MEASURED,
    order = order_labels,
  }
end

--[[
Runs a workload under each mode, at one page size and one concurrency.
opts (every one optional; any other is an argument error): workload
(name, .lua path or table; default "json"), requests (per round and
mode), rounds, modes (list or comma string; default all), page_size
(an integer or a size string such as "64k"), concurrency (requests in
flight), seed, warmup, keep_bodies (true: keep every response body in
row.bodies), progress (function(done, total, label)).
Returns the result table documented in docs/API.md, with by_mode[mode]
= that mode's row.
]]
function M.run(opts)
  local o, err = options(opts, "run")
  if not o then
    argcheck.argerror(1, "run", err)
  end
  local result = measure_all(o)
  result.by_mode = {}
  for _, row in ipairs(result.rows) do
    result.by_mode[row.mode] = row
  end
  return result
end

--[[
Runs a workload across page sizes (page_sizes, a list of integers or
size strings, default 4 KiB .. 1 MiB) and/or concurrencies (concurrency,
a list); other options as for run. Modes without pages run once per
concurrency. Returns the same shape as run, without by_mode: one row
per mode, page size and concurrency.
]]
function M.sweep(opts)
  local o, err = options(opts, "sweep")
  if not o then
    argcheck.argerror(1, "sweep", err)
  end
  return measure_all(o)
end

return M
