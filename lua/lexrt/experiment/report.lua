--[[
Turns experiment results (what lexrt.experiment.run or .sweep return) into
text: tables and conclusions for people, CSV and JSON for tools. Every
function takes a list of results, one per workload.
]]

local format = require("lexrt.experiment.format")
local stats = require("lexrt.experiment.stats")
local summary = require("lexrt.experiment.summary")

local M = {}

M.size_label = format.size_label

-- Every figure a row carries, in the order CSV and JSON show them. The
-- per-round lists are joined with ';' in CSV.
M.COLUMNS = {
  "workload", "label", "mode", "collector", "page_size", "concurrency",
  "requests", "rounds", "warmup", "seed",
  "req_per_s", "req_per_s_lo", "req_per_s_hi", "req_per_wall_s",
  "throughput_ratio", "throughput_ratio_lo", "throughput_ratio_hi", "verdict",
  "p50_us", "p99_us", "p999_us", "max_us", "mean_us",
  "p99_ratio", "p99_ratio_lo", "p99_ratio_hi",
  "lua_kib_per_req", "arena_kib_per_req", "alloc_kib_per_req", "alloc_ratio", "stored_bytes_per_req",
  "heap_peak_kib", "arena_held_peak_kib", "peak_held_kib", "peak_held_kib_lo", "peak_held_kib_hi",
  "peak_held_ratio", "peak_held_ratio_lo", "peak_held_ratio_hi",
  "gc_cycles", "gc_cycles_ratio", "gc_cycles_ratio_lo", "gc_cycles_ratio_hi",
  "pages_per_req", "chunks_per_req", "capacity_kib_per_req", "wasted_bytes_per_req",
  "pages_from_system", "pages_reused", "chunks_from_system", "chunks_reused",
  "image_bytes", "restore_us_per_req",
  "response_bytes", "req_per_s_rounds", "gc_cycles_rounds", "conclusion",
}

-- The run-level fields, in JSON's key order after the rows' columns.
local RUN_KEYS = {
  "timer", "throughput_timer", "level", "coverage", "verdicts", "calibration", "baseline", "modes", "page_sizes",
  "rows", "conclusions", "notes",
  "not_measured", "order",
  "handler_stats",
}

-- A row with the run-wide fields filled in, without the bulky extras.
local function flat(result, row)
  local out = {}
  for _, k in ipairs(M.COLUMNS) do
    out[k] = row[k]
  end
  out.workload = result.workload
  out.seed = result.seed
  return out
end

function M.rows(results)
  local rows = {}
  for _, result in ipairs(results) do
    for _, row in ipairs(result.rows) do
      rows[#rows + 1] = flat(result, row)
    end
  end
  return rows
end

---------------------------------------------------------------- CSV

local csv_field = format.csv_field

function M.csv(results)
  local lines = { table.concat(M.COLUMNS, ",") }
  for _, row in ipairs(M.rows(results)) do
    local fields = {}
    for k, col in ipairs(M.COLUMNS) do
      fields[k] = csv_field(row[col])
    end
    lines[#lines + 1] = table.concat(fields, ",")
  end
  return table.concat(lines, "\n") .. "\n"
end

---------------------------------------------------------------- JSON

function M.json(results)
  local dkjson = require("dkjson")
  local runs = {}
  for k, result in ipairs(results) do
    local rows = {}
    for j, row in ipairs(result.rows) do
      rows[j] = flat(result, row)
      rows[j].handler_stats = row.handler_stats
    end
    runs[k] = {
      workload = result.workload, requests = result.requests, rounds = result.rounds, seed = result.seed,
      warmup = result.warmup, timer = result.timer, throughput_timer = result.throughput_timer, level = result.level,
      coverage = result.coverage,
      verdicts = result.verdicts, calibration = result.calibration,
      baseline = result.baseline, modes = result.modes, page_sizes = result.page_sizes,
      concurrency = result.concurrency, rows = rows, conclusions = result.conclusions, notes = result.notes,
      not_measured = result.not_measured, order = result.order,
    }
  end
  -- The run-level keys that are also row columns come first, once.
  local keyorder = { table.unpack(M.COLUMNS) }
  for _, k in ipairs(RUN_KEYS) do
    keyorder[#keyorder + 1] = k
  end
  return dkjson.encode({ runs = runs }, { indent = true, keyorder = keyorder }) .. "\n"
end

---------------------------------------------------------------- tables

local function num(v, fmt)
  if v == nil then
    return "-"
  end
  return (fmt or "%.0f"):format(v)
end

local sig = format.figures

local function between(lo, hi, fmt)
  if lo == nil then
    return "-"
  end
  return (fmt or "%.0f"):format(lo) .. "-" .. (fmt or "%.0f"):format(hi)
end

local grid = format.grid

-- The intervals' label: "95%", or their real coverage when fewer rounds
-- give less (stats.coverage_label).
local function interval_header(result)
  return stats.coverage_label(result.coverage or 1, result.level) .. " interval"
end

local verdict_cell = format.verdict_cell

local function throughput_table(result)
  local interval = interval_header(result)
  local header = { "mode", "req/s", interval, "vs " .. result.baseline, interval, "verdict" }
  local rows = {}
  local isolate = false
  for _, row in ipairs(result.rows) do
    isolate = isolate or row.image_bytes ~= nil
  end
  if isolate then
    header[#header + 1] = "isolate"
  end
  for _, row in ipairs(result.rows) do
    rows[#rows + 1] = {
      row.label, num(row.req_per_s), between(row.req_per_s_lo, row.req_per_s_hi),
      row.throughput_ratio and format.ratio_text(row.throughput_ratio) .. "x" or "-",
      row.throughput_ratio_lo and format.ratio_text(row.throughput_ratio_lo) .. "-"
        .. format.ratio_text(row.throughput_ratio_hi) or "-",
      verdict_cell(row, result),
    }
    if isolate then
      rows[#rows][7] = format.isolate_text(row) or ""
    end
  end
  return grid(header, rows, { [3] = true, [5] = true, [6] = true, [7] = true })
end

local function pair(a, b)
  if a == nil then
    return "-"
  end
  return sig(a) .. " + " .. ((b or 0) == 0 and "0" or sig(b))
end

local function latency_memory_table(result)
  local header = {
    "mode", "p50 µs", "p99 µs", "p99.9 µs", "max µs",
    "alloc KiB/req", "= Lua + arena", "peak held KiB", "= heap + arena", "GC cycles",
  }
  local rows = {}
  for _, row in ipairs(result.rows) do
    rows[#rows + 1] = {
      row.label, sig(row.p50_us), sig(row.p99_us), sig(row.p999_us), sig(row.max_us),
      sig(row.alloc_kib_per_req), pair(row.lua_kib_per_req, row.arena_kib_per_req),
      sig(row.peak_held_kib), pair(row.heap_peak_kib, row.arena_held_peak_kib), num(row.gc_cycles),
    }
  end
  return grid(header, rows)
end

local function title(result)
  local pages = #result.page_sizes > 1 and "page sizes " .. table.concat((function()
    local out = {}
    for k, ps in ipairs(result.page_sizes) do
      out[k] = M.size_label(ps)
    end
    return out
  end)(), ", ") or "pages of " .. M.size_label(result.page_sizes[1])
  local c = result.concurrency
  local flight = #c > 1 and ("%s requests in flight"):format(table.concat(c, ", "))
    or (c[1] == 1 and "1 request in flight" or ("%d requests in flight"):format(c[1]))
  return ("%s: %d round%s of %d requests per mode (+%d warm-up), %s, %s"):format(
    result.workload, result.rounds, result.rounds == 1 and "" or "s", result.requests, result.warmup, pages, flight)
end

-- How the request count was calibrated, in one line, or nil.
function M.calibration_text(result)
  local c = result.calibration
  if not c then
    return nil
  end
  local ms = c.min_seconds * 1000
  local target = ("%s ms"):format(ms >= 1 and ("%.0f"):format(ms) or ("%.2g"):format(ms))
  if c.capped then
    return ("requests per round calibrated from %d to %d, the cap (max_requests): the fastest mode's round still"
      .. " took only %.1f ms of CPU time, under the %s aimed at; -n fixes the count"):format(
      c.from, c.requests, c.seconds * 1000, target)
  end
  local how = c.requests == c.from and ("%d requests"):format(c.requests)
    or ("calibrated from %d to %d requests"):format(c.from, c.requests)
  return ("requests per round: %s, so that the fastest mode's round takes at least %s of CPU time (it took %.0f ms);"
    .. " -n fixes the count"):format(how, target, c.seconds * 1000)
end

local function workload_text(result)
  local parts = { title(result) }
  parts[#parts + 1] = M.calibration_text(result)
  parts[#parts + 1] = throughput_table(result)
  parts[#parts + 1] = ""
  parts[#parts + 1] = latency_memory_table(result)
  if #result.conclusions > 0 then
    parts[#parts + 1] = ""
    for _, line in ipairs(result.conclusions) do
      parts[#parts + 1] = "  " .. line
    end
  end
  return table.concat(parts, "\n")
end

-- Wraps text at `width` columns, between words.
local function wrap(text, width, indent)
  local lines, line = {}, ""
  for word in text:gmatch("%S+") do
    if line ~= "" and utf8.len(line) + 1 + utf8.len(word) > width then
      lines[#lines + 1] = line
      line = indent .. word
    else
      line = line == "" and word or line .. " " .. word
    end
  end
  lines[#lines + 1] = line
  return table.concat(lines, "\n")
end

local function coverage_text(r)
  local level = math.floor(r.level * 100 + 0.5)
  if r.coverage + 1e-9 < r.level then
    local enough = r.rounds
    repeat
      enough = enough + 1
    until select(2, stats.interval_ranks(enough, r.level)) >= r.level
    return ("only %.1f%% sure with %d rounds (%d give %d%%)"):format(r.coverage * 100, r.rounds, enough, level)
  end
  return ("%d%% (exactly %.1f%% with %d rounds)"):format(level, r.coverage * 100, r.rounds)
end

-- Why a run gives no verdict, or "".
local function no_verdict_text(r)
  local why = summary.unsure(r.rounds, r.level)
  if not why then
    return ""
  end
  return (" No verdict here: %s, so the ratios are shown without one, and the conclusions claim nothing"
    .. " from their intervals."):format(why)
end

local function legend(results)
  local r1 = results[1]
  local text = {
    ("req/s: requests per second of CPU time over a round's timed requests. Latencies: %s, from"
      .. " setting up a request's memory to releasing it. Figures are medians over %d rounds, the modes"
      .. " interleaved in a different order each round; intervals are %s for the median, from order"
      .. " statistics. vs %s: req/s over %s's in the same round. The verdict reads that interval:"
      .. " wholly above 1 faster, wholly below 1 slower, else no difference within the noise.%s"):format(
      r1.timer, r1.rounds, coverage_text(r1), r1.baseline, r1.baseline, no_verdict_text(r1)),
    "alloc: bytes a request allocates, on Lua's heap plus in arenas (counted with the collector stopped)."
      .. " peak held: the Lua heap's peak during the timed requests plus the arena memory held at most"
      .. " (pages and chunks of the open requests, and those a pool keeps). GC cycles: per round.",
  }
  for _, note in ipairs(summary.union(results, "notes")) do
    text[#text + 1] = note
  end
  text[#text + 1] = r1.not_measured.collector_time
  for k, t in ipairs(text) do
    text[k] = wrap(t, 100, "")
  end
  return table.concat(text, "\n")
end

function M.table(results)
  local parts = {}
  for k, result in ipairs(results) do
    parts[k] = workload_text(result)
  end
  return table.concat(parts, "\n\n") .. "\n\n" .. legend(results) .. "\n"
end

return M
