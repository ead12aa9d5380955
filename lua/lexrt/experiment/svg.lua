--[[
Draws experiment results as one standalone SVG, a block of four panels
per workload, every panel showing the same quantity for every mode:

  a run (one page size, one concurrency):
    throughput relative to the baseline: median and interval per mode
    (labelled with the interval's real coverage below 95%)
    latency percentiles (p50, p99, p99.9, max) per mode, log scale
    bytes allocated per request, Lua heap plus arena, per mode
    peak memory held, Lua heap plus arena, per mode
  a sweep (several page sizes or concurrencies): the same four figures
    against the page size or the concurrency (log scale), a line per mode
    (throughput as req/s with its interval, latency as p99); a mode
    without pages is drawn flat and dashed across a page-size sweep.

Each drawn series is a <g class="series" data-mode=... data-panel=...>,
so tools (and the specs) can find them.
]]

local modes = require("lexrt.experiment.modes")
local stats = require("lexrt.experiment.stats")
local format = require("lexrt.experiment.format")
local summary = require("lexrt.experiment.summary")

local M = {}

-- Colours and markers by the mode's place in modes.LIST, so that a mode
-- looks the same in every panel and every plot.
local PALETTE = { "#555555", "#2ca02c", "#1f77b4", "#d62728", "#9467bd", "#ff7f0e", "#8c564b" }

local PANEL_W, PANEL_H = 420, 220
local LEFT, COL_GAP, ROW_GAP = 110, 130, 110
local TOP = 96
local BLOCK_H = 2 * PANEL_H + 2 * ROW_GAP + 30
local WIDTH = LEFT + 2 * PANEL_W + COL_GAP + 60

local function esc(s)
  return (tostring(s):gsub('[&<>"]', { ["&"] = "&amp;", ["<"] = "&lt;", [">"] = "&gt;", ['"'] = "&quot;" }))
end

local function fmt(v)
  if v == math.floor(v) and math.abs(v) < 1e15 then
    return ("%d"):format(v)
  end
  return ("%.3g"):format(v)
end

local amount = format.figures

local function style_of(mode)
  for k, name in ipairs(modes.NAMES) do
    if name == mode then
      return PALETTE[(k - 1) % #PALETTE + 1], k
    end
  end
  return PALETTE[#PALETTE], #PALETTE
end

-- A marker for the k-th mode: circle, square, diamond, triangle, ...
local function marker(out, k, x, y, color, tip)
  local shape = (k - 1) % 4
  tip = tip and ("<title>%s</title>"):format(esc(tip)) or ""
  if shape == 0 then
    out[#out + 1] = ('<circle cx="%.1f" cy="%.1f" r="4" fill="%s">%s</circle>'):format(x, y, color, tip)
  elseif shape == 1 then
    out[#out + 1] = ('<rect x="%.1f" y="%.1f" width="8" height="8" fill="%s">%s</rect>'):format(
      x - 4, y - 4, color, tip)
  elseif shape == 2 then
    out[#out + 1] = ('<polygon points="%.1f,%.1f %.1f,%.1f %.1f,%.1f %.1f,%.1f" fill="%s">%s</polygon>'):format(
      x, y - 5, x + 5, y, x, y + 5, x - 5, y, color, tip)
  else
    out[#out + 1] = ('<polygon points="%.1f,%.1f %.1f,%.1f %.1f,%.1f" fill="%s">%s</polygon>'):format(
      x, y - 5, x + 5, y + 4, x - 5, y + 4, color, tip)
  end
end

---------------------------------------------------------------- scales

-- A round step giving about `n` ticks over [0, max].
local function nice_step(max, n)
  if max ~= max or max <= 0 then
    return 1
  end
  local raw = max / n
  local mag = 10 ^ math.floor(math.log(raw, 10))
  for _, m in ipairs({ 1, 2, 2.5, 5, 10 }) do
    if m * mag >= raw then
      return m * mag
    end
  end
  return 10 * mag
end

-- A linear scale from lo (0 unless given; rounded down to a tick) to a
-- round value above max.
local function linear(lo, max)
  lo = lo or 0
  local step = nice_step((max - lo) * 1.05, 5)
  lo = math.floor(lo / step + 1e-9) * step
  local top = lo + step * math.max(1, math.ceil((max - lo) * 1.05 / step))
  local ticks = {}
  for v = lo, top + step / 2, step do
    ticks[#ticks + 1] = v
  end
  return { lo = lo, hi = top, ticks = ticks, at = function(v)
    return (v - lo) / (top - lo)
  end }
end

-- A log10 scale over [min, max], ticks at 1, 2, 5 x 10^k.
local function log10(min, max)
  local lo = 10 ^ math.floor(math.log(min, 10))
  local hi = 10 ^ math.ceil(math.log(max, 10))
  if hi <= lo then
    hi = lo * 10
  end
  local ticks = {}
  local decade = lo
  while decade <= hi do
    for _, m in ipairs({ 1, 2, 5 }) do
      local v = m * decade
      if v >= lo and v <= hi then
        ticks[#ticks + 1] = v
      end
    end
    decade = decade * 10
  end
  local llo, lhi = math.log(lo, 10), math.log(hi, 10)
  return { lo = lo, hi = hi, ticks = ticks, at = function(v)
    return (math.log(v, 10) - llo) / (lhi - llo)
  end }
end

---------------------------------------------------------------- panels

local function frame(out, x0, y0, title, note)
  out[#out + 1] = ('<text class="panel-title" x="%.1f" y="%.1f">%s</text>'):format(x0, y0 - 22, esc(title))
  if note then
    out[#out + 1] = ('<text class="note" x="%.1f" y="%.1f">%s</text>'):format(x0, y0 - 7, esc(note))
  end
  out[#out + 1] = ('<rect x="%d" y="%d" width="%d" height="%d" fill="none" stroke="#999"/>'):format(
    x0, y0, PANEL_W, PANEL_H)
end

-- Value ticks along the x axis (horizontal bar panels).
local function x_ticks(out, scale, x0, y0, label)
  for _, v in ipairs(scale.ticks) do
    local x = x0 + scale.at(v) * PANEL_W
    out[#out + 1] = ('<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="#e5e5e5"/>'):format(x, y0, x, y0 + PANEL_H)
    out[#out + 1] = ('<text class="tick" x="%.1f" y="%d" text-anchor="middle">%s</text>'):format(
      x, y0 + PANEL_H + 16, fmt(v))
  end
  out[#out + 1] = ('<text class="axis" x="%.1f" y="%d" text-anchor="middle">%s</text>'):format(
    x0 + PANEL_W / 2, y0 + PANEL_H + 36, esc(label))
end

-- Value ticks along the y axis (line panels).
local function y_ticks(out, scale, x0, y0, label)
  for _, v in ipairs(scale.ticks) do
    local y = y0 + PANEL_H - scale.at(v) * PANEL_H
    out[#out + 1] = ('<line x1="%d" y1="%.1f" x2="%d" y2="%.1f" stroke="#e5e5e5"/>'):format(x0, y, x0 + PANEL_W, y)
    out[#out + 1] = ('<text class="tick" x="%d" y="%.1f" text-anchor="end">%s</text>'):format(x0 - 6, y + 4, fmt(v))
  end
  out[#out + 1] = ('<text class="axis" transform="translate(%d,%.1f) rotate(-90)" text-anchor="middle">'
    .. '%s</text>'):format(x0 - 62, y0 + PANEL_H / 2, esc(label))
end

-- The rows' labels down the left of a horizontal panel; returns each
-- row's centre y.
local function row_labels(out, rows, x0, y0)
  local band = PANEL_H / #rows
  local ys = {}
  for i, row in ipairs(rows) do
    ys[i] = y0 + (i - 0.5) * band
    out[#out + 1] = ('<text class="tick" x="%d" y="%.1f" text-anchor="end">%s</text>'):format(
      x0 - 8, ys[i] + 4, esc(row.label))
  end
  return ys, band
end

-- The intervals' label: their real coverage when it falls short of 95%.
local function interval_label(result)
  return stats.coverage_label(result.coverage, result.level)
end

-- A row's verdict as the plot shows it.
local function verdict_text(row)
  return row.verdict or "no verdict"
end

local function throughput_panel(out, result, x0, y0)
  local rows = result.rows
  local lo, hi = 1, 1
  for _, row in ipairs(rows) do
    if row.throughput_ratio_lo then
      lo, hi = math.min(lo, row.throughput_ratio_lo), math.max(hi, row.throughput_ratio_hi)
    end
  end
  local pad = math.max(0.05, (hi - lo) * 0.1)
  local scale = linear(math.floor((lo - pad) * 20) / 20, hi + pad)
  frame(out, x0, y0, "Throughput relative to " .. result.baseline,
    ("median of the per-round ratios; bar: %s interval; right of 1: faster"):format(interval_label(result)))
  x_ticks(out, scale, x0, y0, "req/s over " .. result.baseline .. "'s req/s in the same round")
  local one = x0 + scale.at(1) * PANEL_W
  out[#out + 1] = ('<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="#333" stroke-dasharray="4 3"/>'):format(
    one, y0, one, y0 + PANEL_H)
  local ys = row_labels(out, rows, x0, y0)
  for i, row in ipairs(rows) do
    local color, k = style_of(row.mode)
    local y = ys[i]
    out[#out + 1] = ('<g class="series" data-mode="%s" data-panel="throughput">'):format(esc(row.mode))
    if row.throughput_ratio then
      local a, b = x0 + scale.at(row.throughput_ratio_lo) * PANEL_W, x0 + scale.at(row.throughput_ratio_hi) * PANEL_W
      out[#out + 1] = ('<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="%s" stroke-width="3"/>'):format(
        a, y, b, y, color)
      marker(out, k, x0 + scale.at(row.throughput_ratio) * PANEL_W, y, color,
        ("%s: %.2fx [%.2f-%.2f], %s"):format(row.label, row.throughput_ratio, row.throughput_ratio_lo,
          row.throughput_ratio_hi, verdict_text(row)))
      out[#out + 1] = ('<text class="note" x="%.1f" y="%.1f">%s</text>'):format(
        math.min(b, x0 + PANEL_W - 150) + 6, y - 8, esc(verdict_text(row)))
    else
      marker(out, k, one, y, color, row.label .. ": the baseline")
      out[#out + 1] = ('<text class="note" x="%.1f" y="%.1f">baseline</text>'):format(one + 8, y - 8)
    end
    out[#out + 1] = "</g>"
  end
end

local PERCENTILES = { { "p50", "p50_us" }, { "p99", "p99_us" }, { "p99.9", "p999_us" }, { "max", "max_us" } }

local function latency_panel(out, result, x0, y0)
  local min, max = math.huge, 0
  for _, row in ipairs(result.rows) do
    for _, p in ipairs(PERCENTILES) do
      local v = row[p[2]]
      if v and v > 0 then
        min, max = math.min(min, v), math.max(max, v)
      end
    end
  end
  local scale = log10(min, max)
  frame(out, x0, y0, "Latency per request", "wall clock, every request of every round; a line per mode")
  y_ticks(out, scale, x0, y0, "µs per request (log scale)")
  local step = PANEL_W / #PERCENTILES
  for j, p in ipairs(PERCENTILES) do
    out[#out + 1] = ('<text class="tick" x="%.1f" y="%d" text-anchor="middle">%s</text>'):format(
      x0 + (j - 0.5) * step, y0 + PANEL_H + 16, p[1])
  end
  out[#out + 1] = ('<text class="axis" x="%.1f" y="%d" text-anchor="middle">percentile</text>'):format(
    x0 + PANEL_W / 2, y0 + PANEL_H + 36)
  for _, row in ipairs(result.rows) do
    local color, k = style_of(row.mode)
    local pts, marks = {}, {}
    for j, p in ipairs(PERCENTILES) do
      local v = row[p[2]]
      if v and v > 0 then
        local x, y = x0 + (j - 0.5) * step, y0 + PANEL_H - scale.at(v) * PANEL_H
        pts[#pts + 1] = ("%.1f,%.1f"):format(x, y)
        marks[#marks + 1] = { x, y, ("%s %s: %s µs"):format(row.label, p[1], amount(v)) }
      end
    end
    out[#out + 1] = ('<g class="series" data-mode="%s" data-panel="latency">'):format(esc(row.mode))
    out[#out + 1] = ('<polyline points="%s" fill="none" stroke="%s" stroke-width="2"/>'):format(
      table.concat(pts, " "), color)
    for _, m in ipairs(marks) do
      marker(out, k, m[1], m[2], color, m[3])
    end
    out[#out + 1] = "</g>"
  end
end

-- Horizontal stacked bars: Lua heap (solid) plus arena (hatched).
local function stacked_panel(out, result, x0, y0, spec)
  local rows = result.rows
  local max = 0
  for _, row in ipairs(rows) do
    max = math.max(max, (row[spec.lua] or 0) + (row[spec.arena] or 0))
  end
  -- A fifth more than the longest bar: room for its value at its end.
  local scale = linear(0, max > 0 and max * 1.2 or 1)
  frame(out, x0, y0, spec.title, spec.note)
  x_ticks(out, scale, x0, y0, spec.axis)
  local ys, band = row_labels(out, rows, x0, y0)
  local h = math.min(22, band * 0.6)
  for i, row in ipairs(rows) do
    local color = style_of(row.mode)
    local a, b = row[spec.lua] or 0, row[spec.arena] or 0
    local wa, wb = scale.at(a) * PANEL_W, scale.at(b) * PANEL_W
    local y = ys[i] - h / 2
    out[#out + 1] = ('<g class="series" data-mode="%s" data-panel="%s">'):format(esc(row.mode), spec.key)
    out[#out + 1] = ('<rect x="%d" y="%.1f" width="%.1f" height="%.1f" fill="%s">'
      .. '<title>%s: Lua heap %s KiB</title></rect>'):format(
      x0, y, wa, h, color, esc(row.label), amount(a))
    if wb > 0 then
      out[#out + 1] = ('<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="url(#hatch)" stroke="%s">'
        .. '<title>%s: arena %s KiB</title></rect>'):format(
        x0 + wa, y, wb, h, color, esc(row.label), amount(b))
    end
    out[#out + 1] = ('<text class="note" x="%.1f" y="%.1f">%s KiB</text>'):format(
      x0 + wa + wb + 6, ys[i] + 4, amount(a + b))
    out[#out + 1] = "</g>"
  end
end

local ALLOC = {
  key = "alloc", lua = "lua_kib_per_req", arena = "arena_kib_per_req",
  title = "Allocated per request", note = "solid: on Lua's heap; hatched: in the arena",
  axis = "KiB per request (collector stopped, every request)",
}
local HELD = {
  key = "held", lua = "heap_peak_kib", arena = "arena_held_peak_kib",
  title = "Peak memory held", note = "solid: Lua heap peak; hatched: arena pages and chunks, open and pooled",
  axis = "KiB (median over the rounds)",
}

---------------------------------------------------------------- sweeps

-- What a sweep varies: the page size, or the concurrency.
local function sweep_axis(result)
  if #result.concurrency > 1 then
    return "concurrency", result.concurrency, "requests in flight (log scale)", tostring
  end
  return "page_size", result.page_sizes, "arena page size (log scale)", format.size_label
end

local SWEEP_PANELS = {
  { key = "throughput", title = "Throughput", note = "median req/s; bar: %s interval",
    axis = "requests per second", value = "req_per_s", lo = "req_per_s_lo", hi = "req_per_s_hi" },
  { key = "latency", title = "Tail latency", note = "p99 over every request of every round",
    axis = "p99 µs per request", value = "p99_us" },
  { key = "alloc", title = "Allocated per request", note = "Lua heap plus arena, collector stopped",
    axis = "KiB per request", value = "alloc_kib_per_req" },
  { key = "held", title = "Peak memory held", note = "Lua heap peak plus arena pages held (open and pooled)",
    axis = "KiB", value = "peak_held_kib" },
}

-- The x axis of a sweep panel: the swept values on a log2 scale, ticked
-- and labelled. Returns the position of a value.
local function sweep_x_axis(out, result, x0, y0)
  local _, xs, xlabel, xname = sweep_axis(result)
  local lx = {}
  for _, v in ipairs(xs) do
    lx[#lx + 1] = math.log(v, 2)
  end
  local xlo, xhi = math.min(table.unpack(lx)), math.max(table.unpack(lx))
  if xhi == xlo then
    xlo, xhi = xlo - 1, xhi + 1
  end
  local pad = (xhi - xlo) * 0.06
  xlo, xhi = xlo - pad, xhi + pad
  local function X(v)
    return x0 + (math.log(v, 2) - xlo) / (xhi - xlo) * PANEL_W
  end
  for _, v in ipairs(xs) do
    local x = X(v)
    out[#out + 1] = ('<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="#999"/>'):format(x, y0 + PANEL_H, x,
      y0 + PANEL_H + 5)
    out[#out + 1] = ('<text class="tick" x="%.1f" y="%d" text-anchor="middle">%s</text>'):format(
      x, y0 + PANEL_H + 18, esc(xname(v)))
  end
  out[#out + 1] = ('<text class="axis" x="%.1f" y="%d" text-anchor="middle">%s</text>'):format(
    x0 + PANEL_W / 2, y0 + PANEL_H + 38, esc(xlabel))
  return X
end

local function sweep_panel(out, result, spec, x0, y0)
  local key = sweep_axis(result)
  local max = 0
  for _, row in ipairs(result.rows) do
    max = math.max(max, row[spec.hi or spec.value] or row[spec.value] or 0)
  end
  local scale = linear(0, max > 0 and max or 1)
  local function Y(v)
    return y0 + PANEL_H - scale.at(v) * PANEL_H
  end
  frame(out, x0, y0, spec.title, spec.note:format(interval_label(result)))
  y_ticks(out, scale, x0, y0, spec.axis)
  local X = sweep_x_axis(out, result, x0, y0)
  for _, mode in ipairs(result.modes) do
    local color, k = style_of(mode)
    local pts, marks = {}, {}
    local flat = key == "page_size" and not modes.BY_NAME[mode].pages
    for _, row in ipairs(result.rows) do
      local v = row.mode == mode and row[spec.value]
      if v then
        if flat then
          pts = { ("%.1f,%.1f"):format(x0, Y(v)), ("%.1f,%.1f"):format(x0 + PANEL_W, Y(v)) }
        else
          local x = X(row[key])
          pts[#pts + 1] = ("%.1f,%.1f"):format(x, Y(v))
          marks[#marks + 1] = { x, Y(v), row, v }
        end
      end
    end
    if #pts > 0 then
      out[#out + 1] = ('<g class="series" data-mode="%s" data-panel="%s">'):format(esc(mode), spec.key)
      out[#out + 1] = ('<polyline points="%s" fill="none" stroke="%s" stroke-width="2"%s/>'):format(
        table.concat(pts, " "), color, flat and ' stroke-dasharray="6 4"' or "")
      for _, m in ipairs(marks) do
        local row = m[3]
        if spec.lo and row[spec.lo] then
          out[#out + 1] = ('<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="%s" stroke-width="1.5"/>'):format(
            m[1], Y(row[spec.lo]), m[1], Y(row[spec.hi]), color)
        end
        marker(out, k, m[1], m[2], color, ("%s: %s"):format(row.label, amount(m[4])))
      end
      out[#out + 1] = "</g>"
    end
  end
end

---------------------------------------------------------------- the plot

local function legend(out, list, y)
  local x = LEFT
  out[#out + 1] = '<g class="legend">'
  for _, mode in ipairs(list) do
    local color, k = style_of(mode)
    out[#out + 1] = ('<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="%s" stroke-width="2"/>'):format(
      x, y, x + 28, y, color)
    marker(out, k, x + 14, y, color)
    local about = modes.BY_NAME[mode] and modes.BY_NAME[mode].about or ""
    out[#out + 1] = ('<text x="%d" y="%d"><tspan font-weight="bold">%s</tspan>: %s</text>'):format(
      x + 36, y + 4, esc(mode), esc(about))
    y = y + 20
  end
  out[#out + 1] = "</g>"
  return y
end

-- results: a list of results (one per workload), all runs or all sweeps.
-- Returns the SVG text.
function M.plot(results)
  local list = summary.union(results, "modes")
  local height = TOP + #results * BLOCK_H + 20 * #list + 60
  local out = {}
  out[#out + 1] = '<?xml version="1.0" encoding="UTF-8"?>'
  out[#out + 1] = ('<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" '
    .. 'font-family="sans-serif" font-size="12">'):format(WIDTH, height, WIDTH, height)
  out[#out + 1] = "<style>.title{font-size:18px;font-weight:bold}.panel-title{font-size:14px;font-weight:bold}"
    .. ".block-title{font-size:16px;font-weight:bold}.tick{fill:#333}.axis{fill:#111}"
    .. ".note{fill:#555;font-size:11px}</style>"
  out[#out + 1] = '<defs><pattern id="hatch" width="6" height="6" patternUnits="userSpaceOnUse" '
    .. 'patternTransform="rotate(45)"><rect width="6" height="6" fill="white"/>'
    .. '<line x1="0" y1="0" x2="0" y2="6" stroke="#777" stroke-width="3"/></pattern></defs>'
  out[#out + 1] = '<rect width="100%" height="100%" fill="white"/>'
  local r1 = results[1]
  out[#out + 1] = ('<text class="title" x="20" y="30">lexrt-experiment: what request memory costs, mode by mode</text>')
  out[#out + 1] = ('<text class="note" x="20" y="50">throughput: %s; latency: %s; %d rounds per mode, modes'
    .. ' interleaved; intervals %.1f%% sure%s; seed %d</text>'):format(
    esc(r1.throughput_timer), esc(r1.timer), r1.rounds, r1.coverage * 100,
    stats.verdict_allowed(r1.coverage) and "" or esc(("; no verdict below %d%%"):format(
      math.floor(stats.MIN_VERDICT_COVERAGE * 100 + 0.5))), r1.seed)
  for r, result in ipairs(results) do
    local y0 = TOP + (r - 1) * BLOCK_H
    local sweep = #result.page_sizes > 1 or #result.concurrency > 1
    out[#out + 1] = ('<g class="workload" data-workload="%s">'):format(esc(result.workload))
    out[#out + 1] = ('<text class="block-title" x="20" y="%d">workload %s: %d requests per mode per round'
      .. '</text>'):format(
      y0, esc(result.workload), result.requests)
    local py = y0 + 50
    local cells = { { LEFT, py }, { LEFT + PANEL_W + COL_GAP, py }, { LEFT, py + PANEL_H + ROW_GAP },
      { LEFT + PANEL_W + COL_GAP, py + PANEL_H + ROW_GAP } }
    if sweep then
      for p, spec in ipairs(SWEEP_PANELS) do
        sweep_panel(out, result, spec, cells[p][1], cells[p][2])
      end
    else
      throughput_panel(out, result, cells[1][1], cells[1][2])
      latency_panel(out, result, cells[2][1], cells[2][2])
      stacked_panel(out, result, cells[3][1], cells[3][2], ALLOC)
      stacked_panel(out, result, cells[4][1], cells[4][2], HELD)
    end
    out[#out + 1] = "</g>"
  end
  local y = legend(out, list, TOP + #results * BLOCK_H + 10)
  out[#out + 1] = ('<text class="note" x="%d" y="%d">Modes with equal figures (gc and gc-gen allocate alike) are drawn'
    .. ' one over the other; every marker and bar names its value on hover.</text>'):format(LEFT, y + 8)
  out[#out + 1] = "</svg>"
  return table.concat(out, "\n") .. "\n"
end

return M
