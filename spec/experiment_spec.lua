-- lexrt.experiment: the request-scope experiments, through the Lua API.
local experiment = require("lexrt.experiment")
local modes = require("lexrt.experiment.modes")
local Ctx = require("lexrt.experiment.ctx")
local Rng = require("lexrt.experiment.rng")

-- LEXRT_NO_RECYCLE=1 (the memory checkers' second run) turns the page
-- pool off: then every page comes from the system and none is pooled.
local RECYCLING = require("lexrt.core").RECYCLING

-- Small request counts keep the whole file to a few seconds.
local SMALL = { json = 12, template = 6, bulk = 3 }

local function row_of(result, mode, page_size)
  for _, row in ipairs(result.rows) do
    if row.mode == mode and (page_size == nil or row.page_size == page_size) then
      return row
    end
  end
end

-- The message of the argument error fn(opts) raises, without its position.
local function arg_error(fn, opts)
  local ok, err = pcall(fn, opts)
  assert.is_false(ok, "expected an error")
  return (err:gsub("^[^:]*:%d+: ", ""))
end

local write_temp = require("spec.support").write_temp_lua

describe("lexrt.experiment.run", function()
  for _, name in ipairs(experiment.WORKLOADS) do
    it("returns a well-formed row for every mode of the " .. name .. " workload", function()
      local n = SMALL[name]
      local r = experiment.run({ workload = name, requests = n, rounds = 2, warmup = 1, seed = 7 })
      assert.are.equal(name, r.workload)
      assert.are.equal(n, r.requests)
      assert.are.equal(2, r.rounds)
      assert.are.equal(7, r.seed)
      assert.are.equal("gc", r.baseline)
      assert.are.same({ 1 }, r.concurrency)
      assert.are.same(experiment.MODES, r.modes)
      assert.are.equal(#experiment.MODES, #r.rows)
      assert.are.equal(#experiment.MODES - 1, #r.conclusions)
      for k, row in ipairs(r.rows) do
        assert.are.equal(experiment.MODES[k], row.mode)
        assert.are.equal(row.mode, row.label)
        assert.are.equal(row, r.by_mode[row.mode])
        assert.are.equal(n, row.requests)
        assert.are.equal(1, row.concurrency)
        -- Times depend on the machine: check their shape, not their size.
        assert.are.equal(2, #row.req_per_s_rounds)
        assert.is_true(row.req_per_s_lo <= row.req_per_s and row.req_per_s <= row.req_per_s_hi)
        assert.is_true(row.req_per_wall_s > 0)
        assert.is_true(row.p50_us > 0)
        assert.is_true(row.p50_us <= row.p99_us and row.p99_us <= row.p999_us and row.p999_us <= row.max_us)
        assert.is_true(row.mean_us <= row.max_us)
        assert.is_true(row.lua_kib_per_req > 0)
        assert.are.equal(row.lua_kib_per_req + row.arena_kib_per_req, row.alloc_kib_per_req)
        assert.is_true(row.stored_bytes_per_req > 0)
        assert.is_true(row.response_bytes > 0)
        assert.is_true(row.heap_peak_kib > 0)
        assert.is_true(row.peak_held_kib_lo <= row.peak_held_kib and row.peak_held_kib <= row.peak_held_kib_hi)
        assert.are.equal("integer", math.type(row.gc_cycles_rounds[1]))
        if row.mode == "gc" or row.mode == "gc-gen" then
          assert.is_nil(row.page_size)
          assert.is_nil(row.pages_per_req)
          assert.are.equal(0, row.arena_kib_per_req)
          assert.are.equal(0, row.arena_held_peak_kib)
        else
          assert.are.equal(65536, row.page_size)
          assert.is_true(row.arena_held_peak_kib >= 64)
        end
        if row.mode == "gc" then
          assert.is_nil(row.throughput_ratio)
          assert.is_nil(row.verdict)
        else
          assert.is_true(row.throughput_ratio_lo <= row.throughput_ratio
            and row.throughput_ratio <= row.throughput_ratio_hi)
          -- Two rounds give a 50% interval: too unsure for a verdict.
          assert.is_nil(row.verdict)
          assert.matches("no verdict %(a 50%% interval from 2 rounds; a verdict needs at least 90%% %(5 rounds%)%)",
            row.conclusion)
          assert.are.equal(row.conclusion, r.conclusions[k - 1])
          assert.are.equal(row.mode .. ": ", row.conclusion:sub(1, #row.mode + 2))
        end
      end
    end)
  end

  -- The modes whose handler stores through the host's ctx (an isolate's
  -- arena holds every object of the call, not only what ctx stored).
  local HOST_CTX = { "gc", "gc-gen", "arena", "arena-nopool" }

  it("stores the same bytes per request in every mode, and allocates more on Lua's heap under gc", function()
    local r = experiment.run({ workload = "template", requests = 4, rounds = 1, warmup = 1, modes = HOST_CTX })
    local gc = r.by_mode.gc
    for _, mode in ipairs(HOST_CTX) do
      -- Alignment 1 everywhere: the arena holds exactly the bytes gc built.
      assert.are.equal(gc.stored_bytes_per_req, r.by_mode[mode].stored_bytes_per_req, mode)
    end
    -- The same code on the same heap: within the strings that happen to be
    -- interned already.
    assert.is_true(math.abs(gc.lua_kib_per_req / r.by_mode["gc-gen"].lua_kib_per_req - 1) < 0.01)
    for _, mode in ipairs({ "arena", "arena-nopool" }) do
      local row = r.by_mode[mode]
      assert.are.equal(gc.stored_bytes_per_req, row.arena_kib_per_req * 1024)
      assert.is_true(row.lua_kib_per_req < gc.lua_kib_per_req)
      assert.is_true(row.pages_per_req >= 1)
      assert.is_true(row.capacity_kib_per_req >= 64)
    end
  end)

  it("runs the modes of each round in the order of a Williams design", function()
    local r = experiment.run({ workload = "json", requests = 2, rounds = 5, warmup = 0 })
    local schedule = require("lexrt.experiment.stats").schedule(#experiment.MODES, 5)
    assert.are.equal(5, #r.order)
    for i, round in ipairs(r.order) do
      for j, label in ipairs(round) do
        assert.are.equal(experiment.MODES[schedule[i][j]], label)
      end
    end
  end)

  it("leaves no page live and returns the pages to the handler's pool after an arena run", function()
    local r = experiment.run({ workload = "json", requests = 8, rounds = 2, modes = { "arena" } })
    local hs = r.by_mode.arena.handler_stats
    assert.are.equal(0, hs.pages_live)
    assert.are.equal(0, hs.depth)
    assert.are.equal(hs.scopes_entered, hs.scopes_exited)
    assert.are.equal(RECYCLING, hs.pages_pooled > 0)
  end)

  it("serves large buffers from chunks that the pool recycles, and counts the pooled chunks as held", function()
    local r = experiment.run({ workload = "bulk", requests = 4, rounds = 1, warmup = 2, modes = { "arena", "arena-nopool" } })
    local row = r.by_mode.arena
    assert.are.equal(RECYCLING, row.chunks_reused > 0)
    assert.is_true(row.chunks_from_system + row.chunks_reused >= 8)
    assert.are.equal(0, row.handler_stats.chunks_live)
    -- The pool keeps chunks between requests; a fresh arena per request
    -- holds only the open request's.
    local nopool = r.by_mode["arena-nopool"]
    assert.is_true(row.arena_held_peak_kib >= nopool.arena_held_peak_kib)
    assert.are.equal(RECYCLING, row.arena_held_peak_kib > nopool.arena_held_peak_kib)
  end)

  it("reuses pooled pages instead of taking new ones after warm-up, in every round", function()
    local r = experiment.run({ workload = "json", requests = 10, rounds = 3, warmup = 3, modes = { "arena" } })
    local row = r.by_mode.arena
    assert.are.equal(RECYCLING and 0 or 30, row.pages_from_system)
    assert.are.equal(RECYCLING and 30 or 0, row.pages_reused)
  end)

  it("takes every page from the system in arena-nopool mode", function()
    local r = experiment.run({ workload = "json", requests = 6, rounds = 2, modes = { "arena-nopool" } })
    local row = r.by_mode["arena-nopool"]
    assert.are.equal(0, row.pages_reused)
    assert.are.equal(12, row.pages_from_system)
  end)

  for _, name in ipairs(experiment.WORKLOADS) do
    it("produces byte-identical " .. name .. " responses in every mode for the same seed", function()
      local r = experiment.run({ workload = name, requests = SMALL[name], rounds = 1, warmup = 0, keep_bodies = true,
        seed = 42 })
      local gc = r.by_mode.gc.bodies
      assert.are.equal(SMALL[name], #gc)
      for _, mode in ipairs(experiment.MODES) do
        local bodies = r.by_mode[mode].bodies
        for i = 1, #gc do
          assert.is_true(#gc[i] > 0)
          assert.are.equal(gc[i], bodies[i], mode .. " differs from gc at request " .. i)
        end
      end
    end)
  end

  it("renders valid JSON in the json workload", function()
    local dkjson = require("dkjson")
    local r = experiment.run({ workload = "json", requests = 20, rounds = 1, modes = { "gc" }, keep_bodies = true })
    for _, body in ipairs(r.by_mode.gc.bodies) do
      local doc, _, err = dkjson.decode(body)
      assert.is_nil(err)
      assert.are.equal(doc.count, #doc.data.items)
    end
  end)

  it("gives the same responses for the same seed and different ones for another", function()
    local function bodies(seed)
      return experiment.run({ workload = "template", requests = 3, rounds = 1, modes = { "gc" }, keep_bodies = true,
        seed = seed }).by_mode.gc.bodies
    end
    assert.are.same(bodies(3), bodies(3))
    assert.are_not.same(bodies(3), bodies(4))
  end)

  it("runs the sample user workload file in every mode", function()
    local r = experiment.run({ workload = "examples/workload_custom.lua", requests = 5, rounds = 1, keep_bodies = true })
    assert.are.equal("csv-export", r.workload)
    assert.are.equal(r.by_mode.gc.bodies[1], r.by_mode.arena.bodies[1])
    assert.matches("^id,customer,amount,currency,status\r\n", r.by_mode.gc.bodies[1])
  end)

  it("runs a user workload without a generator, naming it after its file", function()
    local path = write_temp([[
      return { handler = function(ctx, req)
        local b = ctx:buf(100000)
        ctx:write(b, 99991, ("%010d"):format(req.seed))
        return ctx:concat({ "seed ", ctx:read(b, -10) })
      end }
    ]])
    local r = experiment.run({ workload = path, requests = 3, rounds = 1, keep_bodies = true })
    os.remove(path)
    assert.are.equal(path:match("([^/]+)%.lua$"), r.workload)
    assert.matches("^seed %d+$", r.by_mode.gc.bodies[1])
    assert.are.same(r.by_mode.gc.bodies, r.by_mode["arena-nopool"].bodies)
  end)

  it("runs gc-gen under the generational collector and the others under the incremental one", function()
    local seen = {}
    local w = {
      name = "collector",
      handler = function(ctx)
        -- Switching to the mode in force returns it, and changes nothing.
        local now = collectgarbage("incremental")
        collectgarbage(now)
        seen[ctx.mode] = now
        return ctx:str("ok")
      end,
    }
    experiment.run({ workload = w, requests = 2, rounds = 1 })
    assert.are.same({ gc = "incremental", ["gc-gen"] = "generational", arena = "incremental",
      ["arena-nopool"] = "incremental" }, seen)
  end)

  it("restores the caller's collector mode after a run", function()
    -- lua5.4 itself starts in generational mode; a host may not.
    local before = collectgarbage("incremental")
    for _, mode in ipairs({ "generational", "incremental" }) do
      collectgarbage(mode)
      experiment.run({ workload = "json", requests = 2, rounds = 1, modes = { "gc-gen", "gc" } })
      assert.are.equal(mode, collectgarbage(mode))
    end
    collectgarbage(before)
  end)

  it("names the workload, mode and request when a handler raises, one or several in flight", function()
    local w = {
      name = "boom",
      handler = function(ctx, req)
        ctx:wait()
        if req.index == 2 then
          error("kaput")
        end
        return ctx:str("ok")
      end,
    }
    for _, concurrency in ipairs({ 1, 3 }) do
      for _, mode in ipairs(modes.defaults(w)) do
        local ok, err = pcall(experiment.run, { workload = w, requests = 3, rounds = 1, warmup = 0, modes = { mode },
          concurrency = concurrency })
        assert.is_false(ok)
        assert.matches("workload boom, mode " .. mode:gsub("%-", "%%-") .. ", request 2: .*kaput", err)
      end
    end
    collectgarbage("collect") -- the collector runs again after a failed run
  end)

  it("names the workload and the request when generate raises or returns nil", function()
    local function gen_failing(at, how)
      return {
        name = "gen",
        handler = function(ctx) return ctx:str("ok") end,
        generate = function(_, i)
          if i == at then
            if how == "raise" then error("no rows for " .. i) end
            return nil
          end
          return { i = i }
        end,
      }
    end
    local ok, err = pcall(experiment.run, { workload = gen_failing(3, "raise"), requests = 4, modes = { "gc" } })
    assert.is_false(ok)
    assert.matches("^workload gen, generate, request 3: .*no rows for 3$", err)
    ok, err = pcall(experiment.run, { workload = gen_failing(2, "nil"), requests = 4, modes = { "gc" } })
    assert.is_false(ok)
    assert.are.equal("workload gen, generate, request 2: returned nil", err)
  end)

  it("refuses a handler that returns something other than a ref", function()
    local w = { handler = function()
      return {}
    end }
    local ok, err = pcall(experiment.run, { workload = w, requests = 1, rounds = 1, modes = { "gc" } })
    assert.is_false(ok)
    assert.matches("must return a ref", err)
  end)

  it("reports progress after each mode of each round and after each census, up to the total", function()
    local calls = {}
    experiment.run({ workload = "json", requests = 3, rounds = 2, warmup = 1, modes = "gc,arena",
      progress = function(done, total, label)
        calls[#calls + 1] = { done, total, label }
      end })
    -- Two modes, two rounds, two censuses; four requests each.
    assert.are.equal(6, #calls)
    for k, c in ipairs(calls) do
      assert.are.equal(4 * k, c[1])
      assert.are.equal(24, c[2])
    end
    assert.are.equal("json gc, round 1 of 2", calls[1][3])
    assert.are.equal("json arena, census", calls[6][3])
  end)

  it("rejects unknown modes, workloads and bad page sizes", function()
    local cases = {
      { { modes = { "gc", "magic" } }, "unknown mode 'magic' (expected " .. table.concat(experiment.MODES, ", ") .. ")" },
      { { workload = "nosuch" }, "unknown workload 'nosuch' (expected json, template, bulk, or a .lua file)" },
      { { page_size = 5000 }, "page size 5000 must be a power of two from 4 KiB to 16 MiB" },
      { { page_size = "3000" }, "page size '3000' must be a power of two from 4 KiB to 16 MiB" },
      { { page_size = "32M" }, "page size '32M' must be a power of two from 4 KiB to 16 MiB" },
      { { page_size = "64Q" }, "'64Q' is not a size (examples: 4096, 4k, 64KiB, 1M)" },
      { { page_size = true }, "page size must be an integer or a string such as '64k', got boolean" },
      { { requests = 0 }, "requests must be a positive integer, got 0" },
      { { rounds = 0 }, "rounds must be a positive integer, got 0" },
      { { rounds = 2.5 }, "rounds must be a positive integer, got 2.5" },
      { { concurrency = 0 }, "concurrency must be a positive integer, got 0" },
      { { concurrency = { 1, 4 } }, "concurrency must be one positive integer in run (sweep takes a list)" },
      { { seed = "x" }, "seed must be an integer, got x" },
      { { warmup = -1 }, "warmup must be a non-negative integer, got -1" },
      { { keep_bodies = 1 }, "keep_bodies must be a boolean, got number" },
      { { progress = true }, "progress must be a function, got boolean" },
      { 5, "table expected, got number" },
    }
    for _, c in ipairs(cases) do
      assert.are.equal("bad argument #1 to 'run' (" .. c[2] .. ")", arg_error(experiment.run, c[1]))
    end
  end)

  it("takes the page-size bounds from the core", function()
    local core = require("lexrt.core")
    assert.are.equal(core.MIN_PAGE_BYTES, experiment.parse_size(core.MIN_PAGE_BYTES))
    assert.are.equal(core.MAX_PAGE_BYTES, experiment.parse_size(core.MAX_PAGE_BYTES))
    assert.is_nil(experiment.parse_size(core.MIN_PAGE_BYTES // 2))
    assert.is_nil(experiment.parse_size(core.MAX_PAGE_BYTES * 2))
    assert.are.equal(core.PAGE_BYTES, experiment.PAGE_SIZE)
  end)

  it("refuses unknown options, naming them, instead of ignoring them", function()
    local known = "known: workload, requests, rounds, modes, concurrency, page_size, seed, warmup, min_round_seconds,"
      .. " max_requests, keep_bodies, progress"
    assert.are.equal("bad argument #1 to 'run' (unknown option 'n' (" .. known .. "))",
      arg_error(experiment.run, { workload = "json", n = 5 }))
    assert.are.equal("bad argument #1 to 'run' (unknown option 'page_sizes' (" .. known .. "))",
      arg_error(experiment.run, { page_sizes = { 4096, 8192 } }))
    assert.are.equal("bad argument #1 to 'run' (unknown option 'gc' (" .. known .. "))",
      arg_error(experiment.run, { gc = "generational" }))
    assert.are.equal("bad argument #1 to 'run' (unknown option '1' (" .. known .. "))",
      arg_error(experiment.run, { "json" }))
  end)

  it("takes page sizes as integers or as size strings such as '64k', as the command line does", function()
    local r = experiment.run({ workload = "json", requests = 2, rounds = 1, modes = { "arena" }, page_size = "16k" })
    assert.are.same({ 16384 }, r.page_sizes)
    assert.are.equal(16384, r.by_mode.arena.page_size)
    assert.are.equal(require("lexrt.experiment.cli").parse_size, experiment.parse_size)
    for text, n in pairs({ ["4096"] = 4096, ["4k"] = 4096, ["64KiB"] = 65536, ["64kb"] = 65536,
                           ["1M"] = 1048576, ["1MiB"] = 1048576, [" 8 k "] = 8192 }) do
      assert.are.equal(n, experiment.parse_size(text), text)
    end
    assert.are.equal(65536, experiment.parse_size(65536))
    assert.are.equal(65536, experiment.parse_size(65536.0))
    assert.is_nil(experiment.parse_size(65536.5))
  end)

  it("points an argument error at the caller's line", function()
    local ok, err = pcall(function()
      local r = experiment.run({ n = 5 }) -- not a tail call, so this frame is kept
      return r
    end)
    assert.is_false(ok)
    assert.matches("^.-experiment_spec%.lua:%d+: bad argument #1 to 'run' %(unknown option 'n'", err)
  end)
end)

describe("lexrt.experiment's reference", function()
  -- The backquoted names in the first column of the table that follows
  -- `intro` in docs/API.md's Results section.
  local function documented(intro)
    local f = assert(io.open("docs/API.md", "r"))
    local text = f:read("a")
    f:close()
    local section = text:match("\n### Results\n(.-)\n### ")
    local tbl = section:match(intro .. ".-\n\n(|.-)\n\n")
    local names = {}
    for first in ("\n" .. tbl):gmatch("\n| ([^|]*) |") do
      for name in first:gmatch("`([%w_]+)`") do
        names[name] = true
      end
    end
    return names
  end

  local keys = require("spec.support").keys

  it("documents every field of a result, and no other", function()
    local r = experiment.run({ workload = "json", requests = 2, rounds = 1 })
    assert.are.same(keys(r), documented("Both return a table:"))
  end)

  it("documents every field of a row, and no other", function()
    -- Five rounds: the fewest that give a verdict.
    local r = experiment.run({ workload = "bulk", requests = 1, rounds = 5, warmup = 0, keep_bodies = true })
    local seen = {}
    for _, row in ipairs(r.rows) do
      for k in pairs(row) do
        seen[k] = true
      end
    end
    assert.are.same(seen, documented("Each row"))
  end)
end)

describe("the handler statistics the experiment reads", function()
  it("count the bytes of the free chunks a pool keeps", function()
    local lexrt = require("lexrt")
    local h = lexrt.handler()
    assert.are.equal(0, h:stats().chunk_bytes_pooled)
    local held
    h:with_scope(function(a)
      a:alloc(100000)
      a:alloc(300000)
      held = a:stats().capacity
    end)
    local s = h:stats()
    if RECYCLING then
      assert.are.equal(2, s.chunks_pooled)
      assert.are.equal(held, s.chunk_bytes_pooled)
      assert.is_true(s.chunk_bytes_pooled >= 400000)
    else
      assert.are.equal(0, s.chunk_bytes_pooled)
    end
    h:close()
  end)
end)

describe("lexrt.experiment with requests in flight", function()
  for _, name in ipairs({ "json", "bulk" }) do
    it("gives the same " .. name .. " responses with four requests interleaved as with one", function()
      local one = experiment.run({ workload = name, requests = SMALL[name], rounds = 1, warmup = 0, keep_bodies = true })
      local four = experiment.run({ workload = name, requests = SMALL[name], rounds = 1, warmup = 0, keep_bodies = true,
        concurrency = 4 })
      assert.are.same({ 4 }, four.concurrency)
      for _, row in ipairs(four.rows) do
        assert.are.same(one.by_mode.gc.bodies, row.bodies, row.mode)
      end
    end)
  end

  it("interleaves requests where the handler waits, each in its own scope", function()
    local log = {}
    local w = {
      name = "steps",
      handler = function(ctx, req)
        local mine = ctx:str("request " .. req.index)
        log[#log + 1] = req.index .. "a"
        ctx:wait()
        log[#log + 1] = req.index .. "b"
        -- Another request ran in between; this one's memory is intact.
        return ctx:concat({ mine, "!" })
      end,
    }
    for _, mode in ipairs(modes.defaults(w)) do
      log = {}
      local r = experiment.sweep({ workload = w, requests = 3, rounds = 1, warmup = 0, modes = { mode },
        concurrency = { 2 }, keep_bodies = true })
      -- Two slots: the first, once its request is done, starts the third
      -- before the second resumes. The census repeats the same steps.
      assert.are.same({ "1a", "2a", "1b", "3a", "2b", "3b" }, { table.unpack(log, 1, 6) }, mode)
      assert.are.same({ "request 1!", "request 2!", "request 3!" }, r.rows[1].bodies, mode)
    end
  end)

  it("holds one page per request in flight, and shares the handler's pool between the workers", function()
    local r = experiment.sweep({ workload = "json", requests = 8, rounds = 1, warmup = 4, modes = "arena,arena-nopool",
      concurrency = { 1, 4 } })
    local held = {}
    for _, row in ipairs(r.rows) do
      held[row.label] = row.arena_held_peak_kib
    end
    assert.are.same({ ["arena x1"] = 64, ["arena x4"] = 256, ["arena-nopool x1"] = 64, ["arena-nopool x4"] = 256 },
      held)
    -- The warm-up took four pages; the timed requests reused them.
    local pooled = row_of(r, "arena")
    for _, row in ipairs(r.rows) do
      if row.mode == "arena" and row.concurrency == 4 then
        pooled = row
      end
    end
    assert.are.equal(RECYCLING and 0 or 8, pooled.pages_from_system)
    assert.are.equal(0, pooled.handler_stats.pages_live)
  end)

  it("does nothing at ctx:wait() with one request in flight", function()
    local w = {
      handler = function(ctx)
        ctx:wait()
        return ctx:str(tostring(coroutine.isyieldable()))
      end,
    }
    local r = experiment.run({ workload = w, requests = 1, rounds = 1, keep_bodies = true })
    for _, row in ipairs(r.rows) do
      assert.are.same({ "false" }, row.bodies, row.mode)
    end
  end)
end)

describe("lexrt.experiment.sweep", function()
  it("takes page sizes as size strings, in a list or a comma string", function()
    for _, sizes in ipairs({ { "4k", "1M" }, "1M,4k", { 4096, "1MiB", "4k" } }) do
      local r = experiment.sweep({ workload = "json", requests = 1, rounds = 1, modes = { "arena" }, page_sizes = sizes })
      assert.are.same({ 4096, 1048576 }, r.page_sizes)
      assert.are.equal(4096, r.rows[1].page_size)
      assert.are.equal(1048576, r.rows[2].page_size)
      assert.are.equal("arena 4 KiB", r.rows[1].label)
    end
  end)

  it("refuses unknown options and bad page sizes as argument errors of 'sweep'", function()
    local known = "known: workload, requests, rounds, modes, concurrency, page_sizes, seed, warmup, min_round_seconds,"
      .. " max_requests, keep_bodies, progress"
    assert.are.equal("bad argument #1 to 'sweep' (unknown option 'page_size' (" .. known .. "))",
      arg_error(experiment.sweep, { page_size = 4096 }))
    assert.are.equal("bad argument #1 to 'sweep' (page size '2k' must be a power of two from 4 KiB to 16 MiB)",
      arg_error(experiment.sweep, { page_sizes = { "4k", "2k" } }))
    assert.are.equal("bad argument #1 to 'sweep' (page_sizes must be a non-empty list)",
      arg_error(experiment.sweep, { page_sizes = {} }))
    assert.are.equal("bad argument #1 to 'sweep' (concurrency must be a positive integer, got x)",
      arg_error(experiment.sweep, { concurrency = { 1, "x" } }))
  end)

  it("runs every arena mode at every page size and the gc modes once, compared with gc", function()
    local r = experiment.sweep({ workload = "json", requests = 4, rounds = 2, page_sizes = { 65536, 4096 } })
    assert.are.same({ 4096, 65536 }, r.page_sizes)
    local paged = {}
    for _, mode in ipairs(experiment.MODES) do
      if modes.BY_NAME[mode].pages then
        paged[#paged + 1] = mode
      end
    end
    assert.are.equal(#experiment.MODES + #paged, #r.rows)
    assert.is_nil(row_of(r, "gc").page_size)
    assert.is_nil(row_of(r, "gc-gen").page_size)
    for _, mode in ipairs(paged) do
      for _, ps in ipairs({ 4096, 65536 }) do
        local row = row_of(r, mode, ps)
        assert.are.equal(ps, row.page_size)
        assert.is_truthy(row.throughput_ratio)
      end
    end
    assert.are.equal(#r.rows - 1, #r.conclusions)
    -- Every variant runs once in every round.
    for _, round in ipairs(r.order) do
      assert.are.equal(#r.rows, #round)
    end
  end)

  it("sweeps the concurrency at the default page size, comparing each with gc at the same concurrency", function()
    local r = experiment.sweep({ workload = "json", requests = 4, rounds = 1, modes = "gc,arena", concurrency = "4,1" })
    assert.are.same({ 1, 4 }, r.concurrency)
    assert.are.same({ 65536 }, r.page_sizes)
    local labels = {}
    for k, row in ipairs(r.rows) do
      labels[k] = row.label
    end
    assert.are.same({ "gc x1", "arena x1", "gc x4", "arena x4" }, labels)
    assert.matches(" the throughput of gc x4[;,] ", r.rows[4].conclusion .. "; ")
  end)

  it("needs more pages, and wastes page tails, when the pages are small", function()
    local r = experiment.sweep({ workload = "template", requests = 4, rounds = 1, modes = { "arena" },
      page_sizes = { 4096, 65536 } })
    local small, big = row_of(r, "arena", 4096), row_of(r, "arena", 65536)
    assert.is_true(small.pages_per_req > big.pages_per_req)
    assert.is_true(small.wasted_bytes_per_req > 0)
    assert.are.equal(0, big.wasted_bytes_per_req)
    assert.is_true(small.capacity_kib_per_req < big.capacity_kib_per_req)
  end)
end)

-- The isolate mode, where the build has lexrt.isolate: the workloads' own
-- code in an isolate must answer every request exactly as it does in an
-- ordinary Lua state.
if require("lexrt").isolate then
  local support = require("spec.support")
  local bundle = require("lexrt.experiment.bundle")

  -- A few hundred requests per built-in workload, fewer for bulk (each is
  -- megabytes), and fewer again under the memory checkers.
  local COUNTS = support.UNDER_CHECKER and { json = 40, template = 20, bulk = 3 }
    or { json = 300, template = 200, bulk = 25 }

  describe("the isolate mode", function()
    it("is a default mode, after the others", function()
      assert.are.equal("isolate", experiment.MODES[#experiment.MODES])
      assert.is_nil(modes.BY_NAME.isolate.interleaves) -- it takes turns like the others
    end)

    for _, name in ipairs(experiment.WORKLOADS) do
      it("answers every seeded " .. name .. " request as an ordinary state does", function()
        local r = experiment.run({ workload = name, requests = COUNTS[name], rounds = 1, warmup = 0, seed = 7,
          keep_bodies = true, modes = { "gc", "isolate" } })
        local gc, iso = r.by_mode.gc.bodies, r.by_mode.isolate.bodies
        assert.are.equal(COUNTS[name], #iso)
        for i = 1, #gc do
          assert.are.equal(gc[i], iso[i], name .. " request " .. i)
        end
        assert.are.equal(0, r.by_mode.isolate.handler_stats.pages_live)
      end)
    end

    it("keeps every object of a request in its scope's arena, and little on the host's heap", function()
      local r = experiment.run({ workload = "template", requests = 12, rounds = 2, warmup = 2,
        modes = { "gc", "isolate" } })
      local gc, iso = r.by_mode.gc, r.by_mode.isolate
      assert.is_true(iso.arena_kib_per_req > 0)
      assert.is_true(iso.pages_per_req >= 1)
      assert.is_true(iso.arena_held_peak_kib >= 64)
      assert.is_true(iso.lua_kib_per_req < gc.lua_kib_per_req / 4)
      assert.are.equal(0, iso.handler_stats.pages_live)
      assert.matches("^isolate: ", iso.conclusion)
    end)

    it("runs a user workload file unchanged, with the modules it requires", function()
      local path = write_temp([[
        local Rng = require("lexrt.experiment.rng")
        local rows = require("lexrt.experiment.workload.json")
        return {
          name = "user",
          generate = function(rng, i) return { n = rng:int(1, 20), i = i, seed = rng:int(0, 1000) } end,
          handler = function(ctx, req)
            local rng = Rng.new(req.seed, 0)
            local parts = { "user ", type(rows.handler) }
            for k = 1, req.n do parts[#parts + 1] = ctx:str(" " .. rng:int(1, 99)) end
            return ctx:concat(parts)
          end,
        }
      ]])
      local r = experiment.run({ workload = path, requests = 30, rounds = 1, warmup = 0, keep_bodies = true,
        modes = { "gc", "isolate" } })
      os.remove(path)
      assert.are.same(r.by_mode.gc.bodies, r.by_mode.isolate.bodies)
      assert.matches("^user function", r.by_mode.isolate.bodies[1])
    end)

    it("names the workload, mode and request when a handler raises inside the isolate", function()
      local path = write_temp([[
        return { name = "boom", handler = function(ctx, req)
          if req.index == 2 then error("kaput") end
          return ctx:str("ok")
        end }
      ]])
      local ok, err = pcall(experiment.run, { workload = path, requests = 3, rounds = 1, warmup = 0,
        modes = { "isolate" } })
      os.remove(path)
      assert.is_false(ok)
      assert.matches("workload boom, mode isolate, request 2: .*kaput", err)
    end)

    it("refuses a workload given as a table, and leaves isolate out of such a run's default modes", function()
      local w = { name = "inline", handler = function(ctx) return ctx:str("x") end }
      local ok, err = pcall(experiment.run, { workload = w, requests = 1, rounds = 1, modes = { "isolate" } })
      assert.is_false(ok)
      assert.matches("isolate mode needs a built%-in workload or one loaded from a file", err)
      local r = experiment.run({ workload = w, requests = 1, rounds = 1 })
      assert.is_nil(r.by_mode.isolate)
      assert.are.equal(#experiment.MODES - 1, #r.rows)
    end)

    it("runs requests in flight: an instance each, suspended at ctx:wait(), the same responses", function()
      local one = experiment.run({ workload = "json", requests = 24, rounds = 1, warmup = 0, seed = 3,
        keep_bodies = true, modes = { "gc" } })
      local r = experiment.sweep({ workload = "json", requests = 24, rounds = 1, warmup = 0, seed = 3,
        modes = "gc,isolate", concurrency = { 1, 8 }, keep_bodies = true })
      local labels = {}
      for k, row in ipairs(r.rows) do
        labels[k] = row.label
        assert.are.same(one.by_mode.gc.bodies, row.bodies, row.label)
      end
      assert.are.same({ "gc x1", "isolate x1", "gc x8", "isolate x8" }, labels)
      for _, note in ipairs(r.notes or {}) do
        assert.is_nil(note:find("one request at a time", 1, true))
      end
    end)

    it("keeps eight calls in flight on eight instances at --concurrency 8", function()
      local bundle_src = bundle.source(experiment.workload("json"))
      assert.matches("sched.wait", bundle_src, 1, true)
      local w = experiment.workload("json")
      local d = modes.open("isolate", { workload = w, page_size = 65536, slots = 8 })
      assert.are.equal(8, d:isolate_stats().max_instances)
      local reqs = experiment.generate(w, 8, 1)
      local cos, peak = {}, 0
      for k = 1, 8 do
        cos[k] = coroutine.create(function() d:request(k, reqs[k]) end)
        assert(coroutine.resume(cos[k])) -- to the first ctx:wait()
        peak = math.max(peak, d:isolate_stats().in_flight)
      end
      assert.are.equal(8, peak)
      assert.are.equal(8, d:isolate_stats().instances)
      for _ = 1, 10 do
        for k = 1, 8 do
          if coroutine.status(cos[k]) == "suspended" then
            assert(coroutine.resume(cos[k]))
          end
        end
      end
      for k = 1, 8 do
        assert.are.equal("dead", coroutine.status(cos[k]))
      end
      assert.are.equal(0, d:isolate_stats().in_flight)
      assert.are.equal(8, d:isolate_stats().calls)
      assert.are.equal(0, d:pool().pages_live)
      d:close()
    end)

    it("says which module an isolate cannot have", function()
      local path = write_temp([[
        return { name = "needs", handler = function(ctx) require("no.such.module") return ctx:str("x") end }
      ]])
      local w = experiment.load_workload(path)
      local iso = require("lexrt").isolate({ source = bundle.source(w) })
      os.remove(path)
      local ok, err = pcall(iso.call, iso, {})
      assert.is_false(ok)
      assert.matches("module 'no.such.module' is not available in an isolate", err)
      iso:close()
    end)
  end)
end

describe("lexrt.experiment's calibration of requests per round", function()
  local trivial = { name = "trivial", requests = 2, handler = function(ctx) return ctx:str("ok") end }

  -- A minimum no machine reaches with 8 trivial requests, and a cap of 8:
  -- the outcome is the same however fast the machine is.
  it("doubles the count up to the cap when the requests are left open, and says it stopped there", function()
    local r = experiment.run({ workload = trivial, rounds = 1, modes = "gc", min_round_seconds = 1000,
      max_requests = 8 })
    assert.are.equal(8, r.requests)
    assert.are.equal(8, r.rows[1].requests)
    assert.are.equal(0, r.warmup) -- a tenth of 8
    local c = r.calibration
    assert.are.equal(2, c.from)
    assert.are.equal(8, c.requests)
    assert.is_true(c.capped)
    assert.are.equal(1000, c.min_seconds)
    assert.are.same({ 2, 4, 8 }, { c.tries[1].requests, c.tries[2].requests, c.tries[3].requests })
    assert.matches("calibrated from 2 to 8, the cap", require("lexrt.experiment.report").table({ r }))
  end)

  it("uses a count the caller gives as it is, and none when min_round_seconds is 0", function()
    local r = experiment.run({ workload = trivial, requests = 3, rounds = 1, modes = "gc", min_round_seconds = 1000 })
    assert.are.equal(3, r.requests)
    assert.is_false(r.calibration)
    r = experiment.run({ workload = trivial, rounds = 1, modes = "gc", min_round_seconds = 0 })
    assert.are.equal(2, r.requests)
    assert.is_false(r.calibration)
    assert.is_nil(require("lexrt.experiment.report").table({ r }):find("calibrated", 1, true))
  end)

  it("keeps a warm-up the caller gives", function()
    local r = experiment.run({ workload = trivial, rounds = 1, modes = "gc", min_round_seconds = 1000,
      max_requests = 8, warmup = 1 })
    assert.are.equal(1, r.warmup)
  end)

  it("refuses a bad minimum or cap", function()
    assert.are.equal("bad argument #1 to 'run' (min_round_seconds must be a non-negative number, got -1)",
      arg_error(experiment.run, { min_round_seconds = -1 }))
    assert.are.equal("bad argument #1 to 'run' (max_requests must be a positive integer, got 0)",
      arg_error(experiment.run, { max_requests = 0 }))
  end)
end)

describe("lexrt.experiment's plot with few rounds", function()
  it("labels the intervals with their real coverage and draws no verdict", function()
    local svg = require("lexrt.experiment.svg")
    local r = experiment.run({ workload = "json", requests = 2, rounds = 3, warmup = 0, modes = "gc,arena" })
    local text = svg.plot({ r })
    assert.matches("bar: 75%% interval; right of 1: faster", text)
    assert.matches(">no verdict<", text)
    assert.matches("intervals 75%.0%% sure; no verdict below 90%%", text)
    local s = experiment.sweep({ workload = "json", requests = 2, rounds = 3, warmup = 0, modes = "gc,arena",
      page_sizes = "4k,64k" })
    assert.matches("median req/s; bar: 75%% interval", svg.plot({ s }))
  end)
end)

describe("lexrt.experiment without its baseline", function()
  it("says in a note that there is nothing to compare with", function()
    local r = experiment.run({ workload = "json", requests = 2, rounds = 1, modes = "arena" })
    assert.is_nil(r.rows[1].throughput_ratio)
    assert.matches("^No gc row: gc is the baseline every mode is compared with, so this run has no ratios and no"
      .. " verdicts %(add it to the modes: gc,arena%)%.$", r.notes[1])
  end)
end)

if modes.BY_NAME.isolate then
  describe("lexrt.experiment's isolate row", function()
    it("carries the image size and the restore time per request", function()
      local r = experiment.run({ workload = "json", requests = 3, rounds = 1, warmup = 0, modes = "gc,isolate" })
      local iso = r.by_mode.isolate
      assert.is_true(iso.image_bytes > 16 * 1024)
      assert.is_true(iso.restore_us_per_req > 0)
      assert.is_nil(r.by_mode.gc.image_bytes)
      local text = require("lexrt.experiment.report").table({ r })
      assert.matches("\nisolate [^\n]*  image [%d.]+ KiB, restore [%d.]+ µs/req\n", text)
      assert.matches("of a request's time%)%.$", iso.conclusion)
    end)
  end)

  describe("lexrt.experiment with a workload an isolate cannot run", function()
    local function os_workload()
      return write_temp([[
        return { name = "clock", handler = function(ctx) return ctx:str(("%.0f"):format(os.clock() * 0)) end }
      ]])
    end

    it("refuses it before measuring anything, saying how to leave isolate out", function()
      local path = os_workload()
      local measured = 0
      local ok, err = pcall(experiment.run, { workload = path, requests = 2, rounds = 1,
        progress = function() measured = measured + 1 end })
      os.remove(path)
      assert.is_false(ok)
      assert.are.equal(0, measured)
      assert.matches("^workload clock cannot run in isolate mode %(it runs under gc%): [^\n]*global 'os'", err)
      assert.matches("only the libraries string, table, math, utf8 and coroutine, no os, io, package or debug", err, 1, true)
      assert.matches("leave isolate out: %-m gc,gc%-gen,arena,arena%-nopool %(modes = \"gc,gc%-gen,arena,arena%-nopool\"%)$",
        err)
    end)

    it("runs it in the other modes", function()
      local path = os_workload()
      local r = experiment.run({ workload = path, requests = 2, rounds = 1, modes = "gc,arena" })
      os.remove(path)
      assert.are.equal(2, #r.rows)
    end)
  end)
end

describe("the workload ctx", function()
  -- Random writes and reads through both implementations must agree,
  -- including writes that straddle the gc buffer's segments.
  it("reads and writes a gc buffer exactly as an arena block", function()
    local lexrt = require("lexrt")
    local gc, ar = Ctx.gc(), Ctx.arena("arena")
    ar.a = lexrt.arena()
    local rng = Rng.new(5, 0)
    local n = 5000
    local g, a = gc:buf(n), ar:buf(n)
    for _ = 1, 200 do
      local len = rng:int(0, 1500)
      local pos = rng:int(1, n - len + 1)
      local s = rng:word(len, len)
      gc:write(g, pos, s)
      ar:write(a, pos, s)
    end
    assert.are.equal(ar:read(a), gc:read(g))
    for _ = 1, 200 do
      local i, j = rng:int(-n - 5, n + 5), rng:int(-n - 5, n + 5)
      assert.are.equal(ar:read(a, i, j), gc:read(g, i, j))
    end
    assert.are.equal(ar:read(ar:concat({ "<", a, ">" })), gc:read(gc:concat({ "<", g, ">" })))
    ar.a:close()
  end)

  it("refuses to write past a gc buffer's end, as the arena does", function()
    local gc = Ctx.gc()
    local b = gc:buf(4)
    assert.has_error(function()
      gc:write(b, 3, "xyz")
    end)
    assert.has_error(function()
      gc:write(gc:str("abc"), 1, "x")
    end)
  end)
end)
