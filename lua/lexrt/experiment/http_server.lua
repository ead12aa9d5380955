--[[
The server side of lexrt-experiment --http: one child process per mode
(lexrt.experiment.http starts it), serving a workload's handler behind
lexrt.http until SIGTERM.

The workload's requests are generated here as in-process runs generate
them (same seed, same (seed, i) rule), and an HTTP request for the path
"/<i>" runs request i (modulo their count; any other path runs request
1). So the client (wrk, with a script that cycles through the paths) only
picks requests, and every mode does the same work for the same path:
  gc, gc-gen  fn mode: the handler in the server's own Lua state, under
              the incremental or the generational collector
  isolate     isolate mode: the workload's code and its requests carried
              into a lexrt.isolate (lexrt.experiment.bundle), a fresh
              image per request, no collector
  static      a constant reply without any handler: what HTTP alone costs
Once listening, the child writes "port <port> pid <pid>" on stdout.
]]

local Ctx = require("lexrt.experiment.ctx")
local workload = require("lexrt.experiment.workload")

local M = {}

M.STATIC_BODY = "hello, world\n"
M.MODES = { "gc", "gc-gen", "isolate", "static" }

local COLLECTOR = { gc = "incremental", ["gc-gen"] = "generational", isolate = "incremental", static = "incremental" }

-- Plain data (the generated requests) as a Lua expression that both Lua
-- 5.4 and LuaJIT read back (the nginx row of make bench loads it too).
function M.serialize(v, out)
  out = out or {}
  local t = type(v)
  if t == "string" then
    out[#out + 1] = ("%q"):format(v)
  elseif math.type(v) == "integer" then
    out[#out + 1] = ("%d"):format(v)
  elseif t == "number" then
    out[#out + 1] = ("%.17g"):format(v)
  elseif t == "boolean" then
    out[#out + 1] = tostring(v)
  elseif t == "table" then
    out[#out + 1] = "{"
    local n = #v
    for i = 1, n do
      M.serialize(v[i], out)
      out[#out + 1] = ","
    end
    local keys = {}
    for k in pairs(v) do
      if not (math.type(k) == "integer" and k >= 1 and k <= n) then
        keys[#keys + 1] = k
      end
    end
    table.sort(keys, function(a, b)
      return tostring(a) < tostring(b)
    end)
    for _, k in ipairs(keys) do
      out[#out + 1] = "["
      M.serialize(k, out)
      out[#out + 1] = "]="
      M.serialize(v[k], out)
      out[#out + 1] = ","
    end
    out[#out + 1] = "}"
  else
    error(("a generated request holds a %s, which cannot be carried to the server"):format(t), 0)
  end
  return out
end

-- Which request a path asks for: "/<i>" is request i, wrapped around n.
local function index_source()
  return [[
local function index_of(path, n)
  local i = tonumber(path:match("^/(%d+)$")) or 1
  return (i - 1) % n + 1
end]]
end

local index_of = assert(load(index_source() .. "\nreturn index_of"))()

local function content_type(w)
  return w.content_type or (w.name == "json" and "application/json") or "text/plain"
end

local function fn_app(w, reqs)
  local handler, n = w.handler, #reqs
  local headers = { ["content-type"] = content_type(w) }
  return {
    fn = function(req)
      local ctx = Ctx.gc()
      local ref = handler(ctx, reqs[index_of(req.path, n)])
      return 200, headers, type(ref) == "string" and ref or ctx:read(ref)
    end,
  }
end

-- The isolate's chunk: the requests, the workload's bundle (whose chunk
-- returns its request function), and the adapter from an HTTP request to
-- one of them.
function M.isolate_source(w, reqs)
  local bundle = require("lexrt.experiment.bundle")
  return table.concat({
    "local REQS = " .. table.concat(M.serialize(reqs)),
    "local call = (function(...)\n" .. bundle.source(w) .. "\nend)()",
    index_source(),
    ("local HEADERS = { [\"content-type\"] = %q }"):format(content_type(w)),
    "local n = #REQS",
    "return function(req)",
    "  return 200, HEADERS, call(REQS[index_of(req.path, n)])",
    "end",
  }, "\n")
end

local function isolate_app(w, reqs)
  local h = require("lexrt.handler").new()
  local iso = require("lexrt.isolate")({
    source = M.isolate_source(w, reqs), handler = h, name = "workload " .. tostring(w.name) .. " over HTTP",
    max_bytes = 512 * 1024 * 1024,
  })
  return { isolate = iso, handler = h }
end

local function static_app()
  local headers, body = { ["content-type"] = "text/plain" }, M.STATIC_BODY
  return {
    fn = function()
      return 200, headers, body
    end,
  }
end

-- The serve options for o = { mode, workload (a name or a .lua path),
-- seed, requests }, without host and port.
function M.app(o)
  if o.mode == "static" then
    return static_app()
  end
  local w = workload.resolve(o.workload)
  local reqs = workload.generate(w, o.requests or w.requests or 200, o.seed or 1)
  if o.mode == "isolate" then
    return isolate_app(w, reqs)
  elseif COLLECTOR[o.mode] then
    return fn_app(w, reqs)
  end
  error(("unknown HTTP mode '%s' (expected %s)"):format(tostring(o.mode), table.concat(M.MODES, ", ")), 0)
end

local function own_pid()
  local f = assert(io.open("/proc/self/stat", "r"))
  local pid = f:read("n")
  f:close()
  return pid
end

-- Serves until SIGTERM (or SIGINT); o as for app, plus host and port.
function M.main(o)
  local http = require("lexrt.http")
  local opts = M.app(o)
  opts.host, opts.port = o.host or "127.0.0.1", o.port or 0
  -- The requests and the code are built: start the timed life clean.
  collectgarbage("collect")
  collectgarbage(COLLECTOR[o.mode])
  local server = http.serve(opts)
  io.stdout:write(("port %d pid %d\n"):format(server.port, own_pid()))
  io.stdout:flush()
  local served, why = server:run()
  io.stderr:write(("served %d (%s)\n"):format(served or 0, tostring(why)))
  return 0
end

return M
