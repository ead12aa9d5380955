--[[
How the experiment writes its figures as text: sizes, measured amounts,
ratios and an isolate row's image. One place, so that the summary's
conclusions, the report's tables and the SVG plot's labels read alike.
]]

local M = {}

-- A size that is a whole number of KiB or MiB ("64 KiB", "16 MiB"):
-- page sizes and bounds, which are powers of two.
function M.size_label(bytes)
  if bytes >= 1048576 and bytes % 1048576 == 0 then
    return ("%d MiB"):format(bytes // 1048576)
  elseif bytes >= 1024 and bytes % 1024 == 0 then
    return ("%d KiB"):format(bytes // 1024)
  end
  return ("%d B"):format(bytes)
end

-- A measured amount to three significant figures (whole numbers from 100
-- up), so that µs and KiB read alike at any size; "-" for none.
function M.figures(v)
  if v == nil then
    return "-"
  elseif v >= 100 then
    return ("%.0f"):format(v)
  elseif v >= 10 then
    return ("%.1f"):format(v)
  end
  return ("%.2f"):format(v)
end

-- A measured size in bytes, to three figures in KiB or MiB ("17.1 KiB",
-- "1.23 MiB"), for figures that are no power of two.
function M.bytes_text(bytes)
  if bytes >= 1048576 then
    return M.figures(bytes / 1048576) .. " MiB"
  elseif bytes >= 1024 then
    return M.figures(bytes / 1024) .. " KiB"
  end
  return ("%d B"):format(bytes)
end

-- A ratio with two decimals, or three where two would show a bound
-- that lies off 1 as 1.00 (and so hide why the verdict is what it is).
function M.ratio_text(v)
  local s = ("%.2f"):format(v)
  if s == "1.00" and v ~= 1 then
    s = ("%.3f"):format(v)
  end
  return s
end

-- "1.07x"
function M.times(v)
  return M.ratio_text(v) .. "x"
end

-- An interval of ratios: "[0.98-1.07]".
function M.span(lo, hi)
  return ("[%s-%s]"):format(M.ratio_text(lo), M.ratio_text(hi))
end

-- What the table and the conclusion say of an isolate row, or nil.
function M.isolate_text(row)
  if not row.image_bytes then
    return nil
  end
  local text = "image " .. M.bytes_text(row.image_bytes)
  if row.restore_us_per_req then
    text = text .. ", restore " .. M.figures(row.restore_us_per_req) .. " µs/req"
  end
  return text
end

-- Lays out rows of cells under a header, numbers right-aligned, text
-- (the first column and any listed in `left`) left-aligned.
function M.grid(header, rows, left)
  left = left or {}
  local width = {}
  for c, h in ipairs(header) do
    width[c] = utf8.len(h)
  end
  for _, r in ipairs(rows) do
    for c, cell in ipairs(r) do
      width[c] = math.max(width[c] or 0, utf8.len(cell) or #cell)
    end
  end
  local function line(cells)
    local out = {}
    for c, cell in ipairs(cells) do
      local pad = (" "):rep(width[c] - (utf8.len(cell) or #cell))
      out[c] = (c == 1 or left[c]) and cell .. pad or pad .. cell
    end
    return (table.concat(out, "  "):gsub("%s+$", ""))
  end
  local lines = { line(header) }
  for _, r in ipairs(rows) do
    lines[#lines + 1] = line(r)
  end
  return table.concat(lines, "\n")
end

-- One CSV field: nil empty, a list joined with ";", quoted when it must be.
function M.csv_field(v)
  if v == nil then
    return ""
  elseif type(v) == "table" then
    local parts = {}
    for i, x in ipairs(v) do
      parts[i] = M.csv_field(x)
    end
    v = table.concat(parts, ";")
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

-- What the verdict column says of a row.
function M.verdict_cell(row, result)
  if row.verdict then
    return row.verdict
  elseif row.mode == result.baseline then
    return "(baseline)"
  elseif row.throughput_ratio then
    return "no verdict"
  end
  return "-"
end

return M
