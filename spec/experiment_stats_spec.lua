-- The statistics and the verdicts of lexrt.experiment, on known data:
-- nothing here runs a request or reads a clock.
local stats = require("lexrt.experiment.stats")
local summary = require("lexrt.experiment.summary")
local measure = require("lexrt.experiment.measure")

local function shuffled(list, seed)
  local out = { table.unpack(list) }
  local x = seed
  for i = #out, 2, -1 do
    x = (x * 1103515245 + 12345) % 2147483648
    local j = x % i + 1
    out[i], out[j] = out[j], out[i]
  end
  return out
end

local function range(a, b)
  local out = {}
  for i = a, b do
    out[#out + 1] = i
  end
  return out
end

describe("lexrt.experiment.stats", function()
  it("takes the middle value as the median, or the mean of the middle two", function()
    assert.are.equal(3, stats.median({ 1, 2, 3, 4, 5 }))
    assert.are.equal(2.5, stats.median({ 1, 2, 3, 4 }))
    assert.is_nil(stats.median({}))
  end)

  it("reads nearest-rank percentiles from a sorted list", function()
    local ten = range(1, 10)
    assert.are.equal(5, stats.percentile(ten, 50))
    assert.are.equal(9, stats.percentile(ten, 90))
    assert.are.equal(10, stats.percentile(ten, 99))
    assert.are.equal(1, stats.percentile(ten, 1))
    local thousand = range(1, 1000)
    assert.are.equal(990, stats.percentile(thousand, 99))
    assert.are.equal(999, stats.percentile(thousand, 99.9))
    assert.are.equal(1000, stats.percentile(thousand, 100))
  end)

  it("sums the binomial(n, 1/2) distribution exactly for small n and without underflow for large n", function()
    assert.are.equal(1 / 1024, stats.binomial_cdf(10, 0))
    assert.is_true(math.abs(stats.binomial_cdf(10, 1) - 11 / 1024) < 1e-15)
    assert.is_true(math.abs(stats.binomial_cdf(10, 2) - 56 / 1024) < 1e-15)
    assert.are.equal(1, stats.binomial_cdf(10, 10))
    assert.are.equal(0, stats.binomial_cdf(10, -1))
    assert.is_true(math.abs(stats.binomial_cdf(2000, 999) + stats.binomial_cdf(2000, 1000) - 1) < 1e-9)
  end)

  it("bounds the median by the order statistics that give at least 95% coverage", function()
    -- n = 10: P(X <= 1) = 11/1024 <= 2.5% < P(X <= 2) = 56/1024.
    local k, coverage = stats.interval_ranks(10)
    assert.are.equal(2, k)
    assert.is_true(math.abs(coverage - (1 - 22 / 1024)) < 1e-12)
    -- n = 20: P(X <= 5) = 21700/2^20 <= 2.5% < P(X <= 6).
    k, coverage = stats.interval_ranks(20)
    assert.are.equal(6, k)
    assert.is_true(math.abs(coverage - (1 - 2 * 21700 / 1048576)) < 1e-12)
    assert.is_true(coverage >= 0.95)
  end)

  it("falls back to the whole range, and says how sure it is, with too few values for 95%", function()
    local k, coverage = stats.interval_ranks(5)
    assert.are.equal(1, k)
    assert.are.equal(1 - 2 / 32, coverage)
    k, coverage = stats.interval_ranks(1)
    assert.are.equal(1, k)
    assert.are.equal(0, coverage)
    -- Six values are the fewest that reach 95%.
    assert.is_true(select(2, stats.interval_ranks(6)) >= 0.95)
  end)

  it("gives the same median and interval in whatever order the values come", function()
    local values = { 1.10, 1.03, 0.97, 1.21, 1.08, 1.05, 1.12, 0.99, 1.07, 1.04 }
    local m, lo, hi, coverage = stats.median_interval(values)
    assert.are.equal((1.05 + 1.07) / 2, m)
    assert.are.equal(0.99, lo) -- the 2nd smallest
    assert.are.equal(1.12, hi) -- the 2nd largest
    assert.is_true(coverage > 0.97)
    for seed = 1, 5 do
      assert.are.same({ m, lo, hi, coverage }, { stats.median_interval(shuffled(values, seed)) })
    end
    assert.are.same({ 7, 7, 7, 1 - 2 / 128 }, { stats.median_interval({ 7, 7, 7, 7, 7, 7, 7 }) })
  end)

  it("pairs ratios round by round, skipping rounds without a figure", function()
    assert.are.same({ 2, 0.5 }, stats.ratios({ 4, 1 }, { 2, 2 }))
    assert.are.same({ 3 }, stats.ratios({ 3, 5 }, { 1, 0 }))
  end)

  it("says faster or slower only when the whole interval is on one side of 1", function()
    assert.are.equal("faster", stats.verdict(1.02, 1.10))
    assert.are.equal("slower", stats.verdict(0.80, 0.95))
    assert.are.equal("no difference within the noise", stats.verdict(0.98, 1.05))
    assert.are.equal("no difference within the noise", stats.verdict(1.0, 1.3))
    assert.are.equal("no difference within the noise", stats.verdict(0.7, 1.0))
    assert.is_nil(stats.verdict(nil, nil))
    assert.are.equal("above", stats.compare(1.001, 1.002))
    assert.are.equal("below", stats.compare(0.5, 0.999))
    assert.are.equal("within", stats.compare(1, 1))
  end)

  describe("schedule", function()
    -- Counts each variant's positions and each ordered pair of neighbours.
    local function balance(rows, m)
      local at, after = {}, {}
      for v = 1, m do
        at[v] = {}
        for p = 1, m do
          at[v][p] = 0
        end
      end
      for _, row in ipairs(rows) do
        assert.are.same(range(1, m), stats.sorted(row), "a round runs every variant once")
        for p, v in ipairs(row) do
          at[v][p] = at[v][p] + 1
          if p > 1 then
            local key = row[p - 1] .. ">" .. v
            after[key] = (after[key] or 0) + 1
          end
        end
      end
      return at, after
    end

    it("orders four variants as a Williams square", function()
      assert.are.same({ { 1, 2, 4, 3 }, { 2, 3, 1, 4 }, { 3, 4, 2, 1 }, { 4, 1, 3, 2 } }, stats.schedule(4, 4))
    end)

    for _, m in ipairs({ 2, 4, 6 }) do
      it(("runs each of %d variants in every position once, and after every other once, in %d rounds"):format(m, m),
        function()
          local at, after = balance(stats.schedule(m, m), m)
          for v = 1, m do
            for p = 1, m do
              assert.are.equal(1, at[v][p], ("variant %d at position %d"):format(v, p))
            end
          end
          for a = 1, m do
            for b = 1, m do
              if a ~= b then
                assert.are.equal(1, after[a .. ">" .. b], a .. " then " .. b)
              end
            end
          end
        end)
    end

    it("adds the mirrored rows for an odd number of variants, so neighbours balance over 2m rounds", function()
      local rows = stats.schedule(3, 6)
      assert.are.same({ { 1, 2, 3 }, { 2, 3, 1 }, { 3, 1, 2 }, { 3, 2, 1 }, { 1, 3, 2 }, { 2, 1, 3 } }, rows)
      local at, after = balance(rows, 3)
      for v = 1, 3 do
        assert.are.same({ 2, 2, 2 }, at[v])
      end
      for _, key in ipairs({ "1>2", "1>3", "2>1", "2>3", "3>1", "3>2" }) do
        assert.are.equal(2, after[key], key)
      end
    end)

    it("starts the design again when there are more rounds than rows", function()
      local rows = stats.schedule(2, 5)
      assert.are.same({ { 1, 2 }, { 2, 1 }, { 1, 2 }, { 2, 1 }, { 1, 2 } }, rows)
      assert.are.same({ { 1 }, { 1 } }, stats.schedule(1, 2))
    end)
  end)
end)

-- Made-up rounds for summary.build: `ratio` scales throughput, `p99`
-- the per-round p99 and `cycles` the collector cycles against the
-- baseline's figures.
local function raw_variant(spec, rounds)
  local segs = {}
  for r = 1, rounds do
    local wobble = 1 + ((r * 37) % 11 - 5) / 1000 -- the same in every variant: paired
    local jitter = spec.jitter and spec.jitter[r] or 1
    segs[r] = {
      req_per_s = 1000 * wobble * spec.ratio * jitter,
      req_per_wall_s = 900 * wobble * spec.ratio * jitter,
      p99_us = 500 * wobble * spec.p99,
      heap_peak_kib = spec.heap,
      gc_cycles = math.floor(20 * spec.cycles + 0.5),
      latencies = measure.pack({ 100e-6, 200e-6, 300e-6, 500e-6 * spec.p99 }, 4),
    }
  end
  return {
    rounds = segs,
    census = {
      lua_kib = spec.lua * 10, arena_bytes = (spec.arena or 0) * 1024 * 10, stored_bytes = 6000 * 10,
      response_bytes = 100, held_peak_bytes = (spec.held or 0) * 1024, wasted_bytes = 0, pages = 10,
      chunks = 0, capacity_bytes = 655360,
    },
  }
end

local function build(specs, rounds)
  local plan, raw = {}, {}
  for k, spec in ipairs(specs) do
    plan[k] = {
      mode = spec.mode, label = spec.mode, collector = spec.collector or "incremental",
      pages = spec.arena ~= nil, page_size = 65536, concurrency = 1,
    }
    raw[k] = raw_variant(spec, rounds)
  end
  local order = stats.schedule(#plan, rounds)
  local rows, conclusions, notes = summary.build(plan, raw, order,
    { requests = 10, rounds = rounds, warmup = 0, baseline = "gc" })
  local by = {}
  for _, row in ipairs(rows) do
    by[row.mode] = row
  end
  return by, conclusions, notes
end

local GC = { mode = "gc", ratio = 1, p99 = 1, cycles = 1, heap = 1000, lua = 40 }

describe("lexrt.experiment.summary", function()
  it("calls a mode faster, with its interval, when every round agrees", function()
    local by, conclusions = build({ GC,
      { mode = "arena", ratio = 1.10, p99 = 0.5, cycles = 0.6, heap = 1000, lua = 24, arena = 6, held = 64 } }, 10)
    local row = by.arena
    assert.are.equal("faster", row.verdict)
    assert.is_true(math.abs(row.throughput_ratio - 1.10) < 1e-9)
    assert.is_true(math.abs(row.throughput_ratio_lo - 1.10) < 1e-9)
    assert.is_true(math.abs(row.p99_ratio - 0.5) < 1e-9)
    assert.are.equal(30, row.alloc_kib_per_req)
    assert.are.equal(1064, row.peak_held_kib)
    assert.are.equal(
      "arena: 1.10x [1.10-1.10] the throughput of gc; p99 2.00x lower [2.00-2.00]; 40% fewer collector cycles;"
        .. " allocates 25% less per request; peak memory held 1.06x [1.06-1.06] gc's.", conclusions[1])
    assert.is_nil(by.gc.verdict)
    assert.is_nil(by.gc.conclusion)
  end)

  it("says 'no difference within the noise' when the rounds' ratios straddle 1", function()
    local jitter = { 1.2, 0.8, 1.15, 0.85, 1.1, 0.9, 1.05, 0.95, 1.0, 1.0 }
    local by, conclusions = build({ GC,
      { mode = "gc-gen", collector = "generational", ratio = 1.02, jitter = jitter, p99 = 1, cycles = 1, heap = 1000,
        lua = 40 } }, 10)
    assert.are.equal("no difference within the noise", by["gc-gen"].verdict)
    assert.is_true(by["gc-gen"].throughput_ratio_lo < 1 and by["gc-gen"].throughput_ratio_hi > 1)
    assert.matches("^gc%-gen: throughput no different from gc's within the noise %(1%.0%dx %[0%.%d%d%-1%.%d%d%]%);"
      .. " p99 within the noise; as many collector cycles; allocates as much per request;"
      .. " peak memory held no different from gc's%.$", conclusions[1])
  end)

  it("calls a mode slower when the whole interval is below 1", function()
    local by = build({ GC, { mode = "arena-nopool", ratio = 0.9, p99 = 1.5, cycles = 1, heap = 1000, lua = 40,
      arena = 1, held = 64 } }, 10)
    assert.are.equal("slower", by["arena-nopool"].verdict)
    assert.matches("p99 1%.50x higher", by["arena-nopool"].conclusion)
  end)

  it("explains more collector cycles with less Lua garbage, and a higher peak from pooled pages", function()
    local _, _, notes = build({ GC,
      { mode = "arena", ratio = 1.2, p99 = 1, cycles = 1.3, heap = 900, lua = 20, arena = 20, held = 4000 } }, 10)
    assert.are.equal(2, #notes)
    assert.matches("^arena runs more collector cycles than gc while allocating less on the Lua heap", notes[1])
    assert.matches("pause", notes[1])
    assert.matches("^arena holds more memory at its peak than gc: arena memory comes in whole pages %(64 KiB", notes[2])
  end)

  it("adds no explanation that the figures do not call for", function()
    local _, _, notes = build({ GC,
      { mode = "arena", ratio = 1.2, p99 = 1, cycles = 0.5, heap = 900, lua = 20, arena = 20, held = 10 } }, 10)
    assert.are.same({}, notes)
  end)

  it("shows a third decimal where two would round a bound off 1 to 1.00", function()
    assert.are.equal("1.004", summary.ratio_text(1.004))
    assert.are.equal("0.996", summary.ratio_text(0.9961))
    assert.are.equal("1.00", summary.ratio_text(1))
    assert.are.equal("1.07", summary.ratio_text(1.0712))
    local by = build({ GC, { mode = "arena", ratio = 1.004, p99 = 1, cycles = 1, heap = 1000, lua = 40 } }, 10)
    assert.are.equal("faster", by.arena.verdict)
    assert.matches("^arena: 1%.004x %[1%.004%-1%.004%] the throughput of gc;", by.arena.conclusion)
  end)

  it("pools every round's latencies for the percentiles", function()
    local by = build({ GC }, 3)
    -- 100, 200, 300 and 500 µs, three times over.
    assert.is_true(math.abs(by.gc.p50_us - 200) < 1e-6)
    assert.is_true(math.abs(by.gc.p99_us - 500) < 1e-6)
    assert.is_true(math.abs(by.gc.max_us - 500) < 1e-6)
    assert.is_true(math.abs(by.gc.mean_us - 275) < 1e-6)
  end)
end)

-- Calibration is a pure function of a timer: here a fake one, so that
-- nothing depends on how fast this machine runs requests.
describe("lexrt.experiment.runner.calibrate", function()
  local runner = require("lexrt.experiment.runner")

  -- A fake timer: `per` seconds a request; records the counts asked for.
  local function fake(per)
    local asked = {}
    return function(n)
      asked[#asked + 1] = n
      return n * per
    end, asked
  end

  it("doubles the request count until one round takes the minimum CPU time", function()
    local time_of, asked = fake(1e-4)
    local c = runner.calibrate(10, 0.05, 65536, time_of)
    assert.are.same({ 10, 20, 40, 80, 160, 320, 640 }, asked)
    assert.are.equal(640, c.requests)
    assert.are.equal(10, c.from)
    assert.is_false(c.capped)
    assert.is_true(math.abs(c.seconds - 0.064) < 1e-12)
    assert.are.equal(7, #c.tries)
    assert.are.same({ requests = 10, seconds = 1e-3 }, c.tries[1])
  end)

  it("keeps the starting count when a round already takes long enough", function()
    local time_of, asked = fake(1e-3)
    local c = runner.calibrate(400, 0.05, 65536, time_of)
    assert.are.same({ 400 }, asked)
    assert.are.equal(400, c.requests)
    assert.is_false(c.capped)
  end)

  it("stops at the cap, and says the rounds are still too short", function()
    local time_of, asked = fake(1e-6)
    local c = runner.calibrate(200, 0.05, 1000, time_of)
    assert.are.same({ 200, 400, 800, 1000 }, asked)
    assert.are.equal(1000, c.requests)
    assert.is_true(c.capped)
  end)

  it("goes on doubling while the timer reads 0 (a clock too coarse for a few requests)", function()
    local c = runner.calibrate(1, 0.05, 64, function()
      return 0
    end)
    assert.are.equal(64, c.requests)
    assert.are.equal(7, #c.tries)
    assert.is_true(c.capped)
  end)
end)

describe("lexrt.experiment.stats with few rounds", function()
  it("labels an interval 95% when it reaches 95%, else with its real coverage, rounded down", function()
    assert.are.equal("95%", stats.coverage_label(select(2, stats.interval_ranks(30))))
    assert.are.equal("95%", stats.coverage_label(0.95))
    assert.are.equal("75%", stats.coverage_label(select(2, stats.interval_ranks(3))))
    assert.are.equal("93.7%", stats.coverage_label(select(2, stats.interval_ranks(5))))
    assert.are.equal("87.5%", stats.coverage_label(select(2, stats.interval_ranks(4))))
    assert.are.equal("0%", stats.coverage_label(select(2, stats.interval_ranks(1))))
  end)

  it("allows a verdict from 90% coverage on: 5 rounds or more", function()
    assert.are.equal(0.90, stats.MIN_VERDICT_COVERAGE)
    for n = 1, 4 do
      assert.is_false(stats.verdict_allowed(select(2, stats.interval_ranks(n))), n .. " rounds")
    end
    for n = 5, 12 do
      assert.is_true(stats.verdict_allowed(select(2, stats.interval_ranks(n))), n .. " rounds")
    end
    assert.are.equal(5, stats.values_for(0.90))
    assert.are.equal(6, stats.values_for(0.95))
  end)

  it("gives no verdict below 90%, says why, and claims nothing from the intervals", function()
    local arena = { mode = "arena", ratio = 1.10, p99 = 0.5, cycles = 0.6, heap = 1000, lua = 24, arena = 6,
      held = 64 }
    local by, conclusions, notes = build({ GC, arena }, 3)
    assert.is_nil(by.arena.verdict)
    assert.is_true(math.abs(by.arena.throughput_ratio - 1.10) < 1e-9)
    assert.are.equal("arena: 1.10x [1.10-1.10] the throughput of gc, no verdict (a 75% interval from 3 rounds;"
      .. " a verdict needs at least 90% (5 rounds)); allocates 25% less per request.", conclusions[1])
    assert.are.same({}, notes)
    by = build({ GC, arena }, 5)
    assert.are.equal("faster", by.arena.verdict)
    assert.is_nil(summary.unsure(5))
    assert.are.equal("a 0% interval from 1 round; a verdict needs at least 90% (5 rounds)", summary.unsure(1))
  end)
end)

describe("lexrt.experiment.summary of an isolate row", function()
  it("shows the image size and the restore cost per request, and their share of a request", function()
    local raw = raw_variant({ mode = "isolate", ratio = 1.2, p99 = 1, cycles = 0.1, heap = 1000, lua = 2,
      arena = 40, held = 500 }, 5)
    for r, seg in ipairs(raw.rounds) do
      seg.image_bytes = 1258291
      seg.restores, seg.restore_seconds = 1000, 1000 * (3 + r / 10) * 1e-6 -- 3.1 .. 3.5 µs each
    end
    local plan = {
      { mode = "gc", label = "gc", collector = "incremental", pages = false, concurrency = 1 },
      { mode = "isolate", label = "isolate", collector = "incremental", pages = true, page_size = 65536,
        concurrency = 1 },
    }
    local rows = summary.build(plan, { raw_variant(GC, 5), raw }, stats.schedule(2, 5),
      { requests = 10, rounds = 5, warmup = 0, baseline = "gc" })
    local iso = rows[2]
    assert.are.equal(1258291, iso.image_bytes)
    assert.is_true(math.abs(iso.restore_us_per_req - 3.3) < 1e-9)
    assert.are.equal("image 1.20 MiB, restore 3.30 µs/req", summary.isolate_text(iso))
    -- 1200 req/s: 833 µs a request, of which 3.3 µs restoring.
    assert.matches("; image 1%.20 MiB, restore 3%.30 µs/req %(about 0%.4%% of a request's time%)%.$", iso.conclusion)
    assert.is_nil(rows[1].image_bytes)
    assert.is_nil(summary.isolate_text(rows[1]))
  end)
end)
