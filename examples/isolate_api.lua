-- An API handler in an isolate: its own Lua state, every object of a
-- request in that request's arena, and no way out but the effects the
-- policy grants. Requests that try to escape (a file outside the grant,
-- memory past max_bytes, a loop that never ends) are stopped, and the
-- next request is served as if nothing had happened; a file that is not
-- there is answered with a 404.
--
--   lua5.4 examples/isolate_api.lua      (after make build; see README)
local lexrt = require("lexrt")

-- The one directory this API may read, holding one file.
local dir = os.tmpname()
os.remove(dir)
assert(os.execute("mkdir '" .. dir .. "'"))
local data = dir .. "/about.txt"
local f = assert(io.open(data, "w"))
f:write("lexrt isolates: one state per handler, one arena per request\n")
f:close()

-- Effects are host functions; the policy decides which the isolate may use.
local h <close> = lexrt.handler({
  policy = lexrt.policy({ allow_effects = { "io", "fs_read" }, allow_fs_read = { dir } }),
  effects = {
    io = { log = function(line) print("  [api] " .. line) end },
    -- A missing file is no error: nil and io.open's message, for the
    -- request to answer (a 404 below).
    fs_read = { read = function(path)
      local file, err = io.open(path, "r")
      if not file then return nil, err end
      local text = file:read("a")
      file:close()
      return text
    end },
  },
})

-- The handler's code. It runs once to build the isolate; the function it
-- returns serves every request, each starting from that same state.
local api <close> = lexrt.isolate({
  name = "api",
  handler = h,
  max_bytes = 1 << 20,       -- per request
  max_instructions = 1e6,    -- per request
  source = [[
    local routes = {}

    routes["/hello"] = function(q)
      return 200, "hello, " .. (q.name or "world")
    end

    routes["/file"] = function(q)
      local text, err = fs_read.read(q.path) -- gated by the policy, in the host
      if not text then return 404, err end
      return 200, text
    end

    routes["/report"] = function(q) -- builds a report of n lines
      local lines = {}
      for i = 1, tonumber(q.n) do lines[i] = ("line %d: %s"):format(i, ("#"):rep(60)) end
      return 200, #table.concat(lines, "\n") .. " bytes"
    end

    routes["/spin"] = function()
      while true do end
    end

    return function(req)
      io.log(req.method .. " " .. req.path)
      local route = routes[req.path]
      if not route then return { status = 404, body = "no route" } end
      local status, body = route(req.query or {})
      return { status = status, body = body }
    end
  ]],
})

local requests = {
  { method = "GET", path = "/hello", query = { name = "ada" } },
  { method = "GET", path = "/file", query = { path = data } },
  { method = "GET", path = "/file", query = { path = "/etc/passwd" } }, -- outside the grant
  { method = "GET", path = "/hello", query = { name = "lin" } },
  { method = "GET", path = "/report", query = { n = "100" } },
  { method = "GET", path = "/report", query = { n = "1000000" } },     -- past max_bytes
  { method = "GET", path = "/hello", query = { name = "kim" } },
  { method = "GET", path = "/spin" },                                  -- never ends
  { method = "GET", path = "/hello", query = { name = "joe" } },
  { method = "GET", path = "/file", query = { path = dir .. "/missing.txt" } }, -- allowed, not there
}

local summary = lexrt.serve(h, requests, api)

local refused = {}
for k, at in ipairs(summary.failed_at) do
  refused[at] = summary.errors[k]
end
for i, req in ipairs(requests) do
  local r = summary.results[i]
  if r then
    print(("%s %s -> %d %s"):format(req.method, req.path, r.status, r.body:gsub("\n", " ")))
  else
    print(("%s %s -> stopped: %s"):format(req.method, req.path, tostring(refused[i])))
  end
end

local s, st = h:stats(), api:stats()
print(("served %d, stopped %d; pages_live %d, pages from the system %d, reused %d"):format(
  summary.ok, summary.failed, s.pages_live, s.pages_from_system, s.pages_reused))
print(("isolate: %d-byte image, %d calls, peak %d bytes in a call"):format(
  st.image_bytes, st.calls, st.peak_call_bytes))
os.remove(data)
os.remove(dir)
return summary
