--[[
lexrt-experiment --http: the command line's options read for
lexrt.experiment.http, one run per workload, and the output written in
the format asked (lexrt.experiment.cli hands over here once it has
parsed the arguments).
]]

local http = require("lexrt.experiment.http")
local options = require("lexrt.experiment.options")
local report = require("lexrt.experiment.http_report")
local workload = require("lexrt.experiment.workload")

local M = {}

local function integer(usage_error, text, name, min)
  local n, err = options.integer_text(text, name, min)
  if not n then
    usage_error("%s", err)
  end
  return n
end

-- The options of each run (one per workload), from parsed arguments.
function M.plan(args, usage_error)
  if args.svg then
    usage_error("--svg: not with --http (its figures are the table's)")
  end
  if args.page_sizes then
    usage_error("--page-sizes: not with --http (its modes use no arena pages)")
  end
  local modes = args.modes and options.split(args.modes) or http.MODES
  if #modes == 0 then
    usage_error("--modes: nothing to run")
  end
  local concurrency = {}
  for _, item in ipairs(options.split(args.concurrency)) do
    concurrency[#concurrency + 1] = integer(usage_error, item, "--concurrency", 1)
  end
  if #concurrency == 0 then
    usage_error("--concurrency: nothing given")
  end
  local seed = options.integer_of(args.seed)
  if not seed then
    usage_error("--seed: expected an integer, got '%s'", args.seed)
  end
  local base = {
    modes = modes, concurrency = concurrency, seed = seed,
    rounds = args["repeat"] and integer(usage_error, args["repeat"], "--repeat", 1) or nil,
    duration = args.duration and integer(usage_error, args.duration, "--duration", 1) or nil,
    warmup = args.warmup and integer(usage_error, args.warmup, "--warmup", 0) or nil,
    requests = args.requests and integer(usage_error, args.requests, "--requests", 1) or nil,
  }
  local names = {}
  for _, item in ipairs(options.split(args.workload)) do
    if item == "all" then
      table.move(workload.NAMES, 1, #workload.NAMES, #names + 1, names)
    else
      names[#names + 1] = item
    end
  end
  if #names == 0 then
    usage_error("--workload: nothing to run")
  end
  local runs = {}
  for k, name in ipairs(names) do
    local plain = { workload = name }
    for key, v in pairs(base) do
      plain[key] = v
    end
    local ok, err = pcall(http.options, plain)
    if not ok then
      usage_error("%s", err)
    end
    runs[k] = plain
  end
  return runs
end

-- Runs the plan and writes the report; returns the exit status.
function M.run(args, usage_error)
  local runs = M.plan(args, usage_error)
  local results = {}
  for k, o in ipairs(runs) do
    if args.progress then
      o.progress = function(done, total, label)
        io.stderr:write(("\r\27[K%d/%d  %s (workload %d of %d)"):format(done, total, label, k, #runs))
        io.stderr:flush()
      end
    end
    results[k] = http.run(o)
    if args.progress then
      io.stderr:write("\r\27[K")
    end
  end
  local text = args.format == "csv" and report.csv(results) or args.format == "json" and report.json(results)
    or report.table(results)
  io.stdout:write(text)
  return 0
end

return M
