--[[
The text of lexrt-experiment --http's results (lexrt.experiment.http):
a table for people, CSV and JSON for tools, as lexrt.experiment.report
writes the in-process ones. Every function takes a list of results.
]]

local format = require("lexrt.experiment.format")
local stats = require("lexrt.experiment.stats")

local M = {}

M.COLUMNS = {
  "workload", "label", "mode", "concurrency", "rounds", "duration", "requests", "seed",
  "req_per_s", "req_per_s_lo", "req_per_s_hi",
  "throughput_ratio", "throughput_ratio_lo", "throughput_ratio_hi", "verdict",
  "p50_us", "p99_us", "p99_us_lo", "p99_us_hi", "p999_us", "max_us",
  "p99_ratio", "p99_ratio_lo", "p99_ratio_hi",
  "cpu_us_per_req", "cpu_us_per_req_lo", "cpu_us_per_req_hi", "cpu_ratio", "cpu_ratio_lo", "cpu_ratio_hi",
  "busy", "peak_rss_kib", "requests_total", "errors", "non_2xx", "req_per_s_rounds", "p99_us_rounds", "conclusion",
}

local function flat(result, row)
  local out = {}
  for _, k in ipairs(M.COLUMNS) do
    out[k] = row[k]
  end
  out.workload, out.rounds, out.duration = result.workload, result.rounds, result.duration
  out.requests, out.seed = result.requests, result.seed
  return out
end

local csv_field = format.csv_field

function M.csv(results)
  local lines = { table.concat(M.COLUMNS, ",") }
  for _, result in ipairs(results) do
    for _, row in ipairs(result.rows) do
      local r, fields = flat(result, row), {}
      for k, col in ipairs(M.COLUMNS) do
        fields[k] = csv_field(r[col])
      end
      lines[#lines + 1] = table.concat(fields, ",")
    end
  end
  return table.concat(lines, "\n") .. "\n"
end

local RUN_KEYS = {
  "http", "workload", "requests", "rounds", "duration", "warmup", "seed", "modes", "concurrency", "baseline",
  "level", "coverage", "verdicts", "pinned", "server_cpu", "client_cpu", "rows", "conclusions", "notes", "order",
}

function M.json(results)
  local dkjson = require("dkjson")
  local runs = {}
  for k, result in ipairs(results) do
    local run = {}
    for _, key in ipairs(RUN_KEYS) do
      run[key] = result[key]
    end
    run.rows = {}
    for j, row in ipairs(result.rows) do
      run.rows[j] = flat(result, row)
    end
    runs[k] = run
  end
  local keyorder = { table.unpack(M.COLUMNS) }
  for _, key in ipairs(RUN_KEYS) do
    keyorder[#keyorder + 1] = key
  end
  return dkjson.encode({ runs = runs }, { indent = true, keyorder = keyorder }) .. "\n"
end

---------------------------------------------------------------- table

M.grid = format.grid

local sig = format.figures

local function between(lo, hi)
  if lo == nil then
    return "-"
  end
  return ("%.0f-%.0f"):format(lo, hi)
end

local function ratio_cells(m, lo, hi)
  if not m then
    return "-", "-"
  end
  return format.times(m), format.ratio_text(lo) .. "-" .. format.ratio_text(hi)
end

local verdict_cell = format.verdict_cell

local function title(result)
  local c = result.concurrency
  return ("%s over HTTP: %d round%s of %d s per mode and concurrency (+%d s warm-up), %d distinct requests, %s"
    .. " connection%s; %s"):format(result.workload, result.rounds, result.rounds == 1 and "" or "s", result.duration,
    result.warmup, result.requests, table.concat(c, ", "), (#c == 1 and c[1] == 1) and "" or "s",
    result.pinned and ("server on CPU %d, wrk on CPU %d"):format(result.server_cpu, result.client_cpu)
      or "server and wrk not pinned to CPUs")
end

local function result_text(result)
  local interval = stats.coverage_label(result.coverage, result.level) .. " interval"
  local header = { "mode", "conns", "req/s", interval, "vs " .. result.baseline, interval, "verdict",
    "p50 µs", "p99 µs", "p99.9 µs", "p99 vs " .. result.baseline, "CPU µs/req", "busy", "peak RSS KiB" }
  local rows = {}
  for _, row in ipairs(result.rows) do
    local ratio, ratio_iv = ratio_cells(row.throughput_ratio, row.throughput_ratio_lo, row.throughput_ratio_hi)
    rows[#rows + 1] = {
      row.mode, tostring(row.concurrency), ("%.0f"):format(row.req_per_s), between(row.req_per_s_lo, row.req_per_s_hi),
      ratio, ratio_iv, verdict_cell(row, result), sig(row.p50_us), sig(row.p99_us), sig(row.p999_us),
      row.p99_ratio and format.times(row.p99_ratio) or "-", sig(row.cpu_us_per_req),
      ("%.0f%%"):format(row.busy * 100), row.peak_rss_kib and tostring(row.peak_rss_kib) or "-",
    }
  end
  local parts = { title(result), M.grid(header, rows, { [4] = true, [6] = true, [7] = true }) }
  if #result.conclusions > 0 then
    parts[#parts + 1] = ""
    for _, line in ipairs(result.conclusions) do
      parts[#parts + 1] = "  " .. line
    end
  end
  for _, note in ipairs(result.notes) do
    parts[#parts + 1] = "  note: " .. note
  end
  return table.concat(parts, "\n")
end

M.LEGEND = "req/s: wrk's requests over its run, per segment; latencies: wrk's, from sending a request to its"
  .. " response. Figures are medians over the rounds, the modes interleaved in a different order each round;"
  .. " intervals are for the median, from order statistics; ratios are paired by round. CPU µs/req: the"
  .. " server's CPU time (/proc/<pid>/schedstat) over the requests it answered; busy: that time over the"
  .. " segment's duration (100%: the server's core was saturated)."

-- Wraps text at `width` columns, between words.
local function wrap(text, width)
  local lines, line = {}, ""
  for word in text:gmatch("%S+") do
    if line ~= "" and utf8.len(line) + 1 + utf8.len(word) > width then
      lines[#lines + 1], line = line, word
    else
      line = line == "" and word or line .. " " .. word
    end
  end
  lines[#lines + 1] = line
  return table.concat(lines, "\n")
end

function M.table(results)
  local parts = {}
  for k, result in ipairs(results) do
    parts[k] = result_text(result)
  end
  return table.concat(parts, "\n\n") .. "\n\n" .. wrap(M.LEGEND, 100) .. "\n"
end

return M
