-- lexrt.http: a real serve loop. HTTP/1.1 on h2o's event loop (the C is
-- csrc/l_http.c and csrc/l_httpconn.c, module lexrt.http_core); this
-- front checks the options, decides what one request runs, and runs the
-- worker processes when there are more than one.
--
-- A request runs either fn(req, h, id) inside a request scope of its own
-- on the handler, to completion, or iso:call(req) in a thread of its own,
-- where an effect may suspend it: up to the isolate's `instances`
-- requests are then in flight at once (one more is answered 503).
local argcheck = require("lexrt.argcheck")
local core = require("lexrt.http_core")
local handler = require("lexrt.handler")
local maybe_core = require("lexrt.maybe_core")

local M = {}

M.DEFAULTS = {
  host = "127.0.0.1",
  port = 8080,
  workers = 1,
  max_header_bytes = 8192,
  max_headers = 100,
  max_body_bytes = 1 << 20,
  request_timeout = 10,
  idle_timeout = 60,
}

local OPTIONS = {
  host = true, port = true, handler = true, fn = true, isolate = true, workers = true,
  max_requests = true, on_request = true, on_start = true, max_header_bytes = true, max_headers = true,
  max_body_bytes = true, request_timeout = true, idle_timeout = true, signals = true,
}

local function bad(msg)
  argcheck.argerror(1, "serve", msg, 3)
end

local function integer(o, key, least, most)
  local v = o[key]
  local n = type(v) == "number" and math.tointeger(v)
  if not n or n < least or (most and n > most) then
    bad(("%s must be an integer in %d..%s, got %s"):format(key, least, most and tostring(most) or "", tostring(v)))
  end
  return n
end

local function seconds(o, key)
  local v = o[key]
  if type(v) ~= "number" or v <= 0 or v ~= v or v > 86400 then
    bad(("%s must be a number of seconds in (0, 86400], got %s"):format(key, tostring(v)))
  end
  return math.floor(v * 1000 + 0.5)
end

local function is_isolate(v)
  local c = maybe_core.core
  return type(v) == "userdata" and c ~= nil and c.is_isolate ~= nil and c.is_isolate(v)
end

local function log(fmt, ...)
  io.stderr:write(("lexrt.http: " .. fmt .. "\n"):format(...))
end

local ERROR_BODY = "500 Internal Server Error\n"

-- The before-request hook, if any: its errors are logged, never the request's.
local function starter_of(on_start)
  return function(req)
    local ok, err = pcall(on_start, { method = req.method, path = req.path, remote = req.remote })
    if not ok then
      log("on_start: %s", tostring(err))
    end
  end
end

-- The function the server calls per request: runner(req) -> status, headers, body.
local function runner_of(o)
  local start = o.on_start and starter_of(o.on_start)
  if o.isolate then
    local iso = o.isolate
    return function(req)
      if start then
        start(req)
      end
      local ok, status, headers, body = pcall(iso.call, iso, req)
      if ok then
        return status, headers, body
      end
      if type(status) == "string" and status:find("isolate busy: all", 1, true) then
        return 503, { ["retry-after"] = "1" }, "503 Service Unavailable\n"
      end
      log("%s %s answered 500: %s", req.method, req.path, tostring(status))
      return 500, nil, ERROR_BODY
    end
  end
  local fn, h = o.fn, o.handler
  return function(req)
    if start then
      start(req)
    end
    local id = h:enter_request_scope()
    local ok, status, headers, body = pcall(fn, req, h, id)
    h:exit_request_scope(id)
    if ok then
      return status, headers, body
    end
    log("%s %s answered 500: %s", req.method, req.path, tostring(status))
    return 500, nil, ERROR_BODY
  end
end

local function options(o)
  if type(o) ~= "table" then
    bad("table expected, got " .. type(o))
  end
  for k in pairs(o) do
    if not OPTIONS[k] then
      bad("unknown option '" .. tostring(k) .. "'")
    end
  end
  local r = {}
  for k, v in pairs(M.DEFAULTS) do
    r[k] = o[k] == nil and v or o[k]
  end
  if type(r.host) ~= "string" then
    bad("host must be a string, got " .. type(r.host))
  end
  r.port = integer(r, "port", 0, 65535)
  r.workers = integer(r, "workers", 1, 256)
  r.max_header_bytes = integer(r, "max_header_bytes", 256)
  r.max_headers = integer(r, "max_headers", 1, 1000)
  r.max_body_bytes = integer(r, "max_body_bytes", 0)
  r.request_timeout_ms = seconds(r, "request_timeout")
  r.idle_timeout_ms = seconds(r, "idle_timeout")
  r.max_requests = o.max_requests ~= nil and integer(o, "max_requests", 1) or 0
  if (o.fn == nil) == (o.isolate == nil) then
    bad("exactly one of fn and isolate expected")
  end
  if o.fn ~= nil and type(o.fn) ~= "function" then
    bad("fn must be a function, got " .. type(o.fn))
  end
  if o.isolate ~= nil and not is_isolate(o.isolate) then
    bad("isolate must be a lexrt.isolate, got " .. type(o.isolate))
  end
  r.fn, r.isolate = o.fn, o.isolate
  r.handler = o.handler
  if r.handler == nil and r.fn then
    r.handler = handler.new()
  elseif r.handler ~= nil and not handler.is_handler(r.handler) then
    bad("handler must be a lexrt.handler, got " .. type(r.handler))
  end
  for _, key in ipairs({ "on_start", "on_request" }) do
    if o[key] ~= nil and type(o[key]) ~= "function" then
      bad(key .. " must be a function, got " .. type(o[key]))
    end
    r[key] = o[key]
  end
  r.signals = o.signals ~= false
  return r
end

local Server = {}
Server.__index = Server

-- The after-response hook, from the C's five values to one table.
local function hook_of(on_request)
  if not on_request then
    return nil
  end
  return function(method, path, status, bytes, secs)
    on_request({ method = method, path = path, status = status, bytes = bytes, seconds = secs })
  end
end

local function run_one(self, srv)
  self.core = srv
  local served, why = srv:run(runner_of(self.o), hook_of(self.o.on_request), self.o.signals, self.o.isolate ~= nil)
  self.core = nil
  srv:close()
  return served, why
end

-- workers = N: N processes, each with a socket of its own on the same
-- port (SO_REUSEPORT), so the kernel spreads connections among them; the
-- parent keeps a bound socket (not listening) to hold the port, restarts
-- a worker that dies, and on SIGINT/SIGTERM stops them all.
local function run_workers(self)
  local o, alive, stopping = self.o, {}, false
  local function spawn()
    local pid = core.fork()
    if pid == 0 then
      local ok, err = pcall(function()
        run_one(self, core.server(o.host, self.port, self.copts))
      end)
      if not ok then
        log("worker %s", tostring(err))
      end
      os.exit(ok and 0 or 1)
    end
    alive[pid] = true
  end
  for _ = 1, o.workers do
    spawn()
  end
  core.trap(true)
  while next(alive) do
    if not stopping and core.signalled() then
      stopping = true
      for pid in pairs(alive) do
        core.kill(pid, "TERM")
      end
    end
    local pid, how, code = core.wait(false)
    if pid then
      alive[pid] = nil
      if not stopping and not (how == "exit" and code == 0) then
        log("worker %d ended (%s %d): restarted", pid, how, code)
        spawn()
      end
    else
      core.sleep(0.05)
    end
  end
  core.trap(false)
  self.reserve:close()
  return nil, stopping and "signal" or "workers done"
end

function Server:run()
  if self.o.workers == 1 then
    local srv = self.listening
    self.listening = nil
    if not srv then
      error("server has run already", 2)
    end
    return run_one(self, srv)
  end
  return run_workers(self)
end

function Server:stop()
  if self.core then
    self.core:stop()
  end
end

function M.serve(opts)
  local o = options(opts)
  local copts = {
    max_header_bytes = o.max_header_bytes, max_headers = o.max_headers, max_body_bytes = o.max_body_bytes,
    request_timeout_ms = o.request_timeout_ms, idle_timeout_ms = o.idle_timeout_ms,
    max_requests = o.max_requests, reuseport = o.workers > 1,
  }
  local self = setmetatable({ o = o, copts = copts }, Server)
  if o.workers == 1 then
    self.listening = core.server(o.host, o.port, copts)
    self.port = self.listening:port()
  else
    self.reserve = core.server(o.host, o.port, { reuseport = true, listen = false })
    self.port = self.reserve:port()
  end
  return self
end

return M
