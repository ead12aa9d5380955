-- lexrt.serve with an isolate in place of fn, and the isolate example.
local lexrt = require("lexrt")
local support = require("spec.support")
local err_of = support.err_of

describe("lexrt.serve with an isolate", function()
  it("runs each request as iso:call(r) inside a scope per request", function()
    local h = lexrt.handler()
    local iso = lexrt.isolate({ handler = h, source = [[
      local served = 0
      return function(r)
        served = served + 1
        if r.fail then error("refused " .. r.id, 0) end
        return { id = r.id, twice = r.id * 2, served = served }
      end
    ]] })
    local reqs = { { id = 1 }, { id = 2, fail = true }, { id = 3 } }
    local summary = lexrt.serve(h, reqs, iso)
    assert.are.equal(3, summary.requests)
    assert.are.equal(2, summary.ok)
    assert.are.equal(1, summary.failed)
    assert.are.same({ "refused 2" }, summary.errors)
    assert.are.same({ 2 }, summary.failed_at)
    assert.are.same({ id = 1, twice = 2, served = 1 }, summary.results[1])
    assert.is_nil(summary.results[2])
    assert.are.same({ id = 3, twice = 6, served = 1 }, summary.results[3])
    local s = h:stats()
    assert.are.equal(6, s.scopes_entered) -- serve's scope and the call's, per request
    assert.are.equal(6, s.scopes_exited)
    assert.are.equal(0, s.pages_live)
    assert.are.equal(3, iso:stats().calls)
  end)

  it("serves an endless stream with keep_results off", function()
    local h = lexrt.handler()
    local iso = lexrt.isolate({ handler = h, source = "return function(r) return r * r end" })
    local n = 0
    local summary = lexrt.serve(h, function()
      n = n + 1
      if n <= 500 then return n end
    end, iso, { keep_results = false })
    assert.are.equal(500, summary.ok)
    assert.is_nil(summary.results)
  end)

  it("keeps every result of the call with pack = true", function()
    local h = lexrt.handler()
    local iso = lexrt.isolate({ handler = h, source = [[
      return function(r)
        if r == "missing" then return 404, nil, "no such page" end
        return 200, "hello, " .. r
      end
    ]] })
    local summary = lexrt.serve(h, { "ada", "missing" }, iso, { pack = true })
    assert.are.same({ 200, "hello, ada", n = 2 }, summary.results[1])
    assert.are.same({ 404, nil, "no such page", n = 3 }, summary.results[2])
    assert.are.equal(2, summary.results.n)
    -- without pack, the first result only, as before
    assert.are.same({ 200, 404, n = 2 }, lexrt.serve(h, { "ada", "missing" }, iso).results)
  end)

  it("keeps no results with pack = true and keep_results = false", function()
    local h = lexrt.handler()
    local iso = lexrt.isolate({ handler = h, source = "return function(r) return 200, r end" })
    local summary = lexrt.serve(h, { 1, 2 }, iso, { pack = true, keep_results = false })
    assert.is_nil(summary.results)
    assert.are.equal(2, summary.ok)
  end)

  it("still refuses what is neither a function nor an isolate", function()
    assert.matches("bad argument #3 to 'serve' %(function or lexrt.isolate expected, got table%)",
      err_of(lexrt.serve, lexrt.handler(), {}, {}))
  end)
end)

describe("examples/isolate_api.lua", function()
  it("stops each escape and serves the next request normally", function()
    local out = {}
    local real_print = _G.print
    _G.print = function(...)
      local parts = table.pack(...)
      for i = 1, parts.n do
        parts[i] = tostring(parts[i])
      end
      out[#out + 1] = table.concat(parts, "\t", 1, parts.n)
    end
    local ok, summary = pcall(dofile, "examples/isolate_api.lua")
    _G.print = real_print
    assert.is_true(ok, tostring(summary))
    local text = table.concat(out, "\n")
    assert.are.equal(10, summary.requests)
    assert.are.same({ 3, 6, 8 }, summary.failed_at)
    assert.are.equal("fs_path_not_allowed", summary.errors[1].kind)
    assert.matches("GET /hello %-> 200", text)
    assert.matches("fs_path_not_allowed", text)
    assert.matches("not enough memory", text)
    assert.matches("instruction budget exceeded", text)
    assert.matches("pages_live 0", text)
    -- after every refusal, the next request was served normally
    for _, name in ipairs({ "lin", "kim", "joe" }) do
      assert.matches("GET /hello %-> 200 hello, " .. name, text)
    end
  end)

  it("answers a missing file inside the grant with a 404, not an error", function()
    local real_print = _G.print
    _G.print = function() end
    local ok, summary = pcall(dofile, "examples/isolate_api.lua")
    _G.print = real_print
    assert.is_true(ok, tostring(summary))
    local last = summary.results[summary.results.n]
    assert.are.equal(404, last.status)
    assert.matches("missing%.txt: No such file or directory$", last.body)
    assert.are.same({ 3, 6, 8 }, summary.failed_at)
  end)
end)

describe("lexrt.serve with requests in flight (concurrency = N)", function()
  local function sleepy()
    return lexrt.handler({
      effects = { time = { sleep = function(s) return coroutine.yield("sleep", s) end } },
      policy = lexrt.policy({ allow_effects = { "time" } }),
    })
  end
  local SOURCE = [[
    return function(r)
      local order = {}
      for i = 1, r.waits do order[#order + 1] = r.id time.sleep(i) end
      if r.fail then error("refused " .. r.id, 0) end
      return { id = r.id, waits = #order }
    end
  ]]

  it("keeps up to N calls in flight, results in request order, errors where they happened", function()
    local iso, peak = nil, 0
    local h = lexrt.handler({
      effects = { time = { sleep = function(s)
        peak = math.max(peak, iso:stats().in_flight)
        return coroutine.yield("sleep", s)
      end } },
      policy = lexrt.policy({ allow_effects = { "time" } }),
    })
    iso = lexrt.isolate({ handler = h, source = SOURCE, instances = 3 })
    local reqs = {}
    for i = 1, 10 do
      reqs[i] = { id = i, waits = (i * 7) % 4, fail = i == 6 }
    end
    local summary = lexrt.serve(h, reqs, iso, { concurrency = 3 })
    assert.are.equal(10, summary.requests)
    assert.are.equal(9, summary.ok)
    assert.are.same({ 6 }, summary.failed_at)
    assert.are.equal("refused 6", summary.errors[1])
    for i = 1, 10 do
      if i ~= 6 then
        assert.are.same({ id = i, waits = (i * 7) % 4 }, summary.results[i])
      end
    end
    assert.are.equal(3, peak)
    assert.are.equal(0, h:stats().depth)
    assert.are.equal(0, h:stats().pages_live)
    assert.are.equal(0, iso:stats().in_flight)
  end)

  it("gives the results of one request at a time", function()
    local reqs, want = {}, { n = 12 }
    for i = 1, 12 do
      reqs[i] = { id = i, waits = i % 5 }
    end
    local one = lexrt.isolate({ handler = sleepy(), source = SOURCE })
    for i, r in ipairs(reqs) do -- each call alone, resumed until it ends
      local co = coroutine.create(function() return one:call(r) end)
      local ok, res
      repeat
        ok, res = coroutine.resume(co)
      until coroutine.status(co) == "dead"
      assert(ok, res)
      want[i] = res
    end
    local h = sleepy()
    local many = lexrt.serve(h, reqs, lexrt.isolate({ handler = h, source = SOURCE, instances = 4 }), { concurrency = 4 })
    assert.are.same(want, many.results)
  end)

  it("refuses concurrency without an isolate, or past its instances", function()
    local h = sleepy()
    local iso = lexrt.isolate({ handler = h, source = SOURCE, instances = 2 })
    assert.matches("concurrency > 1 needs an isolate", err_of(lexrt.serve, h, {}, function() end, { concurrency = 2 }))
    assert.matches("concurrency 3 is more than the isolate's instances %(2%)", err_of(lexrt.serve, h, {}, iso, { concurrency = 3 }))
    assert.matches("concurrency must be an integer >= 1, got 0", err_of(lexrt.serve, h, {}, iso, { concurrency = 0 }))
  end)
end)
