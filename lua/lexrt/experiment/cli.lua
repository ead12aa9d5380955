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
local modes = require("lexrt.experiment.modes")
local options = require("lexrt.experiment.options")
local report = require("lexrt.experiment.report")
local workload = require("lexrt.experiment.workload")

local M = {}

local PROG = "lexrt-experiment"

-- Usage errors are tables so main can tell them (exit 2) from failures.
local Usage = { __tostring = function(e)
  return e.usage
end }

local function usage_error(fmt, ...)
  error(setmetatable({ usage = fmt:format(...) }, Usage), 0)
end

-- The page-size parser the Lua API uses too, so both read "64k" alike.
M.parse_size = options.parse_size

local split = options.split

-- An integer option's text, checked as the Lua API checks its value.
local function integer(text, name, min)
  local n, err = options.integer_text(text, name, min)
  if not n then
    usage_error("%s", err)
  end
  return n
end

-- The options whose value may be a negative number, by every name.
local NUMERIC = {
  ["-n"] = "--requests", ["--requests"] = "--requests", ["--warmup"] = "--warmup",
  ["-s"] = "--seed", ["--seed"] = "--seed", ["-p"] = "--page-sizes", ["--page-sizes"] = "--page-sizes",
  ["-r"] = "--repeat", ["--repeat"] = "--repeat", ["--rounds"] = "--repeat",
  ["-c"] = "--concurrency", ["--concurrency"] = "--concurrency", ["--duration"] = "--duration",
}

-- argparse reads the "-5" of "-n -5" as an option of its own and says
-- "unknown option '-5'". Join such a value to its option ("--requests=-5"),
-- so that the option's own check says what is wrong with it.
local function join_negative_values(argv)
  local out, i = {}, 1
  while i <= #argv do
    local long, value = NUMERIC[argv[i]], argv[i + 1]
    if long and value and value:match("^%-[%d.]") then
      out[#out + 1] = long .. "=" .. value
      i = i + 2
    else
      out[#out + 1] = argv[i]
      i = i + 1
    end
  end
  return out
end

local function exists(path)
  local f = io.open(path, "r")
  if f then
    f:close()
  end
  return f ~= nil
end

-- The sample workload file, wherever this copy of the tool lives: installed
-- by luarocks beside this module (the rockspec installs it as the module
-- lexrt.experiment.example_workload), or in a checkout's examples/.
-- nil when neither is there.
function M.example_workload()
  local here = debug.getinfo(1, "S").source:match("^@(.*)$") or ""
  local dir = here:match("^(.*)/[^/]*$") or "."
  local candidates = { dir .. "/example_workload.lua" }
  local root = here:match("^(.-)lua/lexrt/experiment/cli%.lua$")
  if root then
    candidates[2] = (root .. "examples/workload_custom.lua"):gsub("/[^/]+/%.%./", "/")
  end
  for _, path in ipairs(candidates) do
    if exists(path) then
      return path
    end
  end
  return nil
end

local function requests_help()
  local parts = {}
  for _, name in ipairs(workload.NAMES) do
    parts[#parts + 1] = ("%s %d"):format(name, workload.resolve(name).requests)
  end
  return table.concat(parts, ", ")
end

-- lexrt.experiment.http, loaded only to read its defaults or to run.
local function http_defaults()
  return require("lexrt.experiment.http").DEFAULTS
end

local function http_modes()
  return require("lexrt.experiment.http").MODES
end

local function parser()
  local names = table.concat(modes.NAMES, ", ")
  local p = argparse(PROG, "Measure what request memory costs: the same workloads run under each mode ("
    .. names .. "), interleaved over several rounds, and each mode is compared with "
    .. modes.BASELINE .. " with a 95% interval and a verdict.")
  p:help_max_width(80)
  -- argparse wraps the epilog at 80 columns, between words: the sample's
  -- path stands alone on its line so that it is never split.
  local example = M.example_workload()
  p:epilog("Examples:\n"
    .. "  lexrt-experiment                       every workload and mode, one table each\n"
    .. "  lexrt-experiment -w json -r 20 --format csv\n"
    .. "  lexrt-experiment -w json -c 1,4,16     tail latency and memory as requests overlap\n"
    .. "  lexrt-experiment -w bulk -p 4k,64k,1M --svg sweep.svg\n"
    .. "  lexrt-experiment --http -w json -c 1,16,64   behind lexrt.http, loaded by wrk\n"
    .. "  lexrt-experiment -w my_workload.lua   a workload of your own\n"
    .. (example and ("\nA workload is a Lua file. Copy the sample, a CSV export, to start one:\n"
      .. "  " .. example) or ""))
  p:option("-w --workload", table.concat(workload.NAMES, ", ")
    .. ", all, a comma list of these, or a workload file (.lua).", "all")
    :argname("<name|file>")
  p:option("-n --requests", "Requests per mode in each round. Without it, the count starts from the "
    .. "workload's (" .. requests_help() .. "; a file's own, else " .. options.DEFAULT_REQUESTS
    .. ") and is doubled until a round of the fastest mode takes at least "
    .. ("%.0f"):format(options.MIN_ROUND_SECONDS * 1000) .. " ms of CPU time (at most "
    .. options.MAX_REQUESTS .. ")."):argname("<n>")
  p:option("-r --repeat --rounds", "Rounds: each mode runs once per round, in a different order each time; "
    .. "the intervals come from the spread between rounds (under 5, no verdict; default "
    .. options.DEFAULT_ROUNDS .. ", with --http " .. http_defaults().rounds .. ")."):argname("<n>")
  p:option("-m --modes", "Comma list of modes: " .. names .. " (default all; with --http "
    .. table.concat(http_modes(), ",") .. ", or static, a constant reply)."):argname("<list>")
  p:option("-p --page-sizes", "Comma list of arena page sizes (4096, 4k, 64KiB, 1M). Two or more run a sweep.")
    :argname("<list>")
  p:option("-c --concurrency", "Requests in flight, interleaved where a handler calls ctx:wait(); a comma "
    .. "list of two or more runs a sweep.", "1"):argname("<list>")
  p:option("-s --seed", "Seed for request generation.", "1"):argname("<n>")
  p:option("-f --format", "Output format."):choices({ "table", "csv", "json" }):default("table")
  p:option("--svg", "Also write a plot to FILE: throughput against gc, latency percentiles and memory per "
    .. "mode; or, for a sweep, the same figures against page size or concurrency."):argname("<file>")
  p:option("--warmup", "Unmeasured requests before each mode in each round (default: a tenth of the "
    .. "requests, at most 50).")
    :argname("<n>")
  p:flag("--http", "Serve the workload's handler behind lexrt.http, one server process per mode, and load it with"
    .. " wrk (which must be installed): req/s, p50/p99/p99.9 latency and server CPU per request at each -c"
    .. " (wrk's connections). -n is then the distinct requests wrk cycles through and --warmup seconds per server.")
  p:option("--duration", "With --http: whole seconds of wrk per mode, concurrency and round (default "
    .. http_defaults().duration .. ")."):argname("<s>")
  p:flag("--progress", "Draw the progress bar on stderr from the first request, even when stderr is not "
    .. "a terminal (by default it appears only on a terminal, once a run has taken a second).")
  p:flag("--version", "Print the version (" .. PROG .. " <version>) and exit.")
  return p
end

local function workloads_of(text)
  local list = {}
  for _, item in ipairs(split(text)) do
    if item == "all" then
      for _, name in ipairs(workload.NAMES) do
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
    local ok, w = pcall(workload.resolve, item)
    if not ok then
      usage_error("--workload: %s", tostring(w))
    end
    resolved[k] = w
  end
  return resolved
end

local function page_sizes_of(text)
  local sizes = {}
  for _, item in ipairs(split(text)) do
    local n, err = M.parse_size(item)
    if not n then
      usage_error("--page-sizes: %s", err)
    end
    sizes[#sizes + 1] = n
  end
  if #sizes == 0 then
    usage_error("--page-sizes: no size given")
  end
  return sizes
end

local function concurrency_of(text)
  local list = {}
  for _, item in ipairs(split(text)) do
    list[#list + 1] = integer(item, "--concurrency", 1)
  end
  if #list == 0 then
    usage_error("--concurrency: nothing given")
  end
  return list
end

-- Turns parsed arguments into a plan: a list of runs, each
-- { sweep = boolean, options = the options for experiment.run or .sweep }.
function M.plan(args)
  local names = split(args.modes or table.concat(modes.NAMES, ","))
  if #names == 0 then
    usage_error("--modes: nothing to run")
  end
  local _, err = options.check_modes(names)
  if err then
    usage_error("--modes: %s", err)
  end
  local sizes = args.page_sizes and page_sizes_of(args.page_sizes)
  local concurrency = concurrency_of(args.concurrency)
  local seed = options.integer_of(args.seed)
  if not seed then
    usage_error("--seed: expected an integer, got '%s'", args.seed)
  end
  local requests = args.requests and integer(args.requests, "--requests", 1)
  local rounds = integer(args["repeat"] or tostring(options.DEFAULT_ROUNDS), "--repeat", 1)
  local warmup = args.warmup and integer(args.warmup, "--warmup", 0)
  local sweep = (sizes ~= nil and #sizes > 1) or #concurrency > 1

  local runs = {}
  for _, w in ipairs(workloads_of(args.workload)) do
    runs[#runs + 1] = {
      sweep = sweep,
      options = {
        workload = w,
        requests = requests,
        rounds = rounds,
        modes = names,
        page_sizes = sweep and (sizes or { options.PAGE_SIZE }) or nil,
        page_size = (not sweep and sizes) and sizes[1] or nil,
        concurrency = sweep and concurrency or concurrency[1],
        seed = seed,
        warmup = warmup,
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

-- Whether `path` can be written, tried before a run that may take
-- minutes. The file is opened for appending, so an existing one is left
-- as it was, and one this check creates is removed again.
local function check_writable(path)
  local _, _, code = os.rename(path, path) -- a no-op that tells whether it exists
  local existed = code ~= 2 -- ENOENT
  local f, err = io.open(path, "a")
  if not f then
    return nil, err
  end
  f:close()
  if not existed then
    os.remove(path)
  end
  return true
end

-- argparse's own suggestion ("unknown option '--repat'\nDid you mean
-- '--repeat'?") comes on a second line; errors here are one line.
local function one_line(msg)
  return (msg:gsub("\n[Dd]id you mean", "; did you mean"):gsub("\n.*$", ""))
end

-- Said on stderr before a run whose modes leave out the baseline.
function M.warnings(runs)
  local out = {}
  local names = runs[1] and runs[1].options.modes or {}
  for _, m in ipairs(names) do
    if m == modes.BASELINE then
      return out
    end
  end
  out[1] = ("warning: no %s mode, the baseline every mode is compared with: no ratios and no verdicts"
    .. " (-m %s,%s)"):format(modes.BASELINE, modes.BASELINE, table.concat(names, ","))
  return out
end

local function run(argv)
  local ok, args = parser():pparse(join_negative_values(argv))
  if not ok then
    usage_error("%s", one_line(args))
  end
  if args.version then
    io.stdout:write(PROG, " ", require("lexrt.core")._VERSION, "\n")
    return 0
  end
  if args.http then
    return require("lexrt.experiment.http_cli").run(args, usage_error)
  end
  local runs = M.plan(args)
  if args.svg then
    local writable, err = check_writable(args.svg)
    if not writable then
      usage_error("--svg: cannot write %s", err)
    end
  end
  for _, line in ipairs(M.warnings(runs)) do
    io.stderr:write(PROG, ": ", line, "\n")
  end
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
