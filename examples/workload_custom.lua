-- A user workload for lexrt-experiment: a CSV export endpoint.
--
--   bin/lexrt-experiment --workload examples/workload_custom.lua
--
-- A workload is a table with a name, a handler and, optionally, a request
-- generator and a default request count. The handler touches request
-- memory only through ctx, so the same code runs under Lua's collector
-- and in lexrt arenas:
--   ctx:str(s) ctx:buf(n) ctx:write(ref, pos, s) ctx:concat(pieces)
--   ctx:read(ref [, i [, j]]) ctx:size(ref)
-- and returns a ref to the response body. ctx:wait() marks where a real
-- handler would wait for I/O: with --concurrency N, other requests run
-- there.

local COLUMNS = { "id", "customer", "amount", "currency", "status" }
local STATUSES = { "paid", "open", "void", "refunded" }

-- Called once per request with a private random generator (rng:int,
-- rng:pick, rng:word, rng:chance), so request i is the same in every mode.
local function generate(rng, i)
  local rows = {}
  for r = 1, rng:int(10, 60) do
    rows[r] = {
      id = i * 1000 + r,
      customer = rng:word(4, 12) .. (rng:chance(0.1) and ", Inc." or ""),
      cents = rng:int(100, 500000),
      currency = rng:pick({ "EUR", "USD", "GBP" }),
      status = rng:pick(STATUSES),
    }
  end
  return { rows = rows }
end

-- RFC 4180: quote a field that holds a comma, quote or line break.
local function field(s)
  if s:find('[,"\r\n]') then
    return '"' .. s:gsub('"', '""') .. '"'
  end
  return s
end

local function handler(ctx, req)
  ctx:wait() -- the rows would come from a database
  local lines = { table.concat(COLUMNS, ",") .. "\r\n" }
  for _, row in ipairs(req.rows) do
    lines[#lines + 1] = ctx:concat({
      ctx:str(tostring(row.id)), ",",
      ctx:str(field(row.customer)), ",",
      ctx:str(("%d.%02d"):format(row.cents // 100, row.cents % 100)), ",",
      row.currency, ",", row.status, "\r\n",
    })
  end
  return ctx:concat(lines)
end

return { name = "csv-export", generate = generate, handler = handler, requests = 1000 }
