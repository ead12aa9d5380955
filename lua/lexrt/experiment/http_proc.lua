--[[
Processes for lexrt-experiment --http: servers started as children, the
CPU time they use, and wrk, the load generator, with a script of ours
that cycles through the request paths and prints its figures on one
line. Everything goes through the shell (Lua has no fork); every wait is
bounded.
]]

local M = {}

function M.quote(s)
  return "'" .. tostring(s):gsub("'", "'\\''") .. "'"
end

local q = M.quote

local function read_file(path)
  local f = io.open(path, "r")
  if not f then
    return nil
  end
  local text = f:read("a")
  f:close()
  return text
end
M.read_file = read_file

function M.write_file(path, text)
  local f = assert(io.open(path, "w"))
  f:write(text)
  f:close()
end

-- The output of a command (stdout), and whether it exited 0.
function M.capture(cmd)
  local p = assert(io.popen(cmd .. " 2>&1"))
  local out = p:read("a")
  local ok = p:close()
  return out, ok == true
end

function M.sleep(seconds)
  os.execute(("sleep %.3f"):format(seconds))
end

function M.has(command)
  return os.execute(("command -v %s >/dev/null 2>&1"):format(command)) == true
end

-- A fresh directory for one run's files (scripts, configs, servers' output).
function M.temp_dir()
  local base = os.tmpname()
  os.remove(base)
  assert(os.execute("mkdir -m 700 " .. q(base)), "cannot create a temporary directory")
  return base
end

function M.remove_dir(dir)
  os.execute("rm -rf " .. q(dir))
end

function M.cpus()
  local out = M.capture("nproc")
  return tonumber(out:match("%d+")) or 1
end

-- Whether process pid is running (a zombie is not).
function M.alive(pid)
  local stat = read_file(("/proc/%d/stat"):format(pid))
  return stat ~= nil and not stat:match("^%d+ %b() Z")
end

-- Seconds of CPU time process pid has used so far: schedstat's run time
-- (nanoseconds) where the kernel has it, else stat's utime + stime in
-- clock ticks.
function M.cpu_seconds(pid)
  local sched = read_file(("/proc/%d/schedstat"):format(pid))
  local ns = sched and tonumber(sched:match("^(%d+)"))
  if ns then
    return ns / 1e9
  end
  local stat = read_file(("/proc/%d/stat"):format(pid))
  if not stat then
    return nil
  end
  local fields = {}
  for f in stat:gsub("^%d+ %b() ", ""):gmatch("%S+") do
    fields[#fields + 1] = f
  end
  -- utime and stime are fields 14 and 15; 12 and 13 here, after pid and comm.
  return (tonumber(fields[12]) + tonumber(fields[13])) / 100
end

-- The process's peak resident memory in KiB (VmHWM), or nil.
function M.peak_rss_kib(pid)
  local status = read_file(("/proc/%d/status"):format(pid))
  return status and tonumber(status:match("VmHWM:%s*(%d+)"))
end

-- Starts `cmd` in the background, its output in files under dir, and
-- returns the pid of the shell's child (the command's, as it is exec'ed)
-- and the paths of its stdout and stderr. SIGPIPE is ignored (exec keeps
-- that): wrk closes its connections when its time is up, and a server
-- writing a response then must get EPIPE, not die of the signal.
function M.spawn(cmd, dir, name)
  local out, err = dir .. "/" .. name .. ".out", dir .. "/" .. name .. ".err"
  local p = assert(io.popen(("(trap '' PIPE; exec %s) >%s 2>%s </dev/null & echo $!"):format(cmd, q(out), q(err))))
  local pid = tonumber(p:read("l"))
  p:close()
  return pid, out, err
end

-- Stops pid: SIGTERM, then SIGKILL if it is still there after `grace` s.
function M.stop(pid, grace)
  if not pid or not M.alive(pid) then
    return
  end
  os.execute(("kill -TERM %d 2>/dev/null"):format(pid))
  local deadline = os.time() + (grace or 5)
  while M.alive(pid) and os.time() <= deadline do
    M.sleep(0.02)
  end
  if M.alive(pid) then
    os.execute(("kill -KILL %d 2>/dev/null"):format(pid))
  end
end

-- The status line and body of GET http://127.0.0.1:port/path (curl).
function M.get(port, path, dir)
  local file = dir .. "/body"
  local out = M.capture(("curl -s -m 10 -o %s -w '%%{http_code}' %s"):format(q(file),
    q(("http://127.0.0.1:%d%s"):format(port, path))))
  local body = read_file(file) or ""
  os.remove(file)
  return tonumber(out:match("(%d+)%s*$")), body
end

-- A TCP port no socket is bound to now, for a server (nginx) that cannot
-- be given port 0: picked at random from 20000..59999 and checked in
-- /proc/net/tcp{,6}. Someone may still take it before the server does;
-- the caller retries on a failed start.
function M.free_port()
  local used = {}
  for _, f in ipairs({ "/proc/net/tcp", "/proc/net/tcp6" }) do
    for hex in (read_file(f) or ""):gmatch("\n%s*%d+: %x+:(%x+)") do
      used[tonumber(hex, 16)] = true
    end
  end
  math.randomseed(os.time() + os.clock() * 1e6)
  for _ = 1, 1000 do
    local port = math.random(20000, 59999)
    if not used[port] then
      return port
    end
  end
  error("no free TCP port found", 0)
end

---------------------------------------------------------------- wrk

-- wrk's script: init builds the requests for "/1" .. "/<paths>" once per
-- thread, request hands them out in turn, and done prints the run's
-- figures (latencies in µs, from wrk's own histogram) on one line.
function M.wrk_script(paths)
  return ([[
local N, reqs, k = %d, {}, 0
function init()
  for i = 1, N do
    reqs[i] = wrk.format("GET", "/" .. i)
  end
end
function request()
  k = k %% N + 1
  return reqs[k]
end
function done(s, latency)
  local e = s.errors
  io.write(string.format("LEXRT-WRK requests=%%d duration_us=%%d bytes=%%d connect=%%d read=%%d write=%%d status=%%d"
    .. " timeout=%%d p50=%%d p99=%%d p999=%%d max=%%d\n", s.requests, s.duration, s.bytes, e.connect, e.read,
    e.write, e.status, e.timeout, latency:percentile(50), latency:percentile(99), latency:percentile(99.9),
    latency.max))
end
]]):format(paths)
end

-- The figures of wrk's output (done's line), or nil and the output.
function M.parse_wrk(out)
  local line = out:match("LEXRT%-WRK ([^\n]*)")
  if not line then
    return nil, out
  end
  local r = {}
  for k, v in line:gmatch("([%w_]+)=(%d+)") do
    r[k] = tonumber(v)
  end
  return r
end

-- Runs wrk against port: o.connections, o.seconds (whole seconds: wrk
-- reads no fraction), o.threads, o.script, o.cpu (nil: not pinned).
function M.wrk(port, o)
  local pin = o.cpu and ("taskset -c %d "):format(o.cpu) or ""
  local cmd = ("%swrk -t %d -c %d -d %ds --timeout 10s -s %s %s"):format(pin, math.min(o.threads, o.connections),
    o.connections, o.seconds, q(o.script), q(("http://127.0.0.1:%d/"):format(port)))
  local out = M.capture(cmd)
  local r = M.parse_wrk(out)
  if not r then
    error(("wrk gave no figures (%s): %s"):format(cmd, (out:gsub("%s+$", ""))), 0)
  end
  return r
end

return M
