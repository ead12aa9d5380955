-- lexrt.serve(handler, requests, fn [, opts]): the stand-in for Lex's serve
-- loop. Every request runs inside its own request scope, and the scope is
-- exited whatever fn does, exactly as the runtime layer brackets a Lex
-- handler.
--
-- The summary's counts are exact however long the stream; what it keeps
-- is bounded by the caller: `results` (one slot per request) only when
-- keep_results is on, and at most max_errors errors. With keep_results
-- off, serving an endless iterator holds no more memory after a million
-- requests than after one.

local argcheck = require("lexrt.argcheck")

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

-- The options table: keep_results (boolean, default true) and max_errors
-- (integer >= 0, default 10). Returns both, or nil and the message for
-- argument #4.
local function read_options(opts)
  if opts == nil then
    return true, DEFAULT_MAX_ERRORS
  end
  if type(opts) ~= "table" then
    return nil, argcheck.expected("table", opts)
  end
  for k in pairs(opts) do
    if k ~= "keep_results" and k ~= "max_errors" then
      return nil, ("unknown option '%s' (known: keep_results, max_errors)"):format(tostring(k))
    end
  end
  local keep = opts.keep_results
  if keep == nil then
    keep = true
  elseif type(keep) ~= "boolean" then
    return nil, ("keep_results must be a boolean, got %s"):format(type(keep))
  end
  if opts.max_errors == nil then
    return keep, DEFAULT_MAX_ERRORS
  end
  local max, err = argcheck.tocount(opts.max_errors, "max_errors")
  if not max then
    return nil, err
  end
  return keep, max
end

return function(h, requests, fn, opts)
  if not is_handler(h) then
    argcheck.argerror(1, "serve", argcheck.expected("effect handler", h))
  end
  local rt = type(requests)
  if rt ~= "table" and rt ~= "function" then
    argcheck.argerror(2, "serve", argcheck.expected("table or iterator function", requests))
  end
  argcheck.checktype(3, "serve", fn, "function")
  local keep, max_errors = read_options(opts)
  if keep == nil then
    argcheck.argerror(4, "serve", max_errors)
  end

  local results = keep and { n = 0 } or nil
  local errors, failed_at = {}, {}
  local summary = {
    requests = 0, ok = 0, failed = 0, errors = errors, failed_at = failed_at, results = results,
  }
  local kept = 0
  for r in iterate(requests) do
    local n = summary.requests + 1
    summary.requests = n
    local id = h:enter_request_scope()
    local ok, res = pcall(fn, r, h, id)
    h:exit_request_scope(id)
    if results then
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
        errors[kept] = res
        failed_at[kept] = n
      end
    end
  end
  return summary
end
