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

local UNITS = { [""] = 1, k = 1024, m = 1024 * 1024 }

-- "4096", "4k", "64KiB", "64kb", "1M", "1MiB": binary units throughout,
-- since page sizes are powers of two.
function M.parse_size(text)
  local digits, unit = text:match("^%s*(%d+)%s*([kKmM]?)[iI]?[bB]?%s*$")
  local n = digits and math.tointeger(tonumber(digits))
  if not n then
    return nil, ("'%s' is not a size (examples: 4096, 4k, 64KiB, 1M)"):format(text)
  end
  n = n * UNITS[unit:lower()]
  if n < 4096 or n > 16 * 1024 * 1024 or n & (n - 1) ~= 0 then
    return nil, ("page size '%s' must be a power of two from 4 KiB to 16 MiB"):format(text)
  end
  return n
end

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
  p:flag("--version", "Print the version (" .. PROG .. " <version>) and exit.")
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

-- Turns parsed arguments into a plan: a list of experiment options.
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
    runs[#runs + 1] = {
      workload = w,
      requests = requests or w.requests or M.DEFAULT_REQUESTS[w.name] or experiment.DEFAULT_REQUESTS,
      modes = modes,
      page_sizes = sizes,
      sweep = sizes ~= nil and #sizes > 1,
      page_size = sizes and sizes[1] or nil,
      seed = seed,
      warmup = warmup,
      gc = args.gc,
    }
  end
  return runs
end

local function stderr_is_terminal()
  return os.execute("[ -t 2 ]") == true
end

-- A progress bar on stderr, drawn only once the run has taken a second,
-- and only when stderr is a terminal; nil otherwise.
local function progress_bar(nruns)
  if not stderr_is_terminal() then
    return nil
  end
  local started, shown, last, run = os.clock(), false, -1, 0
  local bar = {}
  function bar.next_run()
    run, last = run + 1, -1
  end
  function bar.draw(done, total, label)
    if not shown and os.clock() - started < 1 then
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
  if args.version then
    io.stdout:write(PROG, " ", require("lexrt.core")._VERSION, "\n")
    return 0
  end
  local runs = M.plan(args)
  local bar = progress_bar(#runs)
  local results = {}
  local done, err = pcall(function()
    for k, o in ipairs(runs) do
      if bar then
        bar.next_run()
        o.progress = bar.draw
      end
      results[k] = o.sweep and experiment.sweep(o) or experiment.run(o)
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
