--[[
lexrt-experiment --http: a workload's handler behind lexrt.http, one
server process per mode (lexrt.experiment.http_server), driven by wrk
over loopback, with the same rounds, medians, intervals and verdicts as
the in-process experiment (lexrt.experiment.stats).

Each variant is a target (a server) at one concurrency (wrk's
connections). All the servers start first, each is warmed up, then every
round runs each variant once for `duration` seconds, in the order
stats.schedule gives, so that drift falls on all alike; idle servers wait
in epoll and cost nothing. The server runs on one CPU (server_cpu) and
wrk on another (client_cpu) when the machine has two and taskset is
there. Per segment: req/s (wrk's requests over its duration), p50, p99,
p99.9 and max latency (wrk's histogram), and the server's CPU time per
request (/proc/<pid>/schedstat before and after).

Targets other than lexrt's (make bench's nginx rows) come in through
measure(): { label, mode, group, start(dir, name, o) -> port, pid [,
launcher] }. A
target's group names the handler it runs: bodies are compared between
the targets of a group before anything is measured.
]]

local format = require("lexrt.experiment.format")
local proc = require("lexrt.experiment.http_proc")
local server = require("lexrt.experiment.http_server")
local stats = require("lexrt.experiment.stats")
local workload = require("lexrt.experiment.workload")

local M = {}

M.MODES = { "gc", "gc-gen", "isolate" }
M.ALL_MODES = server.MODES
M.BASELINE = "gc"
M.DEFAULTS = {
  workload = "json", rounds = 5, duration = 2, warmup = 1, seed = 1, concurrency = { 1 },
  server_cpu = 0, client_cpu = 1, threads = 1,
}
-- Seconds a server has to start listening.
M.START_SECONDS = 30

local ABOUT = {
  gc = "the handler in the server's Lua state, incremental collector",
  ["gc-gen"] = "the same under the generational collector",
  isolate = "each request in a lexrt.isolate (a fresh image per request, no collector)",
  static = "a constant reply, no handler: lexrt.http's own cost",
}
M.ABOUT = ABOUT

---------------------------------------------------------------- targets

-- The lua5.4 command that runs lexrt's server child for `spec`, with this
-- process's module paths.
local function child_command(spec)
  local code = ("os.exit(require('lexrt.experiment.http_server').main(%s))"):format(
    table.concat(server.serialize(spec)))
  return ("env LUA_PATH=%s LUA_CPATH=%s lua5.4 -e %s"):format(proc.quote(package.path),
    proc.quote(package.cpath), proc.quote(code))
end

-- Polls until check() returns a value, the launcher has died or the time
-- is up (then an error naming `what`, with its stderr).
local function await(check, launcher, what, err_path)
  local deadline = os.time() + M.START_SECONDS
  while true do
    local a, b = check()
    if a then
      return a, b
    end
    if not proc.alive(launcher) or os.time() > deadline then
      proc.stop(launcher)
      local err = proc.read_file(err_path) or ""
      error(("%s did not start: %s"):format(what, err:gsub("%s+$", ""):match("[^\n]*$")), 0)
    end
    proc.sleep(0.02)
  end
end
M.await = await

-- The launch prefix: a time bound (servers never outlive a run that died)
-- and the server's CPU.
local function prefix(o)
  local pin = o.pin and ("taskset -c %d "):format(o.server_cpu) or ""
  return ("timeout -k 5 %d %s"):format(o.lifetime, pin)
end
M.prefix = prefix

-- lexrt's server for mode (gc, gc-gen, isolate, static) on workload w.
function M.lexrt_target(mode, o)
  local spec = { mode = mode, workload = o.workload_spec, seed = o.seed, requests = o.requests }
  return {
    label = mode, mode = mode, group = mode == "static" and "static" or "handler", about = ABOUT[mode],
    start = function(dir, name, run)
      local launcher, out, err = proc.spawn(prefix(run) .. child_command(spec), dir, name)
      local port, pid = await(function()
        local text = proc.read_file(out) or ""
        local port, pid = text:match("port (%d+) pid (%d+)")
        return tonumber(port), tonumber(pid)
      end, launcher, "the " .. mode .. " server", err)
      return port, pid, launcher
    end,
  }
end

---------------------------------------------------------------- options

local function fail(fmt, ...)
  error(fmt:format(...), 0)
end

local function whole(o, key, min)
  local v = o[key]
  if math.type(v) ~= "integer" or v < min then
    fail("%s must be an integer of at least %d, got %s", key, min, tostring(v))
  end
  return v
end

-- The checked options of run(): defaults filled in, modes and
-- concurrency as lists, the workload resolved.
function M.options(opts)
  local o = {}
  for k, v in pairs(M.DEFAULTS) do
    o[k] = v
  end
  for k, v in pairs(opts or {}) do
    o[k] = v
  end
  o.modes = type(o.modes) == "string" and require("lexrt.experiment.options").split(o.modes) or o.modes or M.MODES
  for _, m in ipairs(o.modes) do
    if not ABOUT[m] then
      fail("--http runs the modes %s (and static, a constant reply); not '%s'", table.concat(M.MODES, ", "),
        tostring(m))
    end
  end
  if #o.modes == 0 then
    fail("no mode to run")
  end
  if type(o.concurrency) == "number" then
    o.concurrency = { o.concurrency }
  end
  for _, c in ipairs(o.concurrency) do
    if math.type(c) ~= "integer" or c < 1 then
      fail("concurrency must be positive integers, got %s", tostring(c))
    end
  end
  whole(o, "rounds", 1)
  whole(o, "duration", 1)
  whole(o, "warmup", 0)
  whole(o, "threads", 1)
  o.workload_spec = type(o.workload) == "table" and (workload.file_of(o.workload) or o.workload.name) or o.workload
  local w = workload.resolve(o.workload_spec)
  o.workload_name = w.name
  o.requests = o.requests or w.requests or 200
  whole(o, "requests", 1)
  return o
end

---------------------------------------------------------------- measuring

local function segment(v, o)
  local t = v.target
  local cpu0 = proc.cpu_seconds(t.pid)
  local r = proc.wrk(t.port, { connections = v.concurrency, seconds = o.duration, threads = o.threads,
    script = o.script, cpu = o.pin and o.client_cpu or nil })
  local cpu1 = proc.cpu_seconds(t.pid)
  if not (cpu0 and cpu1) then
    fail("the %s server ended during its run", t.label)
  end
  local secs = r.duration_us / 1e6
  local n = math.max(r.requests, 1)
  return {
    requests = r.requests, req_per_s = r.requests / secs, p50_us = r.p50, p99_us = r.p99, p999_us = r.p999,
    max_us = r.max, cpu_us_per_req = (cpu1 - cpu0) / n * 1e6, busy = (cpu1 - cpu0) / secs,
    errors = r.connect + r.read + r.write + r.timeout, non_2xx = r.status,
  }
end

-- The bodies of the first few paths from every target of a group must be
-- the same: the targets run the same handler.
local function check_bodies(targets, dir)
  local first = {}
  for _, t in ipairs(targets) do
    for i = 1, 3 do
      local status, body = proc.get(t.port, "/" .. i, dir)
      if status ~= 200 then
        fail("the %s server answered /%d with %s", t.label, i, tostring(status))
      end
      if t.group then
        local key = t.group .. "/" .. i
        local ref = first[key]
        if not ref then
          first[key] = { label = t.label, body = body }
        elseif ref.body ~= body then
          fail("the %s and %s servers answer /%d differently (%d and %d bytes): not the same handler", ref.label,
            t.label, i, #ref.body, #body)
        end
      end
    end
  end
end

local function plan_of(targets, o)
  local plan = {}
  for _, c in ipairs(o.concurrency) do
    for _, t in ipairs(targets) do
      plan[#plan + 1] = { target = t, concurrency = c, label = #o.concurrency > 1 and ("%s x%d"):format(t.label, c)
        or t.label }
    end
  end
  return plan
end

--[[
Starts targets, measures every (target, concurrency) for o.rounds
rounds and stops them. o: checked options (M.options) and any target's
needs. Returns plan and raw: raw[k] = the segments of plan[k], one a
round, with the server's peak memory in raw[k].peak_rss_kib.
]]
function M.measure(targets, o)
  if not proc.has("wrk") then
    fail("--http needs wrk (Debian's package wrk; make bench installs it: sh scripts/deps.sh bench)")
  end
  o.pin = o.pin ~= false and proc.has("taskset") and proc.cpus() >= 2
  local plan = plan_of(targets, o)
  o.lifetime = 120 + #targets * (o.warmup + 10) + o.rounds * #plan * (o.duration + 5)
  local dir = proc.temp_dir()
  o.script = dir .. "/paths.lua"
  proc.write_file(o.script, proc.wrk_script(o.requests))
  local ok, raw, order = pcall(function()
    for k, t in ipairs(targets) do
      t.port, t.pid, t.launcher = t.start(dir, "server" .. k, o)
    end
    check_bodies(targets, dir)
    if o.warmup > 0 then
      for _, t in ipairs(targets) do
        proc.wrk(t.port, { connections = o.concurrency[#o.concurrency], seconds = o.warmup, threads = o.threads,
          script = o.script, cpu = o.pin and o.client_cpu or nil })
      end
    end
    local raw, order = {}, stats.schedule(#plan, o.rounds)
    for k = 1, #plan do
      raw[k] = {}
    end
    local done, total = 0, #plan * o.rounds
    for r, round in ipairs(order) do
      for _, k in ipairs(round) do
        raw[k][r] = segment(plan[k], o)
        done = done + 1
        if o.progress then
          o.progress(done, total, ("%s, round %d of %d"):format(plan[k].label, r, o.rounds))
        end
      end
    end
    for k, v in ipairs(plan) do
      raw[k].peak_rss_kib = proc.peak_rss_kib(v.target.pid)
    end
    return raw, order
  end)
  -- The server, then what launched it (timeout, which ends with it).
  for _, t in ipairs(targets) do
    proc.stop(t.pid)
    proc.stop(t.launcher)
  end
  proc.remove_dir(dir)
  if not ok then
    error(raw, 0)
  end
  return plan, raw, order
end

---------------------------------------------------------------- summary

local function column(segs, key)
  local out = {}
  for r, seg in ipairs(segs) do
    out[r] = seg[key]
  end
  return out
end

local function put(row, name, values)
  if #values > 0 then
    row[name], row[name .. "_lo"], row[name .. "_hi"] = stats.median_interval(values)
  end
end

-- Median and interval of a over b, round by round (both ran in the same
-- round): what the bench quotes between any two rows.
function M.paired(a, b, key)
  return stats.median_interval(stats.ratios(a[key .. "_rounds"], b[key .. "_rounds"]))
end

local KEYS = { "req_per_s", "p50_us", "p99_us", "p999_us", "max_us", "cpu_us_per_req", "busy" }

local function row_of(v, segs)
  local row = { label = v.label, mode = v.target.mode, concurrency = v.concurrency, about = v.target.about }
  for _, key in ipairs(KEYS) do
    row[key .. "_rounds"] = column(segs, key)
    put(row, key, row[key .. "_rounds"])
  end
  local errors, non_2xx, requests = 0, 0, 0
  for _, seg in ipairs(segs) do
    errors, non_2xx, requests = errors + seg.errors, non_2xx + seg.non_2xx, requests + seg.requests
  end
  row.errors, row.non_2xx, row.requests_total = errors, non_2xx, requests
  row.peak_rss_kib = segs.peak_rss_kib
  return row
end

local function conclusion(row, base, sure)
  local parts = {}
  local m, lo, hi = row.throughput_ratio, row.throughput_ratio_lo, row.throughput_ratio_hi
  parts[1] = ("%s %s the req/s of %s"):format(format.times(m), format.span(lo, hi), base.label)
  if not sure then
    parts[1] = parts[1] .. ", no verdict (too few rounds)"
  else
    local where = stats.compare(row.p99_ratio_lo, row.p99_ratio_hi)
    parts[2] = where == "below" and ("p99 %s lower"):format(format.times(1 / row.p99_ratio))
      or where == "above" and ("p99 %s higher"):format(format.times(row.p99_ratio)) or "p99 within the noise"
    where = stats.compare(row.cpu_ratio_lo, row.cpu_ratio_hi)
    parts[3] = where == "below" and ("%s less server CPU per request"):format(format.times(1 / row.cpu_ratio))
      or where == "above" and ("%s more server CPU per request"):format(format.times(row.cpu_ratio))
      or "as much server CPU per request"
  end
  return row.label .. ": " .. table.concat(parts, "; ") .. "."
end

-- Rows, with each row compared with o.baseline's at its concurrency.
function M.summarise(plan, raw, o)
  local rows, base_at = {}, {}
  for k, v in ipairs(plan) do
    rows[k] = row_of(v, raw[k])
    if rows[k].mode == o.baseline then
      base_at[v.concurrency] = rows[k]
    end
  end
  local _, coverage = stats.interval_ranks(o.rounds, stats.LEVEL)
  local sure = stats.verdict_allowed(coverage)
  local conclusions, notes = {}, {}
  for _, row in ipairs(rows) do
    local base = base_at[row.concurrency]
    if base and base ~= row then
      row.throughput_ratio, row.throughput_ratio_lo, row.throughput_ratio_hi = M.paired(row, base, "req_per_s")
      row.p99_ratio, row.p99_ratio_lo, row.p99_ratio_hi = M.paired(row, base, "p99_us")
      row.cpu_ratio, row.cpu_ratio_lo, row.cpu_ratio_hi = M.paired(row, base, "cpu_us_per_req")
      row.verdict = sure and stats.verdict(row.throughput_ratio_lo, row.throughput_ratio_hi) or nil
      row.conclusion = conclusion(row, base, sure)
      conclusions[#conclusions + 1] = row.conclusion
    end
    if row.errors + row.non_2xx > 0 then
      notes[#notes + 1] = ("%s: %d socket errors and %d responses other than 2xx/3xx over its rounds (of %d)")
        :format(row.label, row.errors, row.non_2xx, row.requests_total)
    end
  end
  return rows, conclusions, notes, coverage, sure
end

---------------------------------------------------------------- run

--[[
Runs a workload's handler behind lexrt.http in each mode. opts (all
optional): workload (a name or .lua path; "json"), modes (gc, gc-gen,
isolate, static; default the first three), concurrency (a list of wrk
connection counts; {1}), rounds (5), duration (whole seconds per segment;
2), warmup (seconds per server before the rounds; 1), seed, requests
(distinct requests wrk cycles through; the workload's count),
server_cpu (0), client_cpu (1), threads (wrk's; 1), progress(done,
total, label). Returns a result: rows (one per mode and concurrency),
conclusions, notes and the run's settings.
]]
function M.run(opts)
  local o = M.options(opts)
  o.baseline = o.baseline or M.BASELINE
  local targets = {}
  for k, mode in ipairs(o.modes) do
    targets[k] = M.lexrt_target(mode, o)
  end
  local plan, raw, order = M.measure(targets, o)
  local rows, conclusions, notes, coverage, sure = M.summarise(plan, raw, o)
  local order_labels = {}
  for r, round in ipairs(order) do
    order_labels[r] = {}
    for j, k in ipairs(round) do
      order_labels[r][j] = plan[k].label
    end
  end
  return {
    http = true, workload = o.workload_name, requests = o.requests, rounds = o.rounds, duration = o.duration,
    warmup = o.warmup, seed = o.seed, modes = o.modes, concurrency = o.concurrency, baseline = o.baseline,
    level = stats.LEVEL, coverage = coverage, verdicts = sure, pinned = o.pin,
    server_cpu = o.pin and o.server_cpu or nil, client_cpu = o.pin and o.client_cpu or nil,
    rows = rows, conclusions = conclusions, notes = notes, order = order_labels,
  }
end

return M
