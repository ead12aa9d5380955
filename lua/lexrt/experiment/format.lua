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

return M
