--[[
lexrt.experiment: runs one workload's requests under several ways of
managing request memory (the modes of lexrt.experiment.modes: gc,
gc-gen, arena, arena-nopool, and isolate where the build has isolates)
and says, with intervals, what each costs against Lua's incremental
collector.

Workloads (the built-in ones, files, tables) are lexrt.experiment.workload's;
run and sweep read their options with lexrt.experiment.options, then:
  runner.lua   measures: every variant in every round, interleaved, then
               a census of what each request allocates
  summary.lua  medians, intervals, verdicts and conclusions
  stats.lua    the statistics themselves (pure functions)
]]

local argcheck = require("lexrt.argcheck")
local format = require("lexrt.experiment.format")
local measure = require("lexrt.experiment.measure")
local modes = require("lexrt.experiment.modes")
local options = require("lexrt.experiment.options")
local runner = require("lexrt.experiment.runner")
local stats = require("lexrt.experiment.stats")
local summary = require("lexrt.experiment.summary")
local workload = require("lexrt.experiment.workload")

local M = {}

M.MODES = modes.NAMES
M.BASELINE = modes.BASELINE
M.WORKLOADS = workload.NAMES
M.PAGE_SIZE = options.PAGE_SIZE
M.SWEEP_PAGE_SIZES = options.SWEEP_PAGE_SIZES
M.DEFAULT_REQUESTS = options.DEFAULT_REQUESTS
M.DEFAULT_ROUNDS = options.DEFAULT_ROUNDS
M.MIN_ROUND_SECONDS = options.MIN_ROUND_SECONDS
M.MAX_REQUESTS = options.MAX_REQUESTS
M.default_warmup = options.default_warmup
-- One page-size parser for the command line (--page-sizes) and the Lua
-- API (page_size, page_sizes).
M.parse_size = options.parse_size
M.workload = workload.resolve
M.load_workload = workload.load
M.generate = workload.generate

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
    local more = workload.generate(w, n, seed)
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
        -- Isolate mode exists only with the binding, which owns the list.
        local libs = require("lexrt.maybe_core").core._isolate_libs()
        local last = table.remove(libs)
        error(("workload %s cannot run in isolate mode (it runs under gc): %s. An isolate has only the"
          .. " libraries %s and %s, no os, io, package or debug, and can require"
          .. " only Lua modules found on package.path; %s"):format(w.name, tostring(err):match("^[^\n]*"),
          table.concat(libs, ", "), last, hint), 0)
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
    trial.warmup = o.warmup_fixed and math.min(o.warmup, n) or options.default_warmup(n)
    return runner.fastest_round(plan, w, extend(reqs, w, n, o.seed), trial)
  end)
  o.requests = cal.requests
  o.warmup = o.warmup_fixed and math.min(o.warmup, cal.requests) or options.default_warmup(cal.requests)
  return cal
end

local function measure_all(o)
  local w = o.workload
  local plan, alone = plan_of(o)
  if #plan == 0 then
    error(("no mode of %s can run with more than one request in flight"):format(table.concat(o.modes, ", ")), 0)
  end
  local reqs = workload.generate(w, o.requests, o.seed)
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
  local o, err = options.read(opts, "run")
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
  local o, err = options.read(opts, "sweep")
  if not o then
    argcheck.argerror(1, "sweep", err)
  end
  return measure_all(o)
end

return M
