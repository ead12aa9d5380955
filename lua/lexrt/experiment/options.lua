--[[
lexrt.experiment.options: the options of an experiment, once for the Lua
API (run, sweep) and the command line (lexrt.experiment.cli): their
names, defaults, readers and the messages that refuse a bad value. The
command line turns its text into values with the readers here and
prefixes the option's flag to their messages; read() then checks a
whole options table for run or sweep.
]]

local format = require("lexrt.experiment.format")
local maybe_core = require("lexrt.maybe_core")
local modes = require("lexrt.experiment.modes")
local workload = require("lexrt.experiment.workload")

local core = maybe_core.core

local M = {}

M.PAGE_SIZE = core and core.PAGE_BYTES or 65536
M.SWEEP_PAGE_SIZES = { 4096, 16384, 65536, 262144, 1048576 }
-- Requests per round for a workload that names no count of its own.
M.DEFAULT_REQUESTS = 200
-- Rounds: with 30, the 95% interval of a median leaves out the nine most
-- extreme rounds on either side (stats.interval_ranks), so that a burst
-- of load on the machine during a few rounds cannot decide a verdict;
-- the default run (make run) takes about half a minute on 2 cores.
M.DEFAULT_ROUNDS = 30
-- Calibration (when the caller does not fix `requests`): the count is
-- doubled until a round of the fastest mode takes at least this much CPU
-- time, so that a fast handler still gets rounds long enough to time
-- and to see its collector at work; at most MAX_REQUESTS requests.
M.MIN_ROUND_SECONDS = 0.05
M.MAX_REQUESTS = 65536

-- Unmeasured requests before each mode in each round, unless told.
function M.default_warmup(requests)
  return math.min(50, requests // 10)
end

---------------------------------------------------------------- values

-- `v` if it is an integer of at least `min`, else nil and a message
-- naming it `name` and showing it as `shown` (default tostring(v)).
function M.integer(v, name, min, shown)
  if math.type(v) ~= "integer" or v < min then
    local what = min == 1 and "a positive integer" or min == 0 and "a non-negative integer" or "an integer"
    return nil, ("%s must be %s, got %s"):format(name, what, shown or tostring(v))
  end
  return v
end

-- The integer written as `text`, or nil.
function M.integer_of(text)
  return math.tointeger(tonumber(text))
end

-- An integer given as text (a command-line value), checked as integer().
function M.integer_text(text, name, min)
  return M.integer(M.integer_of(text), name, min, ("'%s'"):format(text))
end

-- A command line's comma list: the items, trimmed, without empty ones.
function M.split(text)
  local out = {}
  for item in text:gmatch("[^,]+") do
    item = item:match("^%s*(.-)%s*$")
    if item ~= "" then
      out[#out + 1] = item
    end
  end
  return out
end

-- A list option of the Lua API: a table, or a string of items separated
-- by commas or spaces.
local function list_of(v, what)
  if type(v) == "string" then
    local out = {}
    for item in v:gmatch("[^,%s]+") do
      out[#out + 1] = item
    end
    v = out
  end
  if type(v) ~= "table" or #v == 0 then
    return nil, what .. " must be a non-empty list"
  end
  return v
end

-- `list` if every mode in it is known, else nil and why not.
function M.check_modes(list)
  for _, m in ipairs(list) do
    local _, why = modes.get(m)
    if why then
      return nil, why
    end
  end
  return list
end

---------------------------------------------------------------- page sizes

local UNITS = { [""] = 1, k = 1024, m = 1024 * 1024 }

-- The core decides which page sizes it takes (core.MIN_PAGE_BYTES ..
-- core.MAX_PAGE_BYTES, powers of two); without the core, only the arena
-- modes could use one, and they cannot run.
local function valid_page_size(n)
  if n < 1 or n & (n - 1) ~= 0 then
    return false
  end
  return not core or (n >= core.MIN_PAGE_BYTES and n <= core.MAX_PAGE_BYTES)
end

local function page_rule()
  if not core then
    return "a power of two"
  end
  return ("a power of two from %s to %s"):format(format.size_label(core.MIN_PAGE_BYTES),
    format.size_label(core.MAX_PAGE_BYTES))
end

--[[
A page size: an integer, or a string "4096", "4k", "64KiB", "64kb", "1M",
"1MiB" (binary units throughout, since page sizes are powers of two).
Returns the size in bytes, or nil and a message.
]]
function M.parse_size(v)
  local n, shown
  if type(v) == "string" then
    local digits, unit = v:match("^%s*(%d+)%s*([kKmM]?)[iI]?[bB]?%s*$")
    n = digits and math.tointeger(tonumber(digits))
    if not n then
      return nil, ("'%s' is not a size (examples: 4096, 4k, 64KiB, 1M)"):format(v)
    end
    n, shown = n * UNITS[unit:lower()], ("'%s'"):format(v)
  elseif type(v) == "number" then
    n, shown = math.tointeger(v), tostring(v)
  else
    return nil, ("page size must be an integer or a string such as '64k', got %s"):format(type(v))
  end
  if not n or not valid_page_size(n) then
    return nil, ("page size %s must be %s"):format(shown, page_rule())
  end
  return n
end

-- Each item of `list` read by `read` (a value, or nil and why not),
-- each value once, in ascending order: a sweep's rows, and its plotted
-- lines, go left to right.
local function sorted_set(list, read)
  local seen, out = {}, {}
  for _, item in ipairs(list) do
    local v, why = read(item)
    if v == nil then
      return nil, why
    end
    if not seen[v] then
      seen[v] = true
      out[#out + 1] = v
    end
  end
  table.sort(out)
  return out
end

local function page_sizes(list)
  return sorted_set(list, M.parse_size)
end

local function concurrency_list(v)
  local list, err
  if math.type(v) == "integer" then
    list = { v }
  else
    list, err = list_of(v, "concurrency")
    if not list then
      return nil, err
    end
  end
  return sorted_set(list, function(c)
    local n = M.integer_of(c)
    if not n or n < 1 then
      return nil, ("concurrency must be a positive integer, got %s"):format(tostring(c))
    end
    return n
  end)
end

---------------------------------------------------------------- run and sweep

-- A reader for an option of Lua type `t` that is off (false) when absent.
local function optional(name, t)
  return function(v)
    if v ~= nil and type(v) ~= t then
      return nil, ("%s must be a %s, got %s"):format(name, t, type(v))
    end
    return v or false
  end
end

-- Each option's reader takes the value given (nil when absent) and the
-- options read so far, and returns the value to use, or nil and a
-- message. They run in this order, so that a default can depend on an
-- option read before it (requests on the workload, warmup on requests).
-- Anything not listed for run or sweep is refused, so that a misspelt
-- option ("n" for "requests") cannot be silently ignored.
local READ = {
  { "workload", function(v)
    local ok, w = pcall(workload.resolve, v or "json")
    if not ok then
      return nil, tostring(w)
    end
    return w
  end },
  { "requests", function(v, o)
    return M.integer(v or o.workload.requests or M.DEFAULT_REQUESTS, "requests", 1)
  end },
  { "rounds", function(v)
    return M.integer(v or M.DEFAULT_ROUNDS, "rounds", 1)
  end },
  { "modes", function(v, o)
    local list, err = list_of(v or modes.defaults(o.workload), "modes")
    if not list then
      return nil, err
    end
    return M.check_modes(list)
  end },
  { "concurrency", function(v, _, fname)
    local list, err = concurrency_list(v or 1)
    if list and fname == "run" and #list > 1 then
      return nil, "concurrency must be one positive integer in run (sweep takes a list)"
    end
    return list, err
  end },
  { "page_size", function(v)
    return page_sizes({ v or M.PAGE_SIZE })
  end, "run" },
  { "page_sizes", function(v, o)
    -- A concurrency sweep keeps the default page size unless told.
    local default = #o.concurrency > 1 and { M.PAGE_SIZE } or M.SWEEP_PAGE_SIZES
    local list, err = list_of(v or default, "page_sizes")
    if not list then
      return nil, err
    end
    return page_sizes(list)
  end, "sweep" },
  { "seed", function(v)
    return M.integer(v or 1, "seed", math.mininteger)
  end },
  { "warmup", function(v, o)
    local n, err = M.integer(v or M.default_warmup(o.requests), "warmup", 0)
    return n and math.min(n, o.requests), err
  end },
  { "min_round_seconds", function(v)
    v = v or M.MIN_ROUND_SECONDS
    if type(v) ~= "number" or v < 0 or v ~= v then
      return nil, ("min_round_seconds must be a non-negative number, got %s"):format(tostring(v))
    end
    return v
  end },
  { "max_requests", function(v, o)
    return M.integer(v or math.max(M.MAX_REQUESTS, o.requests), "max_requests", 1)
  end },
  { "keep_bodies", optional("keep_bodies", "boolean") },
  { "progress", optional("progress", "function") },
}

local function unknown_key(opts, fname)
  local names, known = {}, {}
  for _, r in ipairs(READ) do
    if r[3] == nil or r[3] == fname then
      names[#names + 1] = r[1]
      known[r[1]] = true
    end
  end
  for k in pairs(opts) do
    if not known[k] then
      return ("unknown option '%s' (known: %s)"):format(tostring(k), table.concat(names, ", "))
    end
  end
end

-- The options of run or sweep (`fname`), read and checked, with the
-- defaults filled in; nil and a message for argument #1 otherwise.
function M.read(opts, fname)
  if opts == nil then
    opts = {}
  elseif type(opts) ~= "table" then
    return nil, ("table expected, got %s"):format(type(opts))
  end
  local bad = unknown_key(opts, fname)
  if bad then
    return nil, bad
  end
  local o = { baseline = modes.BASELINE }
  for _, r in ipairs(READ) do
    local name, read, only = r[1], r[2], r[3]
    if only == nil or only == fname then
      local v, err = read(opts[name], o, fname)
      if v == nil then
        return nil, err
      end
      o[name] = v
    end
  end
  o.page_sizes = o.page_sizes or o.page_size
  -- Calibrated only when the caller leaves the count open.
  o.calibrate = opts.requests == nil and o.min_round_seconds > 0
  o.warmup_fixed = opts.warmup ~= nil
  return o
end

return M
