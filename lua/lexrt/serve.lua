-- lexrt.serve(handler, requests, fn [, opts]): the stand-in for Lex's serve
-- loop. Every request runs inside its own request scope, and the scope is
-- exited whatever fn does, exactly as the runtime layer brackets a Lex
-- handler. fn may be a lexrt.isolate: each request r runs as iso:call(r).
--
-- The summary's counts are exact however long the stream; what it keeps
-- is bounded by the caller: `results` (one slot per request) only when
-- keep_results is on, and at most max_errors errors. With keep_results
-- off, serving an endless iterator holds no more memory after a million
-- requests than after one.
--
-- A result is fn's first value, or with `pack = true` all of them, as
-- table.pack packs them (`return 200, body` is { 200, body, n = 2 }).
-- Packing is asked for, not guessed from the count: a function that
-- returns `s:gsub(...)` or `f(x)` would otherwise change shape with the
-- number of values its last call happens to give.

local argcheck = require("lexrt.argcheck")
local maybe_core = require("lexrt.maybe_core")

local DEFAULT_MAX_ERRORS = 10

local function iterate(requests)
  if type(requests) == "function" then
    return requests
  end
  local i = 0
  return function()
    i = i + 1
    return requests[i]
  end
end

local function callable(v)
  local mt = getmetatable(v)
  return type(v) == "function" or (type(mt) == "table" and mt.__call ~= nil)
end

-- A lexrt.isolate, told apart by the C module when it is there (serve
-- itself needs no binding).
local function is_isolate(v)
  if type(v) ~= "userdata" then
    return false
  end
  local core = maybe_core.core
  return core ~= nil and core.is_isolate ~= nil and core.is_isolate(v)
end

-- Any table (or userdata) with the two scope methods is a handler.
local function is_handler(h)
  local t = type(h)
  if t ~= "table" and t ~= "userdata" then
    return false
  end
  local ok, enter, exit = pcall(function()
    return h.enter_request_scope, h.exit_request_scope
  end)
  return ok and callable(enter) and callable(exit)
end

local OPTIONS = { keep_results = true, max_errors = true, pack = true, concurrency = true }

-- A boolean option: its value, `default` when absent, or nil and why not.
local function boolean_option(opts, name, default)
  local v = opts[name]
  if v == nil then
    return default
  elseif type(v) ~= "boolean" then
    return nil, ("%s must be a boolean, got %s"):format(name, type(v))
  end
  return v
end

-- The options table: keep_results (boolean, default true), max_errors
-- (integer >= 0, default 10), pack (boolean, default false) and
-- concurrency (integer >= 1, default 1). Returns the four, or nil and the
-- message for argument #4.
local function read_options(opts)
  if opts == nil then
    return true, DEFAULT_MAX_ERRORS, false, 1
  end
  if type(opts) ~= "table" then
    return nil, argcheck.expected("table", opts)
  end
  for k in pairs(opts) do
    if not OPTIONS[k] then
      return nil, ("unknown option '%s' (known: keep_results, max_errors, pack, concurrency)"):format(tostring(k))
    end
  end
  local keep, pack, err
  keep, err = boolean_option(opts, "keep_results", true)
  if keep == nil then
    return nil, err
  end
  pack, err = boolean_option(opts, "pack", false)
  if pack == nil then
    return nil, err
  end
  local max = DEFAULT_MAX_ERRORS
  if opts.max_errors ~= nil then
    max, err = argcheck.tocount(opts.max_errors, "max_errors")
    if not max then
      return nil, err
    end
  end
  local concurrency = 1
  if opts.concurrency ~= nil then
    concurrency = math.type(opts.concurrency) == "integer" and opts.concurrency
      or (type(opts.concurrency) == "number" and math.tointeger(opts.concurrency))
    if not concurrency or concurrency < 1 then
      return nil, ("concurrency must be an integer >= 1, got %s"):format(tostring(opts.concurrency))
    end
  end
  return keep, max, pack, concurrency
end

-- pcall's results with every value after `ok` packed into one table
-- (the error value alone on failure).
local function packed(ok, ...)
  if ok then
    return true, table.pack(...)
  end
  return false, (...)
end

-- The summary and how a request's outcome goes into it.
local function new_tally(keep, max_errors)
  local results = keep and { n = 0 } or nil
  local summary = {
    requests = 0, ok = 0, failed = 0, errors = {}, failed_at = {}, results = results,
  }
  local kept = 0
  local function record(n, ok, res)
    if results and n > results.n then
      results.n = n
    end
    if ok then
      summary.ok = summary.ok + 1
      if results then
        results[n] = res
      end
    else
      summary.failed = summary.failed + 1
      if kept < max_errors then
        -- Counted, not #errors: an error value may be nil.
        kept = kept + 1
        summary.errors[kept] = res
        summary.failed_at[kept] = n
      end
    end
  end
  return summary, record
end

-- Requests in flight: up to `concurrency` isolate calls at once, each in
-- a coroutine of its own. A call whose effect yields lets the next one
-- run; suspended calls are resumed in turn, in the order they started,
-- with nothing (what they yielded is for schedulers of one's own, see
-- examples/sleep_scheduler.lua). Each call is its own request scope.
local function serve_in_flight(requests, iso, pack, concurrency, summary, record)
  local call = pack and function(r) return table.pack(iso:call(r)) end or function(r) return (iso:call(r)) end
  local flying, exhausted, nextr = {}, false, iterate(requests)
  local function step(item, ...)
    local ok, res = coroutine.resume(item.co, ...)
    if coroutine.status(item.co) == "dead" then
      record(item.n, ok, res)
      return true
    end
    return false
  end
  while true do
    while not exhausted and #flying < concurrency do
      local r = nextr()
      if r == nil then
        exhausted = true
      else
        summary.requests = summary.requests + 1
        local item = { co = coroutine.create(call), n = summary.requests }
        if not step(item, r) then
          flying[#flying + 1] = item
        end
      end
    end
    if #flying == 0 then
      return summary
    end
    local i = 1
    while i <= #flying do
      if step(flying[i]) then
        table.remove(flying, i)
      else
        i = i + 1
      end
    end
  end
end

return function(h, requests, fn, opts)
  if not is_handler(h) then
    argcheck.argerror(1, "serve", argcheck.expected("effect handler", h))
  end
  local rt = type(requests)
  if rt ~= "table" and rt ~= "function" then
    argcheck.argerror(2, "serve", argcheck.expected("table or iterator function", requests))
  end
  local iso
  if is_isolate(fn) then
    iso = fn
    fn = function(r)
      return iso:call(r)
    end
  elseif type(fn) ~= "function" then
    argcheck.argerror(3, "serve", argcheck.expected("function or lexrt.isolate", fn))
  end
  local keep, max_errors, pack, concurrency = read_options(opts)
  if keep == nil then
    argcheck.argerror(4, "serve", max_errors)
  end
  if concurrency > 1 and not iso then
    argcheck.argerror(4, "serve", "concurrency > 1 needs an isolate (its calls are the requests in flight)")
  end
  if concurrency > 1 and concurrency > iso:stats().max_instances then
    argcheck.argerror(4, "serve", ("concurrency %d is more than the isolate's instances (%d)")
      :format(concurrency, iso:stats().max_instances))
  end
  pack = keep and pack -- nothing to pack when nothing is kept

  local summary, record = new_tally(keep, max_errors)
  if concurrency > 1 then
    return serve_in_flight(requests, iso, pack, concurrency, summary, record)
  end
  for r in iterate(requests) do
    local n = summary.requests + 1
    summary.requests = n
    local id = h:enter_request_scope()
    local ok, res
    if pack then
      ok, res = packed(pcall(fn, r, h, id))
    else
      ok, res = pcall(fn, r, h, id)
    end
    h:exit_request_scope(id)
    if summary.results then
      summary.results.n = n
    end
    record(n, ok, res)
  end
  return summary
end
