-- The request function the HTTP specs serve (spec/http/server.lua), in
-- the server's own state (fn mode) or as an isolate's chunk: one path per
-- behaviour the specs look at.
-- luacheck: read globals time gate
return function(req, h)
  local p = req.path
  if p == "/echo" then
    local names = {}
    for k in pairs(req.headers) do
      names[#names + 1] = k
    end
    table.sort(names)
    local lines = { req.method, req.path, req.query, req.remote, #req.body }
    for _, k in ipairs(names) do
      lines[#lines + 1] = k .. ": " .. req.headers[k]
    end
    return 200, { ["content-type"] = "text/plain", ["x-body-bytes"] = tostring(#req.body) },
      table.concat(lines, "\n") .. "\n" .. req.body
  elseif p == "/alloc" then
    -- Some pages of the request's scope in use: what a leak would keep.
    local n = tonumber(req.query:match("n=(%d+)")) or 1
    if h then
      local a = h:active_arena()
      for _ = 1, n do
        a:alloc(4000)
      end
    end
    local parts = {}
    for i = 1, n do
      parts[i] = ("%04d"):format(i)
    end
    return 200, nil, table.concat(parts, ",")
  elseif p == "/error" then
    error("boom at " .. p)
  elseif p == "/yield" then
    -- The request function is not a coroutine of its own, in either mode.
    coroutine.yield(1)
    return 200
  elseif p == "/bad" then
    return "nope"
  elseif p == "/badheaders" then
    return 200, { ["x"] = {} }, "x"
  elseif p == "/status" then
    return tonumber(req.query:match("s=(%d+)")), nil, "status\n"
  elseif p == "/sleep" then
    -- Isolate mode: time.sleep yields the call out to the server's loop.
    local s = tonumber(req.query:match("s=([%d.]+)")) or 0.1
    time.sleep(s)
    return 200, nil, "slept " .. s .. "\n"
  elseif p == "/hold" then
    -- Isolate mode: waits in the host until the spec releases it.
    local name = req.query:match("n=(%w+)")
    gate.hold(name)
    return 200, nil, "held " .. name .. "\n"
  elseif p == "/big" then
    local n = tonumber(req.query:match("n=(%d+)")) or 100000
    return 200, nil, ("x"):rep(n)
  end
  return 404, { ["content-type"] = "text/plain" }, "no route for " .. p .. "\n"
end
