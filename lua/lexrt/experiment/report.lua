--[[
Turns experiment results (what lexrt.experiment.run or .sweep return) into
text: a comparison table for people, CSV and JSON for tools. Every
function takes a list of results, one per workload.
]]

local M = {}

-- Every measurement a row can carry, in the order CSV and JSON show them.
M.COLUMNS = {
  "workload", "mode", "page_size", "requests", "warmup", "seed", "gc_mode",
  "seconds", "req_per_s", "time_median_us", "time_p99_us", "time_mean_us", "time_max_us",
  "bytes_mean", "bytes_max", "wasted_mean", "wasted_max", "pages_mean", "pages_max", "capacity_mean",
  "lua_kb_mean", "lua_kb_max", "lua_kb_total", "gc_cycles",
  "heap_before_kb", "heap_peak_kb", "heap_after_kb",
  "rss_before_kb", "rss_after_kb", "rss_peak_kb",
  "pages_from_system", "pages_reused", "chunks_from_system", "chunks_reused",
  "response_bytes",
}

-- A row with the run-wide fields filled in, without the bulky extras.
local function flat(result, row)
  local out = {}
  for _, k in ipairs(M.COLUMNS) do
    out[k] = row[k]
  end
  out.workload = result.workload
  out.seed = result.seed
  out.gc_mode = result.gc_mode
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

function M.size_label(bytes)
  if bytes >= 1048576 and bytes % 1048576 == 0 then
    return ("%d MiB"):format(bytes // 1048576)
  elseif bytes >= 1024 and bytes % 1024 == 0 then
    return ("%d KiB"):format(bytes // 1024)
  end
  return ("%d B"):format(bytes)
end

---------------------------------------------------------------- CSV

local function csv_field(v)
  if v == nil then
    return ""
  elseif math.type(v) == "float" then
    v = ("%.10g"):format(v) -- ten significant digits, and no exponent below 1e10
  else
    v = tostring(v)
  end
  if v:find('[,"\r\n]') then
    return '"' .. v:gsub('"', '""') .. '"'
  end
  return v
end

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
      workload = result.workload, requests = result.requests, seed = result.seed,
      warmup = result.warmup, gc_mode = result.gc_mode, page_sizes = result.page_sizes,
      modes = result.modes, rows = rows,
    }
  end
  -- The run-level keys are a subset of the row columns; a key listed
  -- twice would be written twice.
  local keyorder = { table.unpack(M.COLUMNS) }
  for _, k in ipairs({ "page_sizes", "modes", "rows", "handler_stats" }) do
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

local function kib(v)
  return v and ("%.1f"):format(v / 1024) or "-"
end

local function sys_reused(row)
  if row.pages_from_system == nil then
    return "-"
  end
  -- Large chunks are pages too, as far as the system is concerned.
  local sys = row.pages_from_system + (row.chunks_from_system or 0)
  local reused = (row.pages_reused or 0) + (row.chunks_reused or 0)
  return ("%d/%d"):format(sys, reused)
end

-- Lays out rows of cells under a header, numbers right-aligned.
local function grid(header, rows)
  local width = {}
  for c, h in ipairs(header) do
    width[c] = #h
  end
  for _, r in ipairs(rows) do
    for c, cell in ipairs(r) do
      width[c] = math.max(width[c], utf8.len(cell) or #cell)
    end
  end
  local function line(cells)
    local out = {}
    for c, cell in ipairs(cells) do
      local pad = (" "):rep(width[c] - (utf8.len(cell) or #cell))
      out[c] = c == 1 and cell .. pad or pad .. cell
    end
    return (table.concat(out, "  "):gsub("%s+$", ""))
  end
  local lines = { line(header) }
  for _, r in ipairs(rows) do
    lines[#lines + 1] = line(r)
  end
  return table.concat(lines, "\n")
end

local COMPARE = {
  "mode", "req/s", "median µs", "p99 µs", "KiB/req", "pages/req",
  "Lua KiB/req", "GC cycles", "heap peak KiB", "pages sys/reused", "vs gc",
}

local function compare_table(result)
  local gc = nil
  for _, row in ipairs(result.rows) do
    if row.mode == "gc" then
      gc = row
    end
  end
  local rows = {}
  for _, row in ipairs(result.rows) do
    local ratio = "-"
    if gc and gc.req_per_s and row.req_per_s then
      ratio = ("%.2fx"):format(row.req_per_s / gc.req_per_s)
    end
    rows[#rows + 1] = {
      row.mode, num(row.req_per_s), num(row.time_median_us, "%.1f"), num(row.time_p99_us, "%.1f"),
      kib(row.bytes_mean), num(row.pages_mean, "%.2f"), num(row.lua_kb_mean, "%.1f"),
      num(row.gc_cycles), num(row.heap_peak_kb), sys_reused(row), ratio,
    }
  end
  local ps = result.page_sizes[1]
  local title = ("%s: %d requests (+%d warm-up), page %s"):format(
    result.workload, result.requests, result.warmup, M.size_label(ps))
  return title .. "\n" .. grid(COMPARE, rows)
end

local SWEEP = {
  "page", "mode", "median µs", "p99 µs", "KiB/req", "wasted B/req",
  "pages/req", "KiB held/req", "Lua KiB/req", "pages sys/reused",
}

local function sweep_table(result)
  local rows = {}
  for _, row in ipairs(result.rows) do
    rows[#rows + 1] = {
      row.page_size and M.size_label(row.page_size) or "(any)", row.mode,
      num(row.time_median_us, "%.1f"), num(row.time_p99_us, "%.1f"), kib(row.bytes_mean),
      num(row.wasted_mean), num(row.pages_mean, "%.2f"), kib(row.capacity_mean),
      num(row.lua_kb_mean, "%.1f"), sys_reused(row),
    }
  end
  local title = ("%s: page-size sweep, %d requests (+%d warm-up)"):format(
    result.workload, result.requests, result.warmup)
  return title .. "\n" .. grid(SWEEP, rows)
end

function M.table(results)
  local parts = {}
  for k, result in ipairs(results) do
    parts[k] = #result.page_sizes > 1 and sweep_table(result) or compare_table(result)
  end
  local r1 = results[1]
  local notes = {
    ("Seed %d, %s collector. Times are CPU time per request (os.clock)."):format(r1.seed, r1.gc_mode),
  }
  if #r1.page_sizes > 1 then
    notes[2] = "KiB/req: bytes the handler stored; wasted: page tails skipped; KiB held: pages and chunks held"
      .. " at the end of a request."
  else
    notes[2] = "KiB/req: bytes the handler stored; Lua KiB/req: Lua heap allocated per request (garbage for"
      .. " the collector);"
    notes[3] = "pages sys/reused: pages and large chunks taken from the system / reused from the pool;"
      .. " vs gc: req/s relative to gc."
  end
  return table.concat(parts, "\n\n") .. "\n\n" .. table.concat(notes, "\n") .. "\n"
end

return M
