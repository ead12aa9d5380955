--[[
Turns the runner's raw figures into an experiment's result: one row per
variant with medians and 95% intervals over the rounds, the comparison
with the baseline mode (gc) at the same concurrency, a verdict, and a
conclusion in words that claims only what the intervals support. Pure:
it sees numbers, never a clock, so the specs can feed it made-up rounds.

Every ratio is "this variant over the baseline", computed per round (both
ran in the same round) and summarised by its median and interval: above
1 for throughput is faster; below 1 for p99, collector cycles and memory
held is less.
]]

local format = require("lexrt.experiment.format")
local maybe_core = require("lexrt.maybe_core")
local measure = require("lexrt.experiment.measure")
local modes = require("lexrt.experiment.modes")
local stats = require("lexrt.experiment.stats")

local M = {}

-- The formatters the specs and older callers reach through here.
M.ratio_text = format.ratio_text
M.isolate_text = format.isolate_text

local function column(rounds, key)
  local out = {}
  for r, seg in ipairs(rounds) do
    out[r] = seg[key]
  end
  return out
end

local function sum(rounds, key)
  local s = nil
  for _, seg in ipairs(rounds) do
    if seg[key] then
      s = (s or 0) + seg[key]
    end
  end
  return s
end

-- Sets row[name], row[name_lo], row[name_hi] from per-round values.
local function put_interval(row, name, values, level)
  if #values == 0 then
    return
  end
  row[name], row[name .. "_lo"], row[name .. "_hi"] = stats.median_interval(values, level)
end

-- Latency percentiles over every request of every round, in µs.
local function latency(row, raw)
  local all = {}
  for _, seg in ipairs(raw.rounds) do
    measure.unpack_into(all, seg.latencies)
  end
  table.sort(all)
  local total = 0
  for i = 1, #all do
    total = total + all[i]
  end
  row.p50_us = stats.percentile(all, 50) * 1e6
  row.p99_us = stats.percentile(all, 99) * 1e6
  row.p999_us = stats.percentile(all, 99.9) * 1e6
  row.max_us = all[#all] * 1e6
  row.mean_us = total / #all * 1e6
end

-- Per-request figures from the census.
local function memory(row, c, n, v)
  row.lua_kib_per_req = c.lua_kib / n
  row.arena_kib_per_req = c.arena_bytes / n / 1024
  row.alloc_kib_per_req = row.lua_kib_per_req + row.arena_kib_per_req
  row.stored_bytes_per_req = c.stored_bytes / n
  row.response_bytes = c.response_bytes
  row.arena_held_peak_kib = c.held_peak_bytes / 1024
  if v.pages then
    row.pages_per_req = c.pages / n
    row.chunks_per_req = c.chunks / n
    row.capacity_kib_per_req = c.capacity_bytes / n / 1024
    row.wasted_bytes_per_req = c.wasted_bytes / n
  end
  row.bodies = c.bodies
end

local function pages(row, raw, v, o)
  local rounds = raw.rounds
  if rounds[1] and rounds[1].pages_from_system then
    for _, k in ipairs(modes.POOL_KEYS) do
      row[k] = sum(rounds, k)
    end
    row.handler_stats = rounds[#rounds].handler_stats
  elseif v.pages then
    -- No pool: every page and chunk a request used came from the system.
    -- The requests are the same in every round, so the census saw them.
    local c = raw.census
    row.chunks_from_system = c.chunks * o.rounds
    row.pages_from_system = c.pages * o.rounds
    row.pages_reused, row.chunks_reused = 0, 0
  end
end

-- The isolate mode's image and what restoring it costs: the image's
-- size, and the time spent restoring it per request (median over the
-- rounds), so that a slow isolate row explains itself.
local function isolate_figures(row, rounds)
  if not (rounds[1] and rounds[1].image_bytes) then
    return
  end
  row.image_bytes = rounds[#rounds].image_bytes
  local per = {}
  for _, seg in ipairs(rounds) do
    if seg.restores and seg.restores > 0 then
      per[#per + 1] = seg.restore_seconds / seg.restores * 1e6
    end
  end
  row.restore_us_per_req = stats.median(stats.sorted(per))
end

local function row_of(v, raw, o)
  local rounds = raw.rounds
  local row = {
    mode = v.mode, label = v.label, collector = v.collector, page_size = v.pages and v.page_size or nil,
    concurrency = v.concurrency, requests = o.requests, rounds = o.rounds, warmup = o.warmup,
  }
  put_interval(row, "req_per_s", column(rounds, "req_per_s"))
  row.req_per_s_rounds = column(rounds, "req_per_s")
  row.req_per_wall_s = stats.median(stats.sorted(column(rounds, "req_per_wall_s")))
  latency(row, raw)
  memory(row, raw.census, o.requests, v)
  local arena_peak = row.arena_held_peak_kib
  local held = {}
  for r, seg in ipairs(rounds) do
    held[r] = seg.heap_peak_kib + arena_peak
  end
  row.heap_peak_kib = stats.median(stats.sorted(column(rounds, "heap_peak_kib")))
  put_interval(row, "peak_held_kib", held)
  row.gc_cycles = stats.median(stats.sorted(column(rounds, "gc_cycles")))
  row.gc_cycles_rounds = column(rounds, "gc_cycles")
  pages(row, raw, v, o)
  isolate_figures(row, rounds)
  return row, held
end

---------------------------------------------------------------- comparison

-- The ratios of `row` over `base`, round by round.
-- With `sure` false (too few rounds for a verdict: stats.verdict_allowed)
-- the ratios and their intervals are kept, and the verdict left out.
local function compare(row, base, rows_raw, held, sure)
  local r, b = rows_raw[row], rows_raw[base]
  put_interval(row, "throughput_ratio", stats.ratios(column(r.rounds, "req_per_s"), column(b.rounds, "req_per_s")))
  row.verdict = sure and stats.verdict(row.throughput_ratio_lo, row.throughput_ratio_hi) or nil
  put_interval(row, "p99_ratio", stats.ratios(column(r.rounds, "p99_us"), column(b.rounds, "p99_us")))
  put_interval(row, "gc_cycles_ratio", stats.ratios(column(r.rounds, "gc_cycles"), column(b.rounds, "gc_cycles")))
  put_interval(row, "peak_held_ratio", stats.ratios(held[row], held[base]))
  if base.alloc_kib_per_req > 0 then
    row.alloc_ratio = row.alloc_kib_per_req / base.alloc_kib_per_req
  end
end

-- The values of every result's list `field` (result.modes, result.notes),
-- each once, in the order first met: what a report or plot of several
-- results lists.
function M.union(results, field)
  local list, seen = {}, {}
  for _, result in ipairs(results) do
    for _, v in ipairs(result[field]) do
      if not seen[v] then
        seen[v] = true
        list[#list + 1] = v
      end
    end
  end
  return list
end

local times, span = format.times, format.span

-- Each clause of a conclusion, from a row compared with its baseline;
-- nil when there is nothing the measurements support saying.
-- `unsure` is nil, or the reason why the intervals are too wide for a
-- verdict: then only the throughput clause names an interval (with that
-- reason), and the clauses that would read one say nothing.
local CLAUSES = {
  function(row, base, unsure)
    local m, lo, hi = row.throughput_ratio, row.throughput_ratio_lo, row.throughput_ratio_hi
    if not m then
      return nil
    end
    if unsure then
      return ("%s %s the throughput of %s, no verdict (%s)"):format(times(m), span(lo, hi), base, unsure)
    end
    if row.verdict == stats.VERDICTS.within then
      return ("throughput no different from %s's within the noise (%s %s)"):format(base, times(m), span(lo, hi))
    end
    return ("%s %s the throughput of %s"):format(times(m), span(lo, hi), base)
  end,
  function(row, _, unsure)
    local m, lo, hi = row.p99_ratio, row.p99_ratio_lo, row.p99_ratio_hi
    local where = m and not unsure and stats.compare(lo, hi)
    if where == "below" then
      return ("p99 %s lower %s"):format(times(1 / m), span(1 / hi, 1 / lo))
    elseif where == "above" then
      return ("p99 %s higher %s"):format(times(m), span(lo, hi))
    elseif where then
      return "p99 within the noise"
    end
  end,
  function(row, _, unsure)
    local m, lo, hi = row.gc_cycles_ratio, row.gc_cycles_ratio_lo, row.gc_cycles_ratio_hi
    if row.gc_cycles == 0 then
      return "no collector cycles"
    end
    local where = m and not unsure and stats.compare(lo, hi)
    if where == "below" then
      return ("%d%% fewer collector cycles"):format(math.floor((1 - m) * 100 + 0.5))
    elseif where == "above" then
      return ("%d%% more collector cycles"):format(math.floor((m - 1) * 100 + 0.5))
    elseif where then
      return "as many collector cycles"
    end
  end,
  function(row)
    -- The census is exact (the same requests, the collector stopped): no
    -- interval to consult.
    local a = row.alloc_ratio
    if not a then
      return nil
    elseif math.abs(a - 1) < 0.02 then
      return "allocates as much per request"
    end
    return ("allocates %d%% %s per request"):format(math.floor(math.abs(1 - a) * 100 + 0.5), a < 1 and "less" or "more")
  end,
  function(row, base, unsure)
    local m, lo, hi = row.peak_held_ratio, row.peak_held_ratio_lo, row.peak_held_ratio_hi
    local where = m and not unsure and stats.compare(lo, hi)
    if where == "within" then
      return ("peak memory held no different from %s's"):format(base)
    elseif where then
      return ("peak memory held %s %s %s's"):format(times(m), span(lo, hi), base)
    end
  end,
  function(row)
    local text = format.isolate_text(row)
    if text and row.restore_us_per_req and row.req_per_s and row.req_per_s > 0 then
      local share = row.restore_us_per_req / (1e6 / row.req_per_s) * 100
      text = text .. (" (about %s%% of a request's time)"):format(share >= 10 and ("%.0f"):format(share)
        or ("%.1f"):format(share))
    end
    return text
  end,
}

function M.conclusion(row, base_label, unsure)
  local parts = {}
  for _, clause in ipairs(CLAUSES) do
    parts[#parts + 1] = clause(row, base_label, unsure)
  end
  return row.label .. ": " .. table.concat(parts, "; ") .. "."
end

---------------------------------------------------------------- notes

-- The bound on the free chunks a handler's pool keeps, as the C module
-- sets it. Only rows with pages (which need the C module) mention it.
local POOL_BYTES = maybe_core.core and maybe_core.core.POOL_BYTES

-- Explanations, added when the rows show what they explain.
local function notes(rows, baseline, sure)
  local out = {}
  local seen = {}
  local function once(key, text)
    if not seen[key] then
      seen[key] = true
      out[#out + 1] = text
    end
  end
  for _, row in ipairs(rows) do
    local base = sure and baseline[row]
    if base and row.collector == "incremental" and row.gc_cycles_ratio_lo and row.gc_cycles_ratio_lo > 1
      and row.lua_kib_per_req < base.lua_kib_per_req then
      once("pause", ("%s runs more collector cycles than %s while allocating less on the Lua heap: the"
        .. " incremental collector starts a new cycle when the heap reaches its pause (200%% by default: twice)"
        .. " of what the last cycle left alive, and %s keeps less alive on the Lua heap (its request data is in"
        .. " the arena), so that threshold is lower and comes sooner; each of those cycles has less to"
        .. " traverse."):format(row.label, base.label, row.label))
    end
    if base and row.collector == "generational" and row.gc_cycles_ratio_lo and row.gc_cycles_ratio_lo > 1 then
      once("minor", ("%s counts every minor collection as a cycle: each traverses only the young objects, which is"
        .. " why more of them can cost less."):format(row.label))
    end
    if base and row.page_size and row.peak_held_ratio_lo and row.peak_held_ratio_lo > 1 then
      once("held", ("%s holds more memory at its peak than %s: arena memory comes in whole pages (%s each) and"
        .. " chunks however little a request stores, and a pool keeps the free ones between requests (up to its"
        .. " pool_pages bound and %s of chunks) so that the next request need not ask the system."):format(
        row.label, base.label, format.size_label(row.page_size), format.size_label(POOL_BYTES)))
    end
  end
  return out
end

-- What the experiment does not measure, and why.
M.NOT_MEASURED = {
  collector_time = "Time spent in the collector is not measured: Lua 5.4 runs its steps inside allocations and"
    .. " offers no hook to time them; collector cycles are counted instead.",
}

---------------------------------------------------------------- the result

--[[
Why intervals from `rounds` rounds are too unsure for a verdict, or nil
when they are not: "a 75% interval from 3 rounds; a verdict needs at
least 90% (5 rounds)". No comma: it goes into CSV fields unquoted-safe.
]]
function M.unsure(rounds, level)
  local _, coverage = stats.interval_ranks(rounds, level)
  if stats.verdict_allowed(coverage) then
    return nil
  end
  local need = stats.MIN_VERDICT_COVERAGE
  return ("a %s interval from %d round%s; a verdict needs at least %s (%d rounds)"):format(
    stats.coverage_label(coverage, level), rounds, rounds == 1 and "" or "s",
    stats.coverage_label(need, need), stats.values_for(need, level))
end

--[[
plan: the variants; raw, order: what runner.measure returned; o: the
options (requests, rounds, warmup, seed, workload, baseline, ...).
Returns the rows, the conclusions, the notes and each round's order as
labels.
]]
function M.build(plan, raw, order, o)
  local rows, rows_raw, held = {}, {}, {}
  for k, v in ipairs(plan) do
    local row, h = row_of(v, raw[k], o)
    rows[k], rows_raw[row], held[row] = row, raw[k], h
  end
  -- Each row's baseline: the baseline mode at the same concurrency.
  local base_at, baseline = {}, {}
  for _, row in ipairs(rows) do
    if row.mode == o.baseline then
      base_at[row.concurrency] = row
    end
  end
  local unsure = M.unsure(o.rounds, o.level)
  local conclusions = {}
  for _, row in ipairs(rows) do
    local base = base_at[row.concurrency]
    if base and base ~= row then
      baseline[row] = base
      compare(row, base, rows_raw, held, not unsure)
      row.conclusion = M.conclusion(row, base.label, unsure)
      conclusions[#conclusions + 1] = row.conclusion
    end
  end
  local labels = {}
  for r, round in ipairs(order) do
    labels[r] = {}
    for j, k in ipairs(round) do
      labels[r][j] = plan[k].label
    end
  end
  return rows, conclusions, notes(rows, baseline, not unsure), labels
end

return M
