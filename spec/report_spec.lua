-- lexrt.experiment.report on made-up results, so that what the tables
-- say does not depend on how fast the machine ran the requests.
local report = require("lexrt.experiment.report")
local summary = require("lexrt.experiment.summary")

local function result(rows, extra)
  local r = {
    workload = "json", requests = 10, rounds = 20, warmup = 1, seed = 1, baseline = "gc",
    timer = "wall clock (test)", throughput_timer = "CPU time (test)", level = 0.95,
    coverage = 0.9586105346679688, modes = { "gc", "arena" }, page_sizes = { 65536 }, concurrency = { 1 },
    rows = rows, conclusions = {}, notes = {}, not_measured = summary.NOT_MEASURED, order = {},
  }
  for k, v in pairs(extra or {}) do
    r[k] = v
  end
  return r
end

local GC = {
  mode = "gc", label = "gc", concurrency = 1, req_per_s = 1000, req_per_s_lo = 990, req_per_s_hi = 1010,
  req_per_s_rounds = { 1000, 990, 1010 }, p50_us = 950, p99_us = 1500, p999_us = 2000, max_us = 2500,
  lua_kib_per_req = 38.3, arena_kib_per_req = 0, alloc_kib_per_req = 38.3, heap_peak_kib = 3000,
  arena_held_peak_kib = 0, peak_held_kib = 3000, gc_cycles = 20,
}

local ARENA = {
  mode = "arena", label = "arena", page_size = 65536, concurrency = 1, req_per_s = 1100, req_per_s_lo = 1080,
  req_per_s_hi = 1120, throughput_ratio = 1.1, throughput_ratio_lo = 1.08, throughput_ratio_hi = 1.12,
  verdict = "faster", p50_us = 900, p99_us = 1200, p999_us = 1800, max_us = 2400, lua_kib_per_req = 24,
  arena_kib_per_req = 6, alloc_kib_per_req = 30, heap_peak_kib = 2900, arena_held_peak_kib = 64,
  peak_held_kib = 2964, gc_cycles = 12, conclusion = "arena: 1.10x [1.08-1.12] the throughput of gc.",
}

local function row_line(text, mode, header)
  local seen = 0
  for line in text:gmatch("[^\n]+") do
    if line:match("^" .. mode:gsub("%-", "%%-") .. " ") then
      seen = seen + 1
      if seen == (header or 1) then
        return line
      end
    end
  end
end

describe("lexrt.experiment.report.table", function()
  it("gives each mode its req/s, interval, ratio to gc and verdict", function()
    local text = report.table({ result({ GC, ARENA }, { conclusions = { ARENA.conclusion } }) })
    assert.matches("^json: 20 rounds of 10 requests per mode %(%+1 warm%-up%), pages of 64 KiB, 1 request in flight\n",
      text)
    assert.are.equal("gc      1000  990-1010          -  -             (baseline)", row_line(text, "gc"))
    assert.are.equal("arena   1100  1080-1120     1.10x  1.08-1.12     faster", row_line(text, "arena"))
  end)

  it("shows latency percentiles and memory split into Lua heap and arena", function()
    local text = report.table({ result({ GC, ARENA }) })
    assert.matches("p50 µs +p99 µs +p99%.9 µs +max µs", text)
    assert.matches("^gc +950 +1500 +2000 +2500 +38%.3 +38%.3 %+ 0 +3000 +3000 %+ 0 +20$", row_line(text, "gc", 2))
    assert.matches("^arena +900 +1200 +1800 +2400 +30%.0 +24%.0 %+ 6%.00 +2964 +2900 %+ 64%.0 +12$",
      row_line(text, "arena", 2))
  end)

  it("prints the conclusions after the tables and the explanations after every workload", function()
    local text = report.table({ result({ GC, ARENA }, {
      conclusions = { ARENA.conclusion }, notes = { "A note on json." } }) })
    assert.matches("\n  arena: 1%.10x %[1%.08%-1%.12%] the throughput of gc%.\n", text)
    assert.matches("\nA note on json%.\nTime spent in the collector is not measured", text)
  end)

  it("names the timers and how sure the intervals are", function()
    local text = report.table({ result({ GC, ARENA }) })
    assert.matches("requests per second of CPU time", text)
    assert.matches("Latencies: wall clock %(test%)", text)
    assert.matches("intervals are 95%% %(exactly 95%.9%% with 20 rounds%)", text)
    text = report.table({ result({ GC, ARENA }, { rounds = 3, coverage = 0.75 }) })
    assert.matches("only 75%.0%% sure with 3 rounds %(6%sgive%s95%%%)", text)
  end)

  it("shows '-' for figures a run could not give", function()
    local text = report.table({ result({ { mode = "gc", label = "gc", concurrency = 1 },
      { mode = "arena", label = "arena", concurrency = 1, req_per_s = 2500 } }, { conclusions = {} }) })
    assert.matches("^gc +%- +%- ", row_line(text, "gc"))
    assert.matches("^arena +2500 +%- +%- +%- +%-$", row_line(text, "arena"))
  end)
end)

describe("lexrt.experiment.report.table with few rounds", function()
  local UNSURE = {}
  for k, v in pairs(ARENA) do
    UNSURE[k] = v
  end
  UNSURE.verdict = nil

  it("labels the intervals with their real coverage and prints no verdict, saying why", function()
    local text = report.table({ result({ GC, UNSURE }, { rounds = 3, coverage = 0.75 }) })
    assert.matches("\nmode +req/s +75%% interval +vs gc +75%% interval +verdict\n", text)
    assert.are.equal("arena   1100  1080-1120     1.10x  1.08-1.12     no verdict", row_line(text, "arena"))
    assert.matches("No verdict here: a 75%% interval from 3 rounds; a verdict needs at least 90%% %(5 rounds%)", text)
  end)

  it("keeps '95% interval' from 6 rounds on", function()
    local text = report.table({ result({ GC, ARENA }, { rounds = 6, coverage = 0.96875 }) })
    assert.matches("\nmode +req/s +95%% interval +vs gc +95%% interval +verdict\n", text)
    assert.is_nil(text:find("No verdict", 1, true))
  end)
end)

describe("lexrt.experiment.report.table of an isolate row", function()
  it("adds a column with the image size and the restore cost per request", function()
    local iso = {}
    for k, v in pairs(ARENA) do
      iso[k] = v
    end
    iso.mode, iso.label, iso.image_bytes, iso.restore_us_per_req = "isolate", "isolate", 1258291, 3.1
    local text = report.table({ result({ GC, ARENA, iso }) })
    assert.matches("\nmode +req/s +95%% interval +vs gc +95%% interval +verdict +isolate\n", text)
    assert.matches("^isolate +1100 +1080%-1120 +1%.10x +1%.08%-1%.12 +faster +image 1%.20 MiB, restore 3%.10 µs/req$",
      row_line(text, "isolate"))
    assert.matches("^arena +1100 +1080%-1120 +1%.10x +1%.08%-1%.12 +faster$", row_line(text, "arena"))
  end)
end)

describe("lexrt.experiment.report.table of a calibrated run", function()
  it("says, under the title, how many requests calibration chose and why", function()
    local cal = { from = 400, requests = 1600, seconds = 0.061, min_seconds = 0.05, max_requests = 65536,
      capped = false, tries = {} }
    local text = report.table({ result({ GC, ARENA }, { requests = 1600, calibration = cal }) })
    assert.matches("^json: 20 rounds of 1600 requests per mode[^\n]*\nrequests per round: calibrated from 400 to 1600"
      .. " requests, so that the fastest mode's round takes at least 50 ms of CPU time %(it took 61 ms%); %-n fixes"
      .. " the count\n", text)
    cal.capped, cal.seconds, cal.requests = true, 0.004, 65536
    text = report.table({ result({ GC, ARENA }, { requests = 65536, calibration = cal }) })
    assert.matches("\nrequests per round calibrated from 400 to 65536, the cap %(max_requests%): the fastest mode's"
      .. " round still took only 4%.0 ms of CPU time, under the 50 ms aimed at; %-n fixes the count\n", text)
  end)
end)

describe("lexrt.experiment.report.csv and json", function()
  it("writes every column, per-round lists joined with ';'", function()
    local text = report.csv({ result({ GC, ARENA }) })
    local lines = {}
    for line in text:gmatch("[^\n]+") do
      lines[#lines + 1] = line
    end
    assert.are.equal(table.concat(report.COLUMNS, ","), lines[1])
    assert.are.equal(3, #lines)
    assert.matches(",1000;990;1010,", lines[2])
    assert.matches(",arena: 1%.10x %[1%.08%-1%.12%] the throughput of gc%.$", lines[3])
  end)

  it("carries the conclusions, the notes and what is not measured in JSON", function()
    local doc = require("dkjson").decode(report.json({ result({ GC, ARENA }, {
      conclusions = { ARENA.conclusion }, notes = { "n" } }) }))
    local run = doc.runs[1]
    assert.are.same({ ARENA.conclusion }, run.conclusions)
    assert.are.same({ "n" }, run.notes)
    assert.are.equal(summary.NOT_MEASURED.collector_time, run.not_measured.collector_time)
    assert.are.equal("faster", run.rows[2].verdict)
    assert.are.same({ 1000, 990, 1010 }, run.rows[1].req_per_s_rounds)
  end)
end)
