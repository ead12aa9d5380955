-- lexrt.serve(handler, requests, fn): the stand-in for Lex's serve loop.
-- Every request runs inside its own request scope, and the scope is exited
-- whatever fn does, exactly as the runtime layer brackets a Lex handler.
local MAX_ERRORS = 10 -- errors kept in the summary; the count is exact

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

return function(h, requests, fn)
  if not is_handler(h) then
    error("bad argument #1 to 'serve' (effect handler expected, got " .. type(h) .. ")", 2)
  end
  local rt = type(requests)
  if rt ~= "table" and rt ~= "function" then
    error("bad argument #2 to 'serve' (table or iterator function expected, got " .. rt .. ")", 2)
  end
  if type(fn) ~= "function" then
    error("bad argument #3 to 'serve' (function expected, got " .. type(fn) .. ")", 2)
  end
  local summary = { requests = 0, ok = 0, failed = 0, errors = {}, results = {} }
  for r in iterate(requests) do
    local n = summary.requests + 1
    summary.requests = n
    local id = h:enter_request_scope()
    local ok, res = pcall(fn, r, h, id)
    h:exit_request_scope(id)
    if ok then
      summary.ok = summary.ok + 1
      summary.results[n] = res
    else
      summary.failed = summary.failed + 1
      if #summary.errors < MAX_ERRORS then
        summary.errors[#summary.errors + 1] = res
      end
    end
  end
  return summary
end
