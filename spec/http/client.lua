-- What the HTTP specs need around a server: start one (spec/http/server.lua,
-- in a process of its own, under the checker the suite runs under), talk
-- to it with a socket client of our own or with curl, and stop it.
-- Everything is on 127.0.0.1 and bounded in time.
local socket = require("socket")
local support = require("spec.support")

local M = {}

-- Generous: under valgrind a server starts in seconds, not milliseconds.
M.SLOW = os.getenv("LEXRT_CHECKER") and 10 or 1
local START_SECONDS = 30 * M.SLOW
M.WAIT_SECONDS = START_SECONDS
local LIFETIME = 120 * M.SLOW

local here = debug.getinfo(1, "S").source:match("^@(.*)/[^/]*$") or "spec/http"

function M.wait_for(what, seconds, f)
  local deadline = socket.gettime() + seconds
  while true do
    local r = table.pack(f())
    if r[1] then
      return table.unpack(r, 1, r.n)
    end
    if socket.gettime() > deadline then
      error(("timed out waiting for %s"):format(what), 2)
    end
    socket.sleep(0.02)
  end
end

-- A file's text, nil when it is not there (yet).
M.read = require("lexrt.experiment.http_proc").read_file

-- Servers started and not yet seen to end: cleanup() ends them, so that
-- a failed test leaves nothing running.
local running = {}

function M.cleanup()
  for s in pairs(running) do
    os.execute(("kill -KILL %d %s 2>/dev/null"):format(s.wrapper, s.pid or ""))
    os.execute(("rm -rf %q"):format(s.dir))
    running[s] = nil
  end
end

-- Runs a command line in the background (under a time bound) until its
-- standard output matches `ready`; returns { dir, wrapper, captures... }:
-- wrapper is the pid of `timeout`, which passes signals on.
function M.spawn(command, ready)
  local dir = os.tmpname()
  os.remove(dir)
  assert(os.execute("mkdir " .. dir))
  local script = assert(io.open(dir .. "/run.sh", "w"))
  script:write(("LUA_PATH='%s' LUA_CPATH='%s' timeout -s KILL %d %s >%s/out 2>%s/err &\n"
    .. "echo $! >%s/pid\nwait $!\necho $? >%s/rc\n")
    :format(package.path, package.cpath, LIFETIME, type(command) == "function" and command(dir) or command,
      dir, dir, dir, dir))
  script:close()
  os.execute(("sh %s/run.sh </dev/null >/dev/null 2>&1 &"):format(dir))
  local s = { dir = dir }
  s.found = { M.wait_for("the server to listen", START_SECONDS, function()
    local out = M.read(dir .. "/out") or ""
    if M.read(dir .. "/rc") then
      error("the server ended before listening: " .. out .. (M.read(dir .. "/err") or ""))
    end
    return out:match(ready)
  end) }
  s.wrapper = tonumber(M.read(dir .. "/pid"))
  running[s] = true
  return s
end

-- A server process: mode "fn" or "isolate", extra the text of a Lua
-- table of lexrt.http.serve options. Returns { port, pid, ... }.
function M.start(mode, extra)
  local s = M.spawn(function(dir)
    return ("%s lua5.4 %s/server.lua %s %q %s"):format(os.getenv("LEXRT_LUA_PREFIX") or "", here, mode,
      "return " .. (extra or "{}"), dir)
  end, "port (%d+) pid (%d+)")
  s.port, s.pid = tonumber(s.found[1]), tonumber(s.found[2])
  return s
end

-- /hold?n=NAME requests (spec/http/app.lua) wait in the server until
-- released: held() waits until they are all waiting, release() lets one go.
function M.held(s, ...)
  for _, name in ipairs({ ... }) do
    M.wait_for("request " .. name .. " to be held", START_SECONDS, function()
      return M.read(s.dir .. "/held-" .. name)
    end)
  end
end

function M.release(s, ...)
  for _, name in ipairs({ ... }) do
    assert(io.open(s.dir .. "/release-" .. name, "w")):close()
  end
end

local function accepts(s)
  local c = socket.tcp()
  c:settimeout(1 * M.SLOW)
  local ok = c:connect("127.0.0.1", s.port)
  c:close()
  return ok ~= nil
end

-- Waits until the server accepts connections: with workers, the port is
-- reserved before they start, and listened on once one of them has.
function M.serving(s)
  M.wait_for("the server to accept", START_SECONDS, function()
    return accepts(s)
  end)
end

-- Waits until the server no longer accepts connections (it is stopping).
function M.refusing(s)
  M.wait_for("the server to stop accepting", START_SECONDS, function()
    return not accepts(s)
  end)
end

-- Sends a signal (default TERM) and waits for the server to end; returns
-- its exit code and its last lines parsed: stats (a table), log (a list
-- of "METHOD path status bytes"), and its standard error.
function M.stop(s, signal)
  if signal ~= false then
    os.execute(("kill -%s %s 2>/dev/null"):format(signal or "TERM", s.pid or s.wrapper))
  end
  return M.finish(s)
end

-- Waits for the server to end of itself (max_requests).
function M.finish(s)
  local rc = M.wait_for("the server to stop", START_SECONDS, function()
    return M.read(s.dir .. "/rc")
  end)
  local out, err = M.read(s.dir .. "/out") or "", M.read(s.dir .. "/err") or ""
  running[s] = nil
  os.execute(("rm -rf %q"):format(s.dir))
  local stats = {}
  for k, v in (out:match("\nstats ([^\n]*)") or ""):gmatch("([%w_]+)=(%S+)") do
    stats[k] = tonumber(v) or v
  end
  local log = {}
  for item in (out:match("\nlog ([^\n]*)") or ""):gmatch("[^|]+") do
    log[#log + 1] = item
  end
  return tonumber(rc), stats, log, err, out
end

-- A connection: send raw bytes, read what comes back.
function M.connect(port)
  local c = assert(socket.tcp())
  c:settimeout(10 * M.SLOW)
  assert(c:connect("127.0.0.1", port))
  return c
end

-- Everything the server sends until it closes the connection (or the
-- timeout passes: then nil, "timeout", what came).
function M.read_all(c, seconds)
  c:settimeout(seconds or 10 * M.SLOW)
  local parts = {}
  while true do
    local data, err, partial = c:receive(65536)
    data = data or partial
    if data and #data > 0 then
      parts[#parts + 1] = data
    end
    if err == "closed" then
      return table.concat(parts)
    elseif err then
      return nil, err, table.concat(parts)
    end
  end
end

-- Sends bytes on a fresh connection and returns all the server answered
-- before closing it.
function M.exchange(port, bytes, seconds)
  local c = M.connect(port)
  assert(c:send(bytes))
  local text, err, partial = M.read_all(c, seconds)
  c:close()
  return text, err, partial
end

-- One response read off a connection: { status, headers, body }, headers
-- by lower-case name; chunked replies are not produced by the server.
function M.response(c)
  local line, err = c:receive("*l")
  if not line then
    return nil, err
  end
  local r = { headers = {}, line = line }
  r.status = tonumber(line:match("^HTTP/1%.[01] (%d%d%d) "))
  while true do
    local h = assert(c:receive("*l"))
    if h == "" then
      break
    end
    local k, v = h:match("^([^:]+):%s*(.-)%s*$")
    r.headers[k:lower()] = v
  end
  local n = tonumber(r.headers["content-length"] or 0)
  r.body = n > 0 and assert(c:receive(n)) or ""
  return r
end

-- All the responses in a text (what read_all returned).
function M.responses(text)
  local out, pos = {}, 1
  while pos <= #text do
    local head_end = text:find("\r\n\r\n", pos, true)
    if not head_end then
      break
    end
    local head = text:sub(pos, head_end - 1)
    local r = { headers = {} }
    r.status = tonumber(head:match("^HTTP/1%.[01] (%d%d%d)"))
    for k, v in head:gmatch("\r\n([^:\r\n]+):%s*([^\r\n]*)") do
      r.headers[k:lower()] = v
    end
    local n = tonumber(r.headers["content-length"] or 0)
    r.body = text:sub(head_end + 4, head_end + 3 + n)
    out[#out + 1] = r
    pos = head_end + 4 + n
  end
  return out
end

-- curl: returns status, body, and curl's exit code. args go to curl as
-- they are (a string of shell words).
function M.curl(port, path, args)
  local code, out = support.sh(("curl -s -S --max-time %d -o - -w '\\n%%{http_code}' %s 'http://127.0.0.1:%d%s'")
    :format(20 * M.SLOW, args or "", port, path))
  local body, status = out:match("^(.*)\n(%d+)$")
  return tonumber(status), body, code
end

return M
