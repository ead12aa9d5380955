--[[
Measuring helpers: the timers, collector cycles, and compact storage
for the latencies.

Latencies are timed with the core's core.clock(), the monotonic wall
clock (clock_gettime(CLOCK_MONOTONIC), nanosecond resolution), when the C
module is there, and with os.clock() otherwise; M.TIMER names the one in
use. Wall-clock time is what a client waits, collector pauses included;
on a shared machine it also takes in time the process spent descheduled.
Throughput is counted in CPU time (os.clock() around a whole pass of
requests, long enough for its microsecond resolution): what the requests
cost, which a busy machine disturbs much less.
]]

local M = {}

local core = require("lexrt.maybe_core").core
if core and type(core.clock) == "function" then
  M.clock = core.clock
  M.TIMER = "wall clock (clock_gettime, CLOCK_MONOTONIC)"
else
  M.clock = os.clock
  M.TIMER = "CPU time (os.clock; the lexrt C module was not found)"
end
M.THROUGHPUT_TIMER = "CPU time (os.clock)"

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

-- Latencies are kept as packed doubles between rounds: a string is one
-- object that the collector never scans, where a table of tens of
-- thousands of numbers would be traversed by every cycle of every mode.
local BATCH = 512

function M.pack(list, n)
  local parts = {}
  for i = 1, n, BATCH do
    local j = math.min(i + BATCH - 1, n)
    parts[#parts + 1] = string.pack(("d"):rep(j - i + 1), table.unpack(list, i, j))
  end
  return table.concat(parts)
end

-- Appends the numbers packed in `s` to `out`.
function M.unpack_into(out, s)
  local n = #out
  for pos = 1, #s, 8 do
    n = n + 1
    out[n] = string.unpack("d", s, pos)
  end
  return out
end

return M
