-- lexrt-experiment --http: the workload's handler behind lexrt.http, one
-- server child per mode, loaded by wrk (make test installs it). The runs
-- here are tiny (one round of one second) and assert only what does not
-- depend on the machine's speed: every mode has a row, requests were
-- answered, nothing failed, and the servers are gone afterwards.
local support = require("spec.support")

local ROOT = "."
local BIN = support.experiment_bin(ROOT)

local function run(args)
  -- A hang detector, not a speed test: a few seconds of wrk per mode.
  -- The command itself (the checkout's script, or the wrapper luarocks
  -- installed), as a user runs it.
  return support.sh(("timeout -k 5 180 %s %s"):format(BIN, args))
end

-- The CSV's rows as tables, by column name. Only the last column (the
-- conclusion) may hold a comma.
local function csv_rows(text)
  local lines = support.lines(text)
  local header = {}
  for name in lines[1]:gmatch("[^,]+") do
    header[#header + 1] = name
  end
  local rows = {}
  for i = 2, #lines do
    local row, rest = {}, lines[i]
    for k = 1, #header - 1 do
      local field, after = rest:match("^([^,]*),(.*)$")
      row[header[k]], rest = field, after
    end
    row[header[#header]] = rest
    rows[#rows + 1] = row
  end
  return rows
end

-- How many lexrt.experiment.http_server children of a run with this seed
-- are running: the seed is in the child's command line, and one of its
-- own keeps other runs on the machine out of the count (the brackets keep
-- pgrep's own shell from matching).
local function servers_left(seed)
  local _, out = support.sh(("pgrep -f 'lexrt[.]experiment[.]http_server.*seed.[]]=%d,' | wc -l"):format(seed))
  return tonumber(out)
end

describe("lexrt-experiment --http", function()
  local has_isolates = require("lexrt.maybe_core").core and require("lexrt.maybe_core").core.new_isolate ~= nil
  local it_iso = has_isolates and it or pending

  it_iso("serves the workload in gc, gc-gen and isolate, and reports each from wrk's figures", function()
    local seed = 100000 + os.time() % 100000
    local code, out, err = run(("--http -w json -r 1 --duration 1 --warmup 0 -c 1 -n 20 -s %d -f csv"):format(seed))
    assert.are.equal(0, code, err)
    local rows = csv_rows(out)
    local modes = {}
    for _, row in ipairs(rows) do
      modes[#modes + 1] = row.mode
      assert.are.equal("1", row.concurrency)
      assert.is_true(tonumber(row.req_per_s) > 0, row.mode)
      assert.is_true(tonumber(row.requests_total) > 0, row.mode)
      assert.is_true(tonumber(row.p99_us) > 0, row.mode)
      assert.is_true(tonumber(row.cpu_us_per_req) > 0, row.mode)
      assert.are.equal("0", row.errors, row.mode)
      assert.are.equal("0", row.non_2xx, row.mode)
    end
    assert.are.same({ "gc", "gc-gen", "isolate" }, modes)
    assert.are.equal(0, servers_left(seed))
  end)

  it("writes a table and JSON with the baseline's ratios, and a static row on request", function()
    local code, out, err = run("--http -w json -m gc,static -r 1 --duration 1 --warmup 0 -c 2 -n 5")
    assert.are.equal(0, code, err)
    assert.matches("json over HTTP: 1 round of 1 s", out, 1, true)
    assert.matches("\ngc +2 ", out)
    assert.matches("\nstatic +2 ", out)
    assert.matches("(baseline)", out, 1, true)
    code, out, err = run("--http -w json -m gc,gc-gen -r 1 --duration 1 --warmup 0 -c 1 -n 5 -f json")
    assert.are.equal(0, code, err)
    local result = require("dkjson").decode(out).runs[1]
    assert.is_true(result.http)
    assert.are.equal("gc", result.baseline)
    assert.are.equal(2, #result.rows)
    assert.is_true(result.rows[2].throughput_ratio > 0)
  end)

  it("refuses what it cannot run, before starting anything", function()
    for _, case in ipairs({
      { "--http -m arena", "--http runs the modes gc, gc%-gen, isolate" },
      { "--http --svg x.svg", "%-%-svg: not with %-%-http" },
      { "--http -p 4k", "%-%-page%-sizes: not with %-%-http" },
      { "--http --duration 0", "%-%-duration must be a positive integer" },
      { "--http -c 0", "%-%-concurrency must be a positive integer" },
      { "--http -w nosuch", "unknown workload 'nosuch'" },
    }) do
      local code, _, err = run(case[1])
      assert.are.equal(2, code, case[1] .. ": " .. err)
      assert.matches(case[2], err, 1, false)
    end
  end)
end)

describe("lexrt.experiment.http_server", function()
  local server = require("lexrt.experiment.http_server")
  local has_isolates = require("lexrt.maybe_core").core and require("lexrt.maybe_core").core.new_isolate ~= nil
  local it_iso = has_isolates and it or pending

  it_iso("answers each path with the same body in fn and isolate mode", function()
    local o = { workload = "json", seed = 3, requests = 7 }
    o.mode = "gc"
    local fn = server.app(o).fn
    o.mode = "isolate"
    local app = server.app(o)
    for _, path in ipairs({ "/1", "/2", "/7", "/8", "/x", "/" }) do
      local req = { method = "GET", path = path, query = "", headers = {}, body = "" }
      local s1, h1, b1 = fn(req)
      local s2, h2, b2 = app.isolate:call(req)
      assert.are.equal(200, s1)
      assert.are.equal(200, s2)
      assert.are.same(h1, h2)
      assert.are.equal(b1, b2, path)
    end
    -- Path /8 wraps around to request 1.
    local req = { path = "/8" }
    assert.are.equal(select(3, fn({ path = "/1" })), select(3, fn(req)))
    app.isolate:close()
    app.handler:close()
  end)

  it("carries plain data as Lua source that reads back the same", function()
    local v = { 1, "a\r\n\0b", { x = 1.5, y = true }, n = -3 }
    local back = assert(load("return " .. table.concat(server.serialize(v))))()
    assert.are.same(v, back)
    assert.has_error(function()
      server.serialize({ print })
    end)
  end)
end)
