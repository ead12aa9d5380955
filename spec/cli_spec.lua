-- bin/lexrt-experiment, run as a user runs it: a separate process.
local dkjson = require("dkjson")
local cli = require("lexrt.experiment.cli")
local report = require("lexrt.experiment.report")

local ROOT = os.getenv("PWD") or assert(io.popen("pwd")):read("l")
local support = require("spec.support")
local BIN = support.experiment_bin(ROOT)
local write_workload, lines = support.write_temp_lua, support.lines

-- A scratch file's text; the file goes.
local function slurp(path)
  return support.slurp(path, true)
end

-- Runs the command with `args` (already shell-quoted where needed) and
-- returns its exit code, stdout and stderr.
-- The memory checkers' runs preload sanitizer runtimes into the spec's
-- interpreter; the command under test loads the plain build, so it runs
-- without them.
local function run(args, prefix)
  local out, err = os.tmpname(), os.tmpname()
  local _, _, code = os.execute(("%senv -u LD_PRELOAD %s %s >%s 2>%s </dev/null"):format(
    prefix or "", BIN, args, out, err))
  return code, slurp(out), slurp(err)
end

-- A small XML well-formedness checker: balanced, properly nested tags,
-- quoted and unique attributes, entities that exist, one root element.
-- Returns the list of elements ({ name = ..., attrs = {...} }), or raises.
local ENTITY = { amp = true, lt = true, gt = true, quot = true, apos = true }

local function check_text(s, where)
  for ref in s:gmatch("&([^;]*);?") do
    if not (ENTITY[ref] or ref:match("^#%d+$") or ref:match("^#x%x+$")) then
      error(("bad entity '&%s' in %s"):format(ref, where))
    end
  end
  if s:find("<", 1, true) then
    error("bare '<' in " .. where)
  end
end

local function parse_xml(text)
  local elements, stack, roots = {}, {}, 0
  local pos = 1
  local decl = text:match("^<%?xml[^?]*%?>()")
  if decl then
    pos = decl
  end
  while true do
    local lt = text:find("<", pos, true)
    check_text(text:sub(pos, (lt or #text + 1) - 1), "text")
    if #stack == 0 and text:sub(pos, (lt or #text + 1) - 1):find("%S") then
      error("text outside the root element")
    end
    if not lt then
      break
    end
    if text:sub(lt, lt + 3) == "<!--" then
      pos = assert(text:find("-->", lt + 4, true), "unclosed comment") + 3
    else
      local gt = assert(text:find(">", lt, true), "unclosed tag")
      local tag = text:sub(lt + 1, gt - 1)
      pos = gt + 1
      local closing = tag:match("^/([%a_][%w_.:-]*)%s*$")
      if closing then
        local open = table.remove(stack)
        if open ~= closing then
          error(("</%s> closes <%s>"):format(closing, tostring(open)))
        end
      else
        local name, rest = tag:match("^([%a_][%w_.:-]*)(.*)$")
        assert(name, "bad tag <" .. tag .. ">")
        local empty = rest:sub(-1) == "/"
        if empty then
          rest = rest:sub(1, -2)
        end
        local attrs = {}
        local left = rest:gsub('%s+([%a_][%w_.:-]*)%s*=%s*"([^"]*)"', function(k, v)
          assert(attrs[k] == nil, "duplicate attribute " .. k)
          check_text(v, "attribute " .. k)
          attrs[k] = v
          return ""
        end)
        if left:find("%S") then
          error(("unparsed attributes in <%s>: %s"):format(name, left))
        end
        if #stack == 0 then
          roots = roots + 1
        end
        elements[#elements + 1] = { name = name, attrs = attrs }
        if not empty then
          stack[#stack + 1] = name
        end
      end
    end
  end
  assert(#stack == 0, "unclosed <" .. tostring(stack[#stack]) .. ">")
  assert(roots == 1, "expected one root element, got " .. roots)
  return elements
end

-- The modes this build has (isolate only where there are isolates).
local function experiment_modes()
  return require("lexrt.experiment").MODES
end

describe("lexrt-experiment", function()
  it("prints its help with --help and exits 0", function()
    local code, out, err = run("--help")
    assert.are.equal(0, code)
    assert.matches("^Usage: lexrt%-experiment", out)
    assert.matches("%-%-page%-sizes", out)
    assert.are.equal("", err)
  end)

  it("prints one comparison table per workload, with a ratio against gc and a verdict", function()
    local code, out, err = run("-w json,template -n 3 -r 2 --warmup 0")
    assert.are.equal(0, code)
    assert.are.equal("", err)
    assert.matches("json: 2 rounds of 3 requests per mode", out)
    assert.matches("template: 2 rounds of 3 requests per mode", out)
    assert.matches("vs gc", out)
    -- The figures depend on the machine's speed; report_spec checks them
    -- on made-up results.
    assert.matches("\ngc +%d+ +[%d-]+ +%- +%- +%(baseline%)\n", out)
    for _, mode in ipairs({ "gc%-gen", "arena", "arena%-nopool" }) do
      assert.matches("\n" .. mode .. " +%d+ +[%d-]+ +[%d.]+x +[%d.-]+ +[%a ]+\n", out)
      assert.matches("\n  " .. mode .. ": ", out)
    end
    assert.matches("Time spent in the collector is not measured", out)
  end)

  -- The fields of a CSV line, by column name (no field of these runs
  -- holds a comma, so none is quoted).
  local function csv_row(line)
    local fields, row = {}, {}
    for f in (line .. ","):gmatch("([^,]*),") do
      fields[#fields + 1] = f
    end
    for k, col in ipairs(report.COLUMNS) do
      row[col] = fields[k]
    end
    return row, #fields
  end

  it("prints CSV with a header and one row per mode", function()
    -- Five rounds: the fewest whose intervals cover 90%, enough for a verdict.
    local code, out = run("-w json -n 4 -r 5 --warmup 1 -m gc,gc-gen,arena -f csv")
    assert.are.equal(0, code)
    local rows = lines(out)
    assert.are.equal(table.concat(report.COLUMNS, ","), rows[1])
    assert.are.equal(4, #rows)
    local modes = {}
    for k = 2, 4 do
      local row, n = csv_row(rows[k])
      assert.are.equal(#report.COLUMNS, n)
      assert.are.equal("json", row.workload)
      modes[#modes + 1] = row.mode
      assert.are.equal("4", row.requests)
      assert.are.equal("5", row.rounds)
      assert.are.equal(5, select(2, row.req_per_s_rounds:gsub("[^;]+", "")))
      assert.is_true(tonumber(row.req_per_s) > 0)
    end
    assert.are.same({ "gc", "gc-gen", "arena" }, modes)
    assert.are.equal("", csv_row(rows[2]).verdict)
    assert.is_truthy(csv_row(rows[3]).verdict:match("^[%a ]+$"))
  end)

  it("prints JSON that dkjson decodes into one run per workload", function()
    local code, out = run("-w json,bulk -n 2 -r 2 --warmup 0 -m gc,arena -f json")
    assert.are.equal(0, code)
    local doc, _, err = dkjson.decode(out)
    assert.is_nil(err)
    assert.are.equal(2, #doc.runs)
    assert.are.equal("json", doc.runs[1].workload)
    assert.are.equal("bulk", doc.runs[2].workload)
    assert.are.equal("gc", doc.runs[2].rows[1].mode)
    assert.are.equal("arena", doc.runs[2].rows[2].mode)
    assert.are.equal(65536, doc.runs[2].rows[2].page_size)
    assert.is_true(doc.runs[2].rows[2].chunks_per_req >= 3) -- bulk buffers outgrow a page
    assert.are.equal(0, doc.runs[2].rows[2].handler_stats.pages_live)
    assert.are.equal(1, #doc.runs[2].conclusions)
    assert.are.equal(2, #doc.runs[2].order)
    -- dkjson keeps the last of two equal keys; count them in the text.
    local _, workload_keys = out:gsub('"workload":', "")
    assert.are.equal(2 + 4, workload_keys) -- each run and each row once
  end)

  -- The series of a plot: { ["mode/panel"] = count }.
  local function series_of(text)
    local elements = parse_xml(text)
    assert.are.equal("svg", elements[1].name)
    local series = {}
    for _, e in ipairs(elements) do
      if e.attrs.class == "series" then
        local key = e.attrs["data-mode"] .. "/" .. e.attrs["data-panel"]
        series[key] = (series[key] or 0) + 1
      end
    end
    return series
  end

  local ALL_MODES = { "gc", "gc-gen", "arena", "arena-nopool" }
  local PANELS = { "throughput", "latency", "alloc", "held" }

  it("writes a well-formed SVG with every mode in each panel of a run", function()
    local svg = os.tmpname()
    local code = run(("-w json,bulk -n 2 -r 2 --warmup 0 --svg %s"):format(svg))
    assert.are.equal(0, code)
    local text = slurp(svg)
    local series = series_of(text)
    for _, mode in ipairs(ALL_MODES) do
      for _, panel in ipairs(PANELS) do
        assert.are.equal(2, series[mode .. "/" .. panel], mode .. " " .. panel) -- one per workload
      end
    end
    assert.matches("µs per request %(log scale%)", text)
    assert.matches("KiB per request", text)
    assert.matches(">p99%.9<", text)
    assert.matches("req/s over gc's req/s in the same round", text)
  end)

  it("writes a well-formed SVG with one line per mode in each panel of a sweep", function()
    local svg = os.tmpname()
    local code, out = run(("-w json,bulk -n 2 -r 1 --warmup 0 -p 4k,64KiB,1M --svg %s"):format(svg))
    assert.are.equal(0, code)
    assert.matches("page sizes 4 KiB, 64 KiB, 1 MiB", out)
    local text = slurp(svg)
    local series = series_of(text)
    for _, mode in ipairs(ALL_MODES) do
      for _, panel in ipairs(PANELS) do
        assert.are.equal(2, series[mode .. "/" .. panel], mode .. " " .. panel)
      end
    end
    assert.matches(">1 MiB<", text)
    assert.matches("arena page size %(log scale%)", text)
  end)

  it("sweeps the number of requests in flight with a comma list", function()
    local code, out = run("-w json -n 4 -r 1 --warmup 0 -m gc,arena -c 1,4")
    assert.are.equal(0, code)
    assert.matches("1, 4 requests in flight", out)
    assert.matches("\narena x4 ", out)
    assert.matches("\n  arena x4: [^\n]* the throughput of gc x4", out)
  end)

  it("runs a workload file", function()
    local code, out = run("-w examples/workload_custom.lua -n 3 -r 1 -m gc,arena")
    assert.are.equal(0, code)
    assert.matches("csv%-export: 1 round of 3 requests", out)
  end)

  it("finds its modules when started from another directory", function()
    local code, out = run("-w json -n 2 -r 1 -m gc -f csv", "cd / && ")
    assert.are.equal(0, code)
    assert.are.equal(2, #lines(out))
  end)

  it("writes nothing to stderr when stderr is not a terminal", function()
    local code, _, err = run("-w template -n 3 -r 2")
    assert.are.equal(0, code)
    assert.are.equal("", err)
  end)

  -- The frame the bar draws at `pct` percent of the runs' requests.
  local function frame(pct, label, nth, nruns)
    local filled = pct * 30 // 100
    return ("\r\27[K[%s%s] %3d%%  %s  (workload %d of %d)"):format(
      ("#"):rep(filled), ("-"):rep(30 - filled), pct, label, nth, nruns)
  end

  it("draws the progress bar from the first request with --progress, terminal or not", function()
    -- One mode, two rounds and the census: three steps of two requests.
    local code, out, err = run("--progress -w bulk -n 2 -r 2 -m gc --warmup 0")
    assert.are.equal(0, code)
    assert.matches("bulk: 2 rounds of 2 requests", out)
    assert.are.equal(frame(33, "bulk gc, round 1 of 2", 1, 1) .. frame(66, "bulk gc, round 2 of 2", 1, 1)
      .. frame(100, "bulk gc, census", 1, 1) .. "\r\27[K", err)
  end)

  it("numbers the workloads in the progress bar", function()
    local code, _, err = run("--progress -w json,bulk -n 1 -r 1 -m arena --warmup 0")
    assert.are.equal(0, code)
    local warning = "lexrt-experiment: warning: no gc mode, the baseline every mode is compared with: no ratios and"
      .. " no verdicts (-m gc,arena)\n"
    assert.are.equal(warning, err:sub(1, #warning))
    err = err:sub(#warning + 1)
    assert.are.equal(frame(50, "json arena, round 1 of 1", 1, 2) .. frame(100, "json arena, census", 1, 2)
      .. frame(50, "bulk arena, round 1 of 1", 2, 2) .. frame(100, "bulk arena, census", 2, 2) .. "\r\27[K", err)
  end)

  local BAD = {
    { "--requests 0", "%-%-requests" },
    { "--requests many", "%-%-requests" },
    { "--modes gc,turbo", "unknown mode 'turbo'" },
    { "--page-sizes 3000", "power of two" },
    { "--page-sizes 64Q", "not a size" },
    { "--format xml", "%-%-format" },
    { "--workload nosuch", "unknown workload 'nosuch'" },
    { "--workload /nonexistent/w.lua", "cannot load workload" },
    { "--seed 1.5", "%-%-seed" },
    { "--frobnicate", "unknown option" },
    { "--repeat 0", "%-%-repeat must be a positive integer, got '0'" },
    { "-r -2", "%-%-repeat must be a positive integer, got '%-2'" },
    { "--concurrency 0", "%-%-concurrency must be a positive integer, got '0'" },
    { "-c 1,x", "%-%-concurrency must be a positive integer, got 'x'" },
    { "--gc generational", "unknown option '%-%-gc'" },
    { "-n -5", "%-%-requests must be a positive integer, got '%-5'" },
    { "--requests -5", "%-%-requests must be a positive integer, got '%-5'" },
    { "--warmup -1", "%-%-warmup must be a non%-negative integer, got '%-1'" },
    { "-p -4k", "'%-4k' is not a size" },
    { "--svg /nonexistent/x.svg", "%-%-svg: cannot write /nonexistent/x%.svg: No such file or directory" },
    { "--svg /", "%-%-svg: cannot write /: Is a directory" },
  }
  for _, case in ipairs(BAD) do
    it("rejects '" .. case[1] .. "' with a one-line message and exit status 2", function()
      local code, out, err = run(case[1])
      assert.are.equal(2, code)
      assert.are.equal("", out)
      assert.matches("^lexrt%-experiment: [^\n]*\n$", err)
      assert.matches(case[2], err)
      assert.is_nil(err:find("traceback", 1, true))
    end)
  end

  it("takes --rounds, the Lua API's name, for --repeat", function()
    local code, out = run("-w json -n 1 --rounds 2 -m gc -f csv")
    assert.are.equal(0, code)
    assert.matches("\njson,gc,gc,incremental,,1,1,2,0,1,", out)
  end)

  it("suggests the option a misspelt one was meant to be, in one line", function()
    for _, case in ipairs({ { "--repat 3", "--repeat" }, { "--round 3", "--rounds" }, { "--workloads json", "--workload" } }) do
      local code, out, err = run(case[1])
      assert.are.equal(2, code)
      assert.are.equal("", out)
      assert.are.equal(("lexrt-experiment: unknown option '%s'; did you mean '%s'?\n"):format(
        case[1]:match("^%S+"), case[2]), err)
    end
  end)

  it("warns when the modes leave out gc, the baseline, and runs them", function()
    local code, out, err = run("-w json -n 1 -r 1 -m arena,isolate")
    assert.are.equal(0, code)
    assert.are.equal("lexrt-experiment: warning: no gc mode, the baseline every mode is compared with: no ratios"
      .. " and no verdicts (-m gc,arena,isolate)\n", err)
    assert.matches("\nNo gc row: ", out)
    local gc_code, _, gc_err = run("-w json -n 1 -r 1 -m arena,gc")
    assert.are.equal(0, gc_code)
    assert.are.equal("", gc_err)
  end)

  it("says, under each title, how it calibrated the requests per round when -n is not given", function()
    local path = write_workload('return { name = "quick", requests = 2, handler = function(ctx) return ctx:str("x") end }')
    local code, out = run("-w " .. path .. " -r 1 -m gc")
    local fixed_code, fixed = run("-w " .. path .. " -n 2 -r 1 -m gc")
    os.remove(path)
    assert.are.equal(0, code)
    -- How many requests this machine needs varies; that it says so does not.
    assert.matches("^quick: 1 round of %d+ requests per mode[^\n]*\nrequests per round:? calibrated from 2 to %d+[^\n]*"
      .. "%-n fixes the count\n", out)
    assert.are.equal(0, fixed_code)
    assert.matches("^quick: 1 round of 2 requests per mode[^\n]*\nmode ", fixed)
  end)

  it("refuses, before running, a workload that uses os in isolate mode, saying how to leave isolate out", function()
    local path = write_workload('return { name = "clock", handler = function(ctx) return ctx:str(tostring(os.time())) end }')
    local code, out, err = run("-w " .. path .. " -n 2 -r 1")
    local other_code = run("-w " .. path .. " -n 2 -r 1 -m gc,arena")
    os.remove(path)
    assert.are.equal(1, code)
    assert.are.equal("", out)
    assert.matches("^lexrt%-experiment: workload clock cannot run in isolate mode %(it runs under gc%): [^\n]*"
      .. "leave isolate out: %-m gc,gc%-gen,arena,arena%-nopool [^\n]*\n$", err)
    assert.are.equal(0, other_code)
  end)

  it("lets a workload file require the modules beside it, in every mode", function()
    local dir = os.tmpname()
    os.remove(dir)
    assert(os.execute("mkdir " .. dir))
    local name = "neighbour_" .. dir:match("[^/]+$"):gsub("%W", "_")
    local f = assert(io.open(dir .. "/" .. name .. ".lua", "w"))
    f:write('return { greet = function(who) return "hello, " .. who end }\n')
    f:close()
    f = assert(io.open(dir .. "/workload.lua", "w"))
    f:write(('local n = require(%q)\nreturn { name = "sibling", handler = function(ctx, req)'
      .. ' return ctx:str(n.greet(tostring(req.index))) end }\n'):format(name))
    f:close()
    local code, out, err = run("-w " .. dir .. "/workload.lua -n 2 -r 1 -f csv", "cd / && ")
    os.execute("rm -rf " .. dir)
    assert.are.equal(0, code, err)
    for _, mode in ipairs(experiment_modes()) do
      assert.matches("\nsibling," .. mode:gsub("%-", "%%-") .. ",", out)
    end
  end)

  it("takes a negative seed given as a separate argument", function()
    local code, out = run("-s -3 -w json -n 1 -r 1 -m gc -f csv")
    assert.are.equal(0, code)
    assert.matches("\njson,gc,gc,incremental,,1,1,1,0,%-3,", out)
  end)

  it("checks that the --svg file can be written before it runs anything", function()
    local marker = os.tmpname()
    os.remove(marker)
    local path = write_workload(([[
      return { name = "marks", handler = function(ctx) return ctx:str("x") end,
        generate = function() io.open(%q, "w"):close() return {} end }
    ]]):format(marker))
    local code, out, err = run(("-w %s -n 1 -p 4k,8k --svg /nonexistent/x.svg"):format(path))
    os.remove(path)
    assert.are.equal(2, code)
    assert.are.equal("", out)
    assert.matches("^lexrt%-experiment: %-%-svg: cannot write [^\n]*\n$", err)
    assert.is_nil(io.open(marker, "r"), "the run started before the --svg check")
  end)

  it("leaves the --svg file as it was when the run fails", function()
    local path = write_workload('return { name = "broken", handler = function() error("no database") end }')
    local old, new = os.tmpname(), os.tmpname()
    os.remove(new)
    local f = assert(io.open(old, "w"))
    f:write("an older plot")
    f:close()
    for _, svg in ipairs({ old, new }) do
      local code = run(("-w %s -n 1 -p 4k,8k --svg %s"):format(path, svg))
      assert.are.equal(1, code)
    end
    os.remove(path)
    assert.are.equal("an older plot", slurp(old))
    assert.is_nil(io.open(new, "r"), "the --svg check left a file behind")
  end)

  it("names the workload and the request when a workload's generate fails", function()
    local path = write_workload([[
      return { name = "gen-broken", handler = function(ctx) return ctx:str("x") end,
        generate = function(_, i) if i == 2 then error("no rows") end return {} end }
    ]])
    local code, out, err = run("-w " .. path .. " -n 3 -r 1")
    os.remove(path)
    assert.are.equal(1, code)
    assert.are.equal("", out)
    assert.matches("^lexrt%-experiment: workload gen%-broken, generate, request 2: [^\n]*no rows\n$", err)
  end)

  it("names, in --help, a sample workload file that exists and runs", function()
    local _, help = run("--help")
    local sample = help:match("Copy the sample[^\n]*\n%s*(%S+)\n$")
    assert.is_string(sample, "no sample path at the end of --help")
    assert.is_truthy(io.open(sample, "r"), sample .. " does not exist")
    local code, out = run("-w " .. sample .. " -n 2 -r 1 -m gc")
    assert.are.equal(0, code)
    assert.matches("csv%-export: 1 round of 2 requests", out)
  end)

  local has_luarocks = os.execute("command -v luarocks >/dev/null 2>&1")
  local it_luarocks = has_luarocks and it or pending
  it_luarocks("names, in --help of a copy luarocks installed, a sample workload file that exists", function()
    local dir = os.tmpname()
    os.remove(dir)
    local sh = table.concat({
      "set -e",
      "mkdir -p %s/src",
      "cp -R csrc lua bin examples lex-runtime-*.rockspec %s/src",
      "cd %s/src",
      "luarocks --lua-version=5.4 make --deps-mode=none --tree %s/tree >/dev/null 2>&1",
      'eval "$(luarocks --lua-version=5.4 path --tree %s/tree)"',
      "cd /",
      "%s/tree/bin/lexrt-experiment --help",
    }, "\n"):gsub("%%s", dir)
    local p = assert(io.popen("env -u LD_PRELOAD sh -c '" .. sh .. "' 2>&1"))
    local help = p:read("a")
    local ok = p:close()
    local sample = help:match("Copy the sample[^\n]*\n%s*(%S+)\n$")
    local found = sample and io.open(sample, "r")
    if found then found:close() end
    os.execute("rm -rf " .. dir)
    assert.is_true(ok, help)
    assert.is_string(sample, "no sample path at the end of --help:\n" .. help)
    assert.are.equal(dir .. "/tree/", sample:sub(1, #dir + 6))
    assert.is_truthy(found, sample .. " was not installed")
  end)

  it("reports a workload that fails at run time in one line", function()
    local base = os.tmpname() -- tmpname creates the file; keep only the .lua one
    os.remove(base)
    local path = base .. ".lua"
    local f = assert(io.open(path, "w"))
    f:write('return { name = "broken", handler = function() error("no database") end }')
    f:close()
    local code, out, err = run("-w " .. path .. " -n 2 -r 1")
    os.remove(path)
    assert.are.equal(1, code)
    assert.are.equal("", out)
    assert.matches("^lexrt%-experiment: workload broken, mode gc, request 1: [^\n]*no database\n$", err)
  end)
end)

describe("lexrt-experiment page sizes", function()
  it("accepts 4096, 4k, 64KiB, 64kb and 1M forms", function()
    assert.are.equal(4096, cli.parse_size("4096"))
    assert.are.equal(4096, cli.parse_size("4k"))
    assert.are.equal(65536, cli.parse_size("64KiB"))
    assert.are.equal(65536, cli.parse_size("64kb"))
    assert.are.equal(1048576, cli.parse_size("1M"))
    assert.are.equal(1048576, cli.parse_size("1MiB"))
  end)

  it("refuses sizes that are no power of two or out of range", function()
    assert.is_nil(cli.parse_size("3000"))
    assert.is_nil(cli.parse_size("2k"))
    assert.is_nil(cli.parse_size("32M"))
    assert.is_nil(cli.parse_size("-4k"))
    assert.is_nil(cli.parse_size("k"))
  end)
end)

describe("lexrt-experiment's progress bar", function()
  it("is drawn on a terminal only once a run has taken PROGRESS_DELAY seconds", function()
    local d = cli.PROGRESS_DELAY
    assert.are.equal(1, d)
    local cases = {
      -- elapsed, stderr is a terminal, --progress, drawn
      { 0, true, false, false },
      { d - 0.001, true, false, false },
      { d, true, false, true },
      { 100, true, false, true },
      { 0, false, false, false },
      { 100, false, false, false },
      { 0, false, true, true },
      { 0, true, true, true },
    }
    for _, c in ipairs(cases) do
      assert.are.equal(c[4], cli.progress_due(c[1], c[2], c[3]),
        ("elapsed %s, terminal %s, forced %s"):format(c[1], c[2], c[3]))
    end
  end)
end)
