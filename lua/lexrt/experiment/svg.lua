--[[
Plots page-size sweeps as one standalone SVG: per workload, two panels
side by side (median time per request, and memory per request, against
the arena page size on a log scale), one polyline per mode. gc mode does
not depend on the page size, so it is drawn as a dashed flat line.

Each series is a <g class="series" data-mode=... data-panel=...> holding
one <polyline>, so tools (and the specs) can find them.
]]

local report = require("lexrt.experiment.report")

local M = {}

local COLORS = { gc = "#555555", arena = "#1f77b4", ["arena-nopool"] = "#d62728" }
local SPARE = { "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b" }

local PANEL_W, PANEL_H = 400, 230
local LEFT, GAP, TOP = 90, 120, 90
local ROW_H = PANEL_H + 110
local WIDTH = LEFT + 2 * PANEL_W + GAP + 40

local function esc(s)
  return (tostring(s):gsub('[&<>"]', { ["&"] = "&amp;", ["<"] = "&lt;", [">"] = "&gt;", ['"'] = "&quot;" }))
end

local function fmt(v)
  if v == math.floor(v) then
    return ("%d"):format(v)
  end
  return ("%.4g"):format(v)
end

-- A round step giving about `n` ticks from 0 to max.
local function nice_step(max, n)
  if not (max > 0) then
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

local PANELS = {
  {
    key = "time",
    title = "Median time per request",
    ylabel = "time per request (µs)",
    value = function(row)
      return row.time_median_us
    end,
  },
  {
    key = "memory",
    title = "Memory per request",
    ylabel = "memory per request (KiB)",
    value = function(row)
      if row.mode == "gc" then
        return row.lua_kb_mean
      end
      local held = row.capacity_mean
      if (held == nil or held == 0) and row.pages_mean and row.page_size then
        held = row.pages_mean * row.page_size
      end
      return held and held / 1024
    end,
  },
}

local function panel(out, result, spec, x0, y0, colors)
  local sizes = result.page_sizes
  local lo, hi = math.huge, -math.huge
  for _, ps in ipairs(sizes) do
    lo, hi = math.min(lo, math.log(ps, 2)), math.max(hi, math.log(ps, 2))
  end
  if hi == lo then
    lo, hi = lo - 1, hi + 1
  end
  local pad = (hi - lo) * 0.06
  lo, hi = lo - pad, hi + pad
  local function X(ps)
    return x0 + (math.log(ps, 2) - lo) / (hi - lo) * PANEL_W
  end

  local ymax = 0
  for _, row in ipairs(result.rows) do
    local v = spec.value(row)
    if v and v > ymax then
      ymax = v
    end
  end
  local step = nice_step(ymax * 1.05, 5)
  local top = step * math.max(1, math.ceil(ymax * 1.05 / step))
  local function Y(v)
    return y0 + PANEL_H - v / top * PANEL_H
  end

  local w = function(s, ...)
    out[#out + 1] = s:format(...)
  end
  w('<g class="panel" data-panel="%s">', spec.key)
  w('<text class="panel-title" x="%.1f" y="%.1f" text-anchor="middle">%s</text>',
    x0 + PANEL_W / 2, y0 - 12, esc(spec.title))
  w('<rect x="%d" y="%d" width="%d" height="%d" fill="none" stroke="#999"/>', x0, y0, PANEL_W, PANEL_H)
  for v = 0, top + step / 2, step do
    local y = Y(v)
    w('<line x1="%d" y1="%.1f" x2="%d" y2="%.1f" stroke="#e5e5e5"/>', x0, y, x0 + PANEL_W, y)
    w('<text class="tick" x="%d" y="%.1f" text-anchor="end">%s</text>', x0 - 6, y + 4, fmt(v))
  end
  for _, ps in ipairs(sizes) do
    local x = X(ps)
    w('<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="#999"/>', x, y0 + PANEL_H, x, y0 + PANEL_H + 5)
    w('<text class="tick" x="%.1f" y="%d" text-anchor="middle">%s</text>', x, y0 + PANEL_H + 18,
      esc(report.size_label(ps)))
  end
  w('<text class="axis" x="%.1f" y="%d" text-anchor="middle">arena page size (log scale)</text>',
    x0 + PANEL_W / 2, y0 + PANEL_H + 38)
  w('<text class="axis" transform="translate(%d,%.1f) rotate(-90)" text-anchor="middle">%s</text>',
    x0 - 52, y0 + PANEL_H / 2, esc(spec.ylabel))

  for _, mode in ipairs(result.modes) do
    local pts, marks = {}, {}
    for _, row in ipairs(result.rows) do
      local v = row.mode == mode and spec.value(row)
      if v then
        if mode == "gc" then
          -- Independent of the page size: one flat line across the axis.
          pts = { ("%.1f,%.1f"):format(x0, Y(v)), ("%.1f,%.1f"):format(x0 + PANEL_W, Y(v)) }
          marks[1] = { x0 + PANEL_W, Y(v), v }
        else
          pts[#pts + 1] = ("%.1f,%.1f"):format(X(row.page_size), Y(v))
          marks[#marks + 1] = { X(row.page_size), Y(v), v, row.page_size }
        end
      end
    end
    if #pts > 0 then
      local color = colors[mode]
      w('<g class="series" data-mode="%s" data-panel="%s">', esc(mode), spec.key)
      w('<polyline points="%s" fill="none" stroke="%s" stroke-width="2"%s/>', table.concat(pts, " "), color,
        mode == "gc" and ' stroke-dasharray="6 4"' or "")
      for _, m in ipairs(marks) do
        if mode ~= "gc" then
          local tip = ("<title>%s at %s: %s</title>"):format(esc(mode), esc(report.size_label(m[4])), fmt(m[3]))
          -- Hollow squares for the second arena mode, so that it stays
          -- visible where its line lies on top of the first one.
          if mode == "arena-nopool" then
            w('<rect x="%.1f" y="%.1f" width="9" height="9" fill="none" stroke="%s" stroke-width="1.5">%s</rect>',
              m[1] - 4.5, m[2] - 4.5, color, tip)
          else
            w('<circle cx="%.1f" cy="%.1f" r="3.5" fill="%s">%s</circle>', m[1], m[2], color, tip)
          end
        end
      end
      w("</g>")
    end
  end
  w("</g>")
end

-- results: a list of sweep results (one per workload). Returns the SVG text.
function M.plot(results)
  local colors, spare = {}, 0
  local modes = {}
  for _, result in ipairs(results) do
    for _, mode in ipairs(result.modes) do
      if not colors[mode] then
        spare = spare + 1
        colors[mode] = COLORS[mode] or SPARE[(spare - 1) % #SPARE + 1]
        modes[#modes + 1] = mode
      end
    end
  end
  local height = TOP + #results * ROW_H + 70
  local out = {}
  local w = function(s, ...)
    out[#out + 1] = s:format(...)
  end
  w('<?xml version="1.0" encoding="UTF-8"?>')
  w('<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="sans-serif" font-size="12">',
    WIDTH, height, WIDTH, height)
  w("<style>.title{font-size:18px;font-weight:bold}.panel-title{font-size:14px;font-weight:bold}"
    .. ".tick{fill:#333}.axis{fill:#111}.note{fill:#444}</style>")
  w('<rect width="100%%" height="100%%" fill="white"/>')
  w('<text class="title" x="%d" y="30">lexrt request-scope experiment: cost per request against arena page size</text>', LEFT - 60)
  local r1 = results[1]
  w('<text class="note" x="%d" y="52">seed %d, %s collector; time is CPU time (median); gc does not use pages and is drawn flat, dashed</text>',
    LEFT - 60, r1.seed, esc(r1.gc_mode))

  for r, result in ipairs(results) do
    local y0 = TOP + (r - 1) * ROW_H + 30
    w('<g class="workload" data-workload="%s">', esc(result.workload))
    w('<text class="panel-title" x="%d" y="%d">workload %s (%d requests per point)</text>',
      LEFT - 60, y0 - 34, esc(result.workload), result.requests)
    for p, spec in ipairs(PANELS) do
      panel(out, result, spec, LEFT + (p - 1) * (PANEL_W + GAP), y0, colors)
    end
    w("</g>")
  end

  local ly = TOP + #results * ROW_H + 10
  w('<g class="legend">')
  local x = LEFT
  for _, mode in ipairs(modes) do
    w('<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="%s" stroke-width="2"%s/>', x, ly, x + 28, ly, colors[mode],
      mode == "gc" and ' stroke-dasharray="6 4"' or "")
    if mode == "arena-nopool" then
      w('<rect x="%.1f" y="%.1f" width="9" height="9" fill="none" stroke="%s" stroke-width="1.5"/>',
        x + 9.5, ly - 4.5, colors[mode])
    elseif mode ~= "gc" then
      w('<circle cx="%d" cy="%d" r="3.5" fill="%s"/>', x + 14, ly, colors[mode])
    end
    w('<text x="%d" y="%d">%s</text>', x + 34, ly + 4, esc(mode))
    x = x + 60 + 8 * #mode
  end
  w("</g>")
  w('<text class="note" x="%d" y="%d">memory: arena modes, pages and large chunks held at the end of a request; gc, Lua heap allocated per request</text>',
    LEFT, ly + 28)
  w("</svg>")
  return table.concat(out, "\n") .. "\n"
end

return M
