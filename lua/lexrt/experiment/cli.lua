--[[
The lexrt-experiment command. bin/lexrt-experiment only finds the modules
and calls main(arg); everything else lives here, in a module the specs
can load.

Exit status: 0 done, 1 the run failed, 2 bad options. Errors print one
line ("lexrt-experiment: ..."); set LEXRT_EXPERIMENT_DEBUG=1 for a
traceback instead.
]]

local argparse = require("argparse")
local experiment = require("lexrt.experiment")
local report = require("lexrt.experiment.report")

local M = {}

local PROG = "lexrt-experiment"

-- Chosen so that the default run (every workload, every mode) takes
-- 10-20 s on a 2-core machine; --requests overrides them all.
M.DEFAULT_REQUESTS = { json = 3000, template = 1000, bulk = 80 }

-- Usage errors are tables so main can tell them (exit 2) from failures.
local Usage = { __tostring = function(e)
  return e.usage
end }

local function usage_error(fmt, ...)
  error(setmetatable({ usage = fmt:format(...) }, Usage), 0)
end

-- The page-size parser the Lua API uses too, so both read "64k" alike.
M.parse_size = experiment.parse_size

local function split(text)
  local out = {}
  for item in text:gmatch("[^,]+") do
    item = item:match("^%s*(.-)%s*$")
    if item ~= "" then
      out[#out + 1] = item
    end
  end
  return out
end

local function positive(text, name, allow_zero)
  local n = math.tointeger(tonumber(text))
  if not n or n < (allow_zero and 0 or 1) then
    usage_error("%s: expected a %s integer, got '%s'", name, allow_zero and "non-negative" or "positive", text)
  end
  return n
end

local function parser()
  local p = argparse(PROG, "Measure request memory strategies: the same workloads run with Lua's collector (gc), "
    .. "in a lexrt handler's pooled request-scope arenas (arena), and in a fresh arena per request (arena-nopool).")
  p:help_max_width(80)
  p:epilog("Examples:\n"
    .. "  lexrt-experiment                                   every workload and mode, one table\n"
    .. "  lexrt-experiment -w json -n 5000 --format csv\n"
    .. "  lexrt-experiment -w bulk --page-sizes 4k,16k,64k,256k,1M --svg sweep.svg\n"
    .. "  lexrt-experiment -w examples/workload_custom.lua")
  p:option("-w --workload", "json, template, bulk, all, a comma list of these, or a workload file (.lua).", "all")
    :argname("<name|file>")
  p:option("-n --requests", "Requests per mode (default: per workload, json 3000, template 1000, bulk 80).")
    :argname("<n>")
  p:option("-m --modes", "Comma list of modes: gc, arena, arena-nopool.", "gc,arena,arena-nopool")
    :argname("<list>")
  p:option("-p --page-sizes", "Comma list of arena page sizes (4096, 4k, 64KiB, 1M). Two or more run a sweep.")
    :argname("<list>")
  p:option("-s --seed", "Seed for request generation.", "1"):argname("<n>")
  p:option("-f --format", "Output format."):choices({ "table", "csv", "json" }):default("table")
  p:option("--svg", "Also write a plot (time and memory per request against page size) to FILE; "
    .. "runs a sweep, over 4 KiB .. 1 MiB unless --page-sizes says otherwise."):argname("<file>")
  p:option("--warmup", "Unmeasured requests before each mode (default: a tenth of the requests, at most 50).")
    :argname("<n>")
  p:option("--gc", "Lua collector mode for every run."):choices({ "incremental", "generational" })
    :default("incremental")
  p:flag("--progress", "Draw the progress bar on stderr from the first request, even when stderr is not "
    .. "a terminal (by default it appears only on a terminal, once a run has taken a second).")
  return p
end

local function workloads_of(text)
  local list = {}
  for _, item in ipairs(split(text)) do
    if item == "all" then
      for _, name in ipairs(experiment.WORKLOADS) do
        list[#list + 1] = name
      end
    else
      list[#list + 1] = item
    end
  end
  if #list == 0 then
    usage_error("--workload: nothing to run")
  end
  local resolved = {}
  for k, item in ipairs(list) do
    local ok, w = pcall(experiment.workload, item)
    if not ok then
      usage_error("--workload: %s", tostring(w))
    end
    resolved[k] = w
  end
  return resolved
end

-- Turns parsed arguments into a plan: a list of runs, each
-- { sweep = boolean, options = the options for experiment.run or .sweep }.
function M.plan(args)
  local modes = split(args.modes)
  if #modes == 0 then
    usage_error("--modes: nothing to run")
  end
  for _, m in ipairs(modes) do
    if m ~= "gc" and m ~= "arena" and m ~= "arena-nopool" then
      usage_error("--modes: unknown mode '%s' (expected gc, arena, arena-nopool)", m)
    end
  end
  local sizes
  if args.page_sizes then
    sizes = {}
    for _, item in ipairs(split(args.page_sizes)) do
      local n, err = M.parse_size(item)
      if not n then
        usage_error("--page-sizes: %s", err)
      end
      sizes[#sizes + 1] = n
    end
    if #sizes == 0 then
      usage_error("--page-sizes: no size given")
    end
  end
  if args.svg and sizes and #sizes < 2 then
    usage_error("--svg plots against page size: give --page-sizes at least two sizes")
  end
  if args.svg and not sizes then
    sizes = experiment.SWEEP_PAGE_SIZES
  end
  local seed = math.tointeger(tonumber(args.seed))
  if not seed then
    usage_error("--seed: expected an integer, got '%s'", args.seed)
  end
  local requests = args.requests and positive(args.requests, "--requests")
  local warmup = args.warmup and positive(args.warmup, "--warmup", true)

  local runs = {}
  for _, w in ipairs(workloads_of(args.workload)) do
    local sweep = sizes ~= nil and #sizes > 1
    runs[#runs + 1] = {
      sweep = sweep,
      options = {
        workload = w,
        requests = requests or w.requests or M.DEFAULT_REQUESTS[w.name] or experiment.DEFAULT_REQUESTS,
        modes = modes,
        page_sizes = sweep and sizes or nil,
        page_size = (not sweep and sizes) and sizes[1] or nil,
        seed = seed,
        warmup = warmup,
        gc = args.gc,
      },
    }
  end
  return runs
end

local function stderr_is_terminal()
  return os.execute("[ -t 2 ]") == true
end

-- Seconds of CPU time a run takes before the bar appears on its own.
M.PROGRESS_DELAY = 1

-- Whether the bar is drawn now: always when --progress forces it;
-- otherwise only on a terminal, and only once the run has taken
-- PROGRESS_DELAY seconds, so that short runs print nothing extra.
-- Pure, so the threshold can be tested without racing the clock.
function M.progress_due(elapsed, is_terminal, forced)
  if forced then
    return true
  end
  return is_terminal and elapsed >= M.PROGRESS_DELAY
end

-- A progress bar on stderr, or nil when it can never be drawn.
local function progress_bar(nruns, forced)
  local terminal = stderr_is_terminal()
  if not (forced or terminal) then
    return nil
  end
  local started, shown, last, run = os.clock(), false, -1, 0
  local bar = {}
  function bar.next_run()
    run, last = run + 1, -1
  end
  function bar.draw(done, total, label)
    if not shown and not M.progress_due(os.clock() - started, terminal, forced) then
      return
    end
    local pct = done * 100 // total
    if pct == last then
      return
    end
    shown, last = true, pct
    local filled = pct * 30 // 100
    io.stderr:write(("\r\27[K[%s%s] %3d%%  %s  (workload %d of %d)"):format(
      ("#"):rep(filled), ("-"):rep(30 - filled), pct, label, run, nruns))
    io.stderr:flush()
  end
  function bar.clear()
    if shown then
      io.stderr:write("\r\27[K")
      io.stderr:flush()
    end
  end
  return bar
end

local function write_file(path, text)
  local f, err = io.open(path, "w")
  if not f then
    error(("cannot write %s"):format(err), 0)
  end
  f:write(text)
  f:close()
end

local function run(argv)
  local ok, args = parser():pparse(argv)
  if not ok then
    usage_error("%s", args)
  end
  local runs = M.plan(args)
  local bar = progress_bar(#runs, args.progress)
  local results = {}
  local done, err = pcall(function()
    for k, r in ipairs(runs) do
      if bar then
        bar.next_run()
        r.options.progress = bar.draw
      end
      results[k] = r.sweep and experiment.sweep(r.options) or experiment.run(r.options)
    end
  end)
  if bar then
    bar.clear()
  end
  if not done then
    error(err, 0)
  end

  local text
  if args.format == "csv" then
    text = report.csv(results)
  elseif args.format == "json" then
    text = report.json(results)
  else
    text = report.table(results)
  end
  io.stdout:write(text)
  if args.svg then
    write_file(args.svg, require("lexrt.experiment.svg").plot(results))
  end
  return 0
end

-- Runs the command; returns the exit status.
function M.main(argv)
  argv = argv or {}
  local plain = {}
  for i = 1, #argv do
    plain[i] = argv[i]
  end
  if os.getenv("LEXRT_EXPERIMENT_DEBUG") then
    return run(plain)
  end
  local ok, status = pcall(run, plain)
  if ok then
    return status
  end
  local usage = type(status) == "table" and status.usage
  local msg = usage or tostring(status)
  io.stderr:write(PROG, ": ", (msg:match("^[^\n]*")), "\n")
  return usage and 2 or 1
end

return M
