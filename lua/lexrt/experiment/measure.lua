--[[
Measuring helpers: clocks, process memory, collector cycles, summaries.

Times are os.clock() (CPU time of the process, microsecond resolution):
the experiments are CPU-bound and single-threaded, so CPU time is what a
request costs, without noise from other processes on the machine.
]]

local M = {}

M.clock = os.clock

-- Reads a "Name:   1234 kB" line of /proc/self/status (Linux), in KiB.
-- status rather than statm: it is already in KiB, so no page size (and no
-- getconf subprocess) is needed.
local function status_kib(field)
  local f = io.open("/proc/self/status", "r")
  if not f then
    return nil
  end
  local text = f:read("a")
  f:close()
  return tonumber(text:match(field .. ":%s*(%d+)%s*kB"))
end

-- Resident set size in KiB, or nil where /proc is not available.
function M.rss_kib()
  return status_kib("VmRSS")
end

-- Linux keeps a high-water mark of the RSS (VmHWM); writing "5" to
-- clear_refs resets it, which lets each mode report its own peak.
-- Returns false when the kernel does not allow it.
function M.reset_rss_peak()
  local f = io.open("/proc/self/clear_refs", "w")
  if not f then
    return false
  end
  local ok = f:write("5")
  ok = f:close() and ok
  return ok and true or false
end

function M.rss_peak_kib()
  return status_kib("VmHWM")
end

-- Counts completed collection cycles: a sentinel object whose finalizer
-- counts and plants the next sentinel, so one is collected per cycle
-- (per minor or major cycle with the generational collector).
function M.cycle_counter()
  local counter = { n = 0, on = true }
  local mt = {}
  mt.__gc = function()
    if counter.on then
      counter.n = counter.n + 1
      setmetatable({}, mt)
    end
  end
  setmetatable({}, mt)
  return counter
end

-- mean and max of list[1..n]
function M.mean_max(list, n)
  n = n or #list
  if n == 0 then
    return nil, nil
  end
  local sum, max = 0, list[1]
  for i = 1, n do
    local v = list[i]
    sum = sum + v
    if v > max then
      max = v
    end
  end
  return sum / n, max
end

function M.sum(list, n)
  local s = 0
  for i = 1, n or #list do
    s = s + list[i]
  end
  return s
end

-- Median (mean of the middle two for even n) and a nearest-rank
-- percentile of an already sorted list.
function M.median(sorted)
  local n = #sorted
  if n == 0 then
    return nil
  end
  if n % 2 == 1 then
    return sorted[(n + 1) // 2]
  end
  return (sorted[n // 2] + sorted[n // 2 + 1]) / 2
end

function M.percentile(sorted, p)
  local n = #sorted
  if n == 0 then
    return nil
  end
  local rank = math.max(1, math.ceil(p / 100 * n))
  return sorted[math.min(rank, n)]
end

return M
