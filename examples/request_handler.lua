-- A request handler that builds its response in the scope's arena.
-- Every request gets a fresh arena from the handler's page pool; when the
-- scope exits the arena's pages go back to the pool and its handles die.
local lexrt = require("lexrt")

local h <close> = lexrt.handler()

local function handle(req, handler)
  local a = handler:active_arena()
  local parts = {}
  parts[#parts + 1] = a:put("HTTP/1.1 200 OK\r\n")
  parts[#parts + 1] = a:put("content-type: text/plain\r\n\r\n")
  parts[#parts + 1] = a:put(("hello, %s\n"):format(req.name))
  -- Assemble the body into one block, then hand it out as a Lua string:
  -- only the returned string outlives the request.
  local len = 0
  for _, p in ipairs(parts) do len = len + a:size(p) end
  local out, pos = a:alloc(len, 1), 1
  for _, p in ipairs(parts) do
    a:write(out, pos, a:read(p))
    pos = pos + a:size(p)
  end
  return a:read(out)
end

local summary = lexrt.serve(h, { { name = "ada" }, { name = "lin" } }, handle)
for i, response in ipairs(summary.results) do
  io.write(("-- response %d --\n%s"):format(i, response))
end
local s = h:stats()
print(("requests=%d ok=%d pages_live=%d pages_pooled=%d"):format(
  summary.requests, summary.ok, s.pages_live, s.pages_pooled))
return summary
