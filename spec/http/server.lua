-- A lexrt.http server for the HTTP specs, started and stopped by the spec
-- itself (spec/http/client.lua):
--
--   lua5.4 spec/http/server.lua MODE OPTIONS DIR
--
-- MODE is fn or isolate; OPTIONS is a chunk returning more lexrt.http.serve
-- options (limits, workers, instances for the isolate). It serves
-- spec/http/app.lua on 127.0.0.1 and an ephemeral port (DIR: the
-- spec's scratch directory for this server), writes
-- "port P pid N" once listening, and when it stops, a last line:
-- "stats served=… why=… pages_live=… depth=… entered=… exited=…".
local lexrt = require("lexrt")
local http = require("lexrt.http")

local mode, extra = arg[1], assert(load(arg[2] or "return {}"))()
local dir = arg[0]:match("^(.*)/[^/]*$") or "."
local app = dir .. "/app.lua"

local scratch = arg[3]

local function exists(path)
  local f = io.open(path)
  if f then
    f:close()
  end
  return f ~= nil
end

-- gate.hold(name): says it is held (a file), then waits, yielding to the
-- server's loop, until the spec releases it (another file).
local function hold(name)
  assert(io.open(("%s/held-%s"):format(scratch, name), "w")):close()
  while not exists(("%s/release-%s"):format(scratch, name)) do
    coroutine.yield(0.01)
  end
end

local h = lexrt.handler{
  policy = lexrt.policy{ kinds = { "gate" }, allow_effects = { "time", "gate" } },
  effects = { time = { sleep = function(s) return coroutine.yield(s) end }, gate = { hold = hold } },
}
local o = { host = "127.0.0.1", port = 0 }
local instances = extra.instances
extra.instances = nil
for k, v in pairs(extra) do
  o[k] = v
end
local iso
if mode == "isolate" then
  iso = lexrt.isolate{ file = app, handler = h, instances = instances or 4 }
  o.isolate = iso
else
  o.fn, o.handler = dofile(app), h
end
local log = {}
o.on_request = function(info)
  log[#log + 1] = ("%s %s %d %d"):format(info.method, info.path, info.status, info.bytes)
end

local server = http.serve(o)
local pid = io.open("/proc/self/stat"):read("l"):match("^(%d+)")
io.stdout:write(("port %d pid %s\n"):format(server.port, pid))
io.stdout:flush()
local served, why = server:run()
if iso then
  iso:close()
end
local s = h:stats()
io.stdout:write(("log %s\n"):format(table.concat(log, "|")))
io.stdout:write(("stats served=%s why=%s pages_live=%d depth=%d entered=%d exited=%d\n"):format(tostring(served),
  tostring(why), s.pages_live, s.depth, s.scopes_entered, s.scopes_exited))
h:close()
