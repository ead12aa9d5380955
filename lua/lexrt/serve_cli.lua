--[[
lexrt-serve FILE.lua: serves the request function FILE returns behind
lexrt.http (bin/lexrt-serve runs main()).

  gc, gc-gen  FILE runs once in this process; each request calls the
              function in a request scope of its own, under the
              incremental or the generational collector
  isolate     FILE is the chunk of a lexrt.isolate; each request is
              iso:call(req), up to --instances in flight

The access log is one line per response; --hooks FILE returns a table of
`start(info)` and `finish(info)`, called before each request runs and
after its response is queued, in the server's own state (OpenResty's
log_by_lua, for metrics).
]]

local argparse = require("argparse")
local http = require("lexrt.http")

local M = {}

local PROG = "lexrt-serve"
M.MODES = { gc = "incremental", ["gc-gen"] = "generational", isolate = "incremental" }

local function fail(fmt, ...)
  io.stderr:write(PROG, ": ", fmt:format(...), "\n")
  os.exit(2)
end

local function parser()
  local p = argparse(PROG, "Serve the request function a Lua file returns, over HTTP/1.1: each request in a "
    .. "request scope of its own (gc, gc-gen) or in an isolate instance (isolate).")
  p:help_max_width(80)
  p:epilog("The function is called as fn(req, h, id) and returns status [, headers [, body]]; "
    .. "req has method, path, query, headers, body and remote.\n\nExamples:\n"
    .. "  lexrt-serve app.lua --port 8080\n"
    .. "  lexrt-serve app.lua --mode isolate --instances 64 --workers 2 --access-log -")
  p:argument("file", "A Lua file that returns the request function."):args(1)
  p:option("--host", "Address to listen on.", http.DEFAULTS.host)
  p:option("--port", "Port to listen on; 0 picks a free one.", tostring(http.DEFAULTS.port))
  p:option("--workers", "Processes sharing the port.", "1")
  p:option("--mode", "gc, gc-gen or isolate.", "gc"):choices({ "gc", "gc-gen", "isolate" })
  p:option("--instances", "Isolate mode: requests in flight per worker.", "16")
  p:option("--access-log", "Append a line per response to this file ('-': standard output).")
  p:option("--hooks", "A Lua file returning { start = function(info), finish = function(info) }.")
  p:option("--max-requests", "Stop after this many requests (per worker).")
  p:flag("--version", "Print the version and exit.")
  return p
end

local function integer(text, name, least)
  local n = math.tointeger(tonumber(text))
  if not n or n < least then
    fail("%s: expected an integer >= %d, got '%s'", name, least, tostring(text))
  end
  return n
end

local function load_file(path, what)
  local chunk, err = loadfile(path)
  if not chunk then
    fail("%s: %s", what, err)
  end
  local ok, v = pcall(chunk)
  if not ok then
    fail("%s: %s", what, tostring(v))
  end
  return v
end

-- One line per response: time, method, path, status, bytes, seconds.
local function access_logger(path)
  local f = io.stdout
  if path ~= "-" then
    local err
    f, err = io.open(path, "a")
    if not f then
      fail("--access-log: %s", err)
    end
  end
  f:setvbuf("line")
  return function(info)
    f:write(("%s %s %s %d %d %.6f\n"):format(os.date("!%Y-%m-%dT%H:%M:%SZ"), info.method, info.path,
      info.status, info.bytes, info.seconds))
  end
end

local function hooks_of(args)
  local start, finishers = nil, {}
  if args.access_log then
    finishers[#finishers + 1] = access_logger(args.access_log)
  end
  if args.hooks then
    local t = load_file(args.hooks, "--hooks")
    if type(t) ~= "table" then
      fail("--hooks: %s must return a table, got %s", args.hooks, type(t))
    end
    for key, v in pairs(t) do
      if (key ~= "start" and key ~= "finish") or type(v) ~= "function" then
        fail("--hooks: expected functions start and finish, got %s = %s", tostring(key), type(v))
      end
    end
    start = t.start
    finishers[#finishers + 1] = t.finish
  end
  if #finishers <= 1 then
    return start, finishers[1]
  end
  return start, function(info)
    for _, f in ipairs(finishers) do
      f(info)
    end
  end
end

-- The lexrt.http.serve options for parsed arguments.
function M.options(args)
  local o = {
    host = args.host,
    port = integer(args.port, "--port", 0),
    workers = integer(args.workers, "--workers", 1),
    max_requests = args.max_requests and integer(args.max_requests, "--max-requests", 1) or nil,
  }
  o.on_start, o.on_request = hooks_of(args)
  local lexrt = require("lexrt")
  if args.mode == "isolate" then
    local ok, iso = pcall(lexrt.isolate, { file = args.file, instances = integer(args.instances, "--instances", 1) })
    if not ok then
      fail("%s", tostring(iso))
    end
    o.isolate = iso
  else
    local fn = load_file(args.file, args.file)
    if type(fn) ~= "function" then
      fail("%s must return a function, got %s", args.file, type(fn))
    end
    o.fn, o.handler = fn, lexrt.handler()
  end
  return o
end

function M.main(argv)
  local ok, args = parser():pparse(argv)
  if not ok then
    fail("%s", args)
  end
  if args.version then
    io.stdout:write(PROG, " ", require("lexrt.core")._VERSION, "\n")
    return 0
  end
  collectgarbage(M.MODES[args.mode])
  local o = M.options(args)
  local made, server = pcall(http.serve, o)
  if not made then
    fail("%s", (tostring(server):gsub("^bad argument #1 to 'serve' %((.*)%)$", "%1")))
  end
  io.stdout:write(("%s: serving %s on http://%s:%d/ (mode %s, %d worker%s)\n"):format(PROG, args.file, o.host,
    server.port, args.mode, o.workers, o.workers == 1 and "" or "s"))
  io.stdout:flush()
  local _, why = server:run()
  io.stdout:write(("%s: stopped (%s)\n"):format(PROG, tostring(why)))
  return 0
end

return M
