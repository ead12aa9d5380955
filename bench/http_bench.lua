--[[
make bench's HTTP table: the json workload's handler behind lexrt.http
(gc, gc-gen, isolate), lexrt.http answering a constant (its floor), and
nginx with its Lua module running the same handler (bench/http_nginx_json.lua)
and answering the same constant, all measured in one run by
lexrt.experiment.http: every row in every round, interleaved, wrk on one
CPU and the server on the other, medians over the rounds and ratios
paired by round.

Environment: LEXRT_HTTP_CONNS (wrk's connections, a comma list; 16),
LEXRT_HTTP_ROUNDS (5), LEXRT_HTTP_SECONDS (2 per row and round).
]]

local http = require("lexrt.experiment.http")
local proc = require("lexrt.experiment.http_proc")
local report = require("lexrt.experiment.http_report")
local server = require("lexrt.experiment.http_server")
local format = require("lexrt.experiment.format")
local workload = require("lexrt.experiment.workload")

local HERE = (arg and arg[0] or ""):match("^(.*)/[^/]*$") or "."
local MODULES = "/usr/lib/nginx/modules"

local function env_list(name, default)
  local out = {}
  for item in (os.getenv(name) or default):gmatch("[^,%s]+") do
    out[#out + 1] = math.tointeger(tonumber(item)) or error(name .. ": not an integer: " .. item, 0)
  end
  return out
end

local o = http.options({
  workload = "json", modes = { "gc", "gc-gen", "isolate", "static" },
  concurrency = env_list("LEXRT_HTTP_CONNS", "16"), rounds = env_list("LEXRT_HTTP_ROUNDS", "5")[1],
  duration = env_list("LEXRT_HTTP_SECONDS", "2")[1], warmup = 1,
})
o.baseline = "gc"

---------------------------------------------------------------- nginx

local LUA_LOCATION = [[
    location / {
      default_type application/json;
      content_by_lua_block {
        local b = package.loaded.lexrt_bench
        local i = tonumber(ngx.var.uri:match("^/(%d+)$")) or 1
        local body = b.handler(b.reqs[(i - 1) % b.n + 1])
        ngx.header["Content-Length"] = #body
        ngx.print(body)
      }
    }]]

local STATIC_LOCATION = ([[
    location / {
      default_type text/plain;
      return 200 %q;
    }]]):format(server.STATIC_BODY):gsub("\\\n", "\\n")

-- nginx.conf for one row: one process (no master), in the foreground, its
-- files in dir, keep-alive connections never closed by a request count
-- (lexrt.http has none), no access log (nor has lexrt.http's row).
local function nginx_conf(dir, name, port, lua)
  local temp = {}
  for _, what in ipairs({ "client_body", "proxy", "fastcgi", "uwsgi", "scgi" }) do
    temp[#temp + 1] = ("  %s_temp_path %s/%s_%s;"):format(what, dir, name, what)
  end
  return table.concat({
    lua and ("load_module %s/ndk_http_module.so;\nload_module %s/ngx_http_lua_module.so;"):format(MODULES, MODULES) or "",
    "worker_processes 1;", "daemon off;", "master_process off;",
    ("pid %s/%s.pid;"):format(dir, name), ("error_log %s/%s.log error;"):format(dir, name),
    "events { worker_connections 4096; }",
    "http {", "  access_log off;", "  keepalive_requests 100000000;", "  keepalive_timeout 300s;",
    table.concat(temp, "\n"),
    lua and ("  init_by_lua_block {\n    local reqs = dofile(%q)\n    package.loaded.lexrt_bench = { reqs = reqs,"
      .. " n = #reqs, handler = dofile(%q) }\n  }"):format(dir .. "/requests.lua", HERE .. "/http_nginx_json.lua") or "",
    ("  server {\n    listen 127.0.0.1:%d;"):format(port),
    lua and LUA_LOCATION or STATIC_LOCATION,
    "  }", "}", "",
  }, "\n")
end

local function nginx_target(label, lua)
  return {
    label = label, mode = label, group = lua and "handler" or "static",
    start = function(dir, name, run)
      if lua and not proc.read_file(dir .. "/requests.lua") then
        local w = workload.resolve(o.workload_spec)
        proc.write_file(dir .. "/requests.lua",
          "return " .. table.concat(server.serialize(workload.generate(w, o.requests, o.seed))) .. "\n")
      end
      local last
      for _ = 1, 3 do -- another process may take the port between the check and nginx's bind
        local port = proc.free_port()
        local conf = ("%s/%s.conf"):format(dir, name)
        proc.write_file(conf, nginx_conf(dir, name, port, lua))
        local launcher, _, err = proc.spawn(http.prefix(run) .. ("nginx -p %s -c %s -e %s"):format(proc.quote(dir),
          proc.quote(conf), proc.quote(("%s/%s.log"):format(dir, name))), dir, name)
        local ok, p, pid = pcall(http.await, function()
          local pid = tonumber(proc.read_file(("%s/%s.pid"):format(dir, name)) or "")
          return pid and proc.get(port, "/1", dir) == 200 and port, pid
        end, launcher, label, err)
        if ok then
          return p, pid, launcher
        end
        last = p .. " " .. (proc.read_file(("%s/%s.log"):format(dir, name)) or "")
      end
      error(last, 0)
    end,
  }
end

---------------------------------------------------------------- run

local targets = {}
for _, mode in ipairs(o.modes) do
  targets[#targets + 1] = http.lexrt_target(mode, o)
end
local nginx_why
if not proc.has("nginx") then
  nginx_why = "no nginx (sh scripts/deps.sh bench installs nginx-light)"
elseif not proc.read_file(MODULES .. "/ngx_http_lua_module.so") then
  nginx_why = "no " .. MODULES .. "/ngx_http_lua_module.so (libnginx-mod-http-lua)"
else
  targets[#targets + 1] = nginx_target("nginx-lua", true)
  targets[#targets + 1] = nginx_target("nginx-static", false)
end

local plan, raw = http.measure(targets, o)
local rows = http.summarise(plan, raw, o)

local by = {}
for _, row in ipairs(rows) do
  by[row.concurrency] = by[row.concurrency] or {}
  by[row.concurrency][row.mode] = row
end

local sig = format.figures

local function vs(row, other, key)
  if not other or other == row then
    return "-"
  end
  return format.times((http.paired(row, other, key)))
end

local LABEL = { gc = "lexrt gc", ["gc-gen"] = "lexrt gc-gen", isolate = "lexrt isolate", static = "lexrt static" }
local out = {}
out[#out + 1] = ("HTTP: the json workload's handler behind a server, wrk over loopback (%s), %d round%s of %d s per"
  .. " row, medians; ratios paired by round"):format(o.pin and ("server on CPU %d, wrk on CPU %d"):format(o.server_cpu,
  o.client_cpu) or "not pinned", o.rounds, o.rounds == 1 and "" or "s", o.duration)
for _, c in ipairs(o.concurrency) do
  local at = by[c]
  local cells = {}
  for _, row in ipairs(rows) do
    if row.concurrency == c then
      -- A floor is compared with the other floor only; a handler row with gc and nginx-lua.
      local floor = row.mode == "static" or row.mode == "nginx-static"
      local ng = floor and at["nginx-static"] or at["nginx-lua"]
      local base = not floor and at.gc or nil
      cells[#cells + 1] = {
        LABEL[row.mode] or row.mode, ("%.0f"):format(row.req_per_s), ("%.0f-%.0f"):format(row.req_per_s_lo,
          row.req_per_s_hi), vs(row, base, "req_per_s"), vs(row, ng, "req_per_s"), sig(row.p50_us), sig(row.p99_us),
        vs(row, base, "p99_us"), vs(row, ng, "p99_us"), sig(row.cpu_us_per_req), ("%.0f%%"):format(row.busy * 100),
        tostring(row.errors + row.non_2xx),
      }
    end
  end
  out[#out + 1] = ""
  out[#out + 1] = ("%d connection%s:"):format(c, c == 1 and "" or "s")
  out[#out + 1] = report.grid({ "row", "req/s", "interval", "vs gc", "vs nginx", "p50 µs", "p99 µs", "p99 vs gc",
    "p99 vs nginx", "CPU µs/req", "busy", "errors" }, cells, { [3] = true })
end

-- The issue's targets, read off the medians of the paired ratios.
local function target_line(text, m, lo, hi, ok)
  return ("  %s: %s [%s-%s]: %s"):format(text, format.times(m), format.ratio_text(lo), format.ratio_text(hi),
    ok and "met" or "missed")
end
local c = by[16] and 16 or o.concurrency[#o.concurrency]
local at = by[c]
out[#out + 1] = ""
out[#out + 1] = ("Targets (at %d connections):"):format(c)
if at.isolate and at.gc then
  local m, lo, hi = http.paired(at.isolate, at.gc, "req_per_s")
  out[#out + 1] = target_line("isolate req/s over gc's (target >= 1.25x)", m, lo, hi, m >= 1.25)
  m, lo, hi = http.paired(at.isolate, at.gc, "p99_us")
  out[#out + 1] = target_line("isolate p99 over gc's (target < 1)", m, lo, hi, m < 1)
  if at["nginx-lua"] then
    m, lo, hi = http.paired(at.isolate, at["nginx-lua"], "p99_us")
    out[#out + 1] = target_line("isolate p99 over nginx-lua's (target < 1)", m, lo, hi, m < 1)
  end
end
if at.static and at["nginx-static"] then
  local m, lo, hi = http.paired(at["nginx-static"], at.static, "req_per_s")
  out[#out + 1] = target_line("nginx static floor's req/s over lexrt's (target <= 1.3x)", m, lo, hi, m <= 1.3)
end
if nginx_why then
  out[#out + 1] = "  nginx rows left out: " .. nginx_why
end
out[#out + 1] = ""
out[#out + 1] = "busy: the server's CPU time over the row's time (100%: its core saturated). nginx runs one process"
  .. " (worker_processes 1, no master) with LuaJIT; lexrt rows run Lua 5.4. Same bodies checked before measuring."
io.stdout:write(table.concat(out, "\n"), "\n")
