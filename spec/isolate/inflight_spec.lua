-- Requests in flight (the contract's section of that name): an effect
-- that yields in the host suspends iso:call in its host coroutine; up to
-- `instances` calls are in flight at once; a call abandoned by its
-- coroutine (closed or collected) gives everything back.
local lexrt = require("lexrt")

-- A handler whose `time.sleep(x)` yields ("sleep", x) to whoever resumed
-- the call, and returns what the resumer passes back.
local function sleepy(extra)
  local effects = { time = {
    sleep = function(x) return coroutine.yield("sleep", x) end,
    now = function() return 42 end,
  } }
  for k, v in pairs(extra or {}) do
    effects.time[k] = v
  end
  return lexrt.handler({ effects = effects, policy = lexrt.policy({ allow_effects = { "time" } }) })
end

local function start(iso, ...)
  local co = coroutine.create(function(...) return iso:call(...) end)
  return co, table.pack(coroutine.resume(co, ...))
end

describe("lexrt.isolate requests in flight", function()
  it("an effect that yields once: the call yields its values, and goes on with what resume passes", function()
    local h = sleepy()
    local iso = lexrt.isolate({ handler = h, source = [[
      return function(x) local got = time.sleep(x * 2) return got + 1, type(got) end ]] })
    local co, first = start(iso, 21)
    assert.are.same({ true, "sleep", 42, n = 3 }, first)
    assert.are.equal("suspended", coroutine.status(co))
    assert.are.same({ true, 101, "number" }, { coroutine.resume(co, 100) })
    assert.are.equal("dead", coroutine.status(co))
    assert.are.equal(0, h:stats().depth)
    assert.are.equal(0, h:stats().pages_live)
  end)

  it("an effect that yields many times, values of every kind crossing both ways", function()
    local iso = lexrt.isolate({ handler = sleepy(), source = [[
      return function(n)
        local seen = {}
        for i = 1, n do
          local v = time.sleep({ i = i, f = i + 0.5, s = "s" .. i })
          seen[#seen + 1] = v.tag .. ":" .. math.type(v.n) .. ":" .. v.n
        end
        return table.concat(seen, ",")
      end ]] })
    local co, res = start(iso, 50)
    for i = 1, 50 do
      assert.are.equal("sleep", res[2])
      assert.are.same({ i = i, f = i + 0.5, s = "s" .. i }, res[3])
      res = table.pack(coroutine.resume(co, { tag = "t" .. i, n = i % 2 == 0 and i or i + 0.25 }))
    end
    assert.is_true(res[1])
    assert.matches("^t1:float:1.25,t2:integer:2,", res[2])
    assert.matches("t50:integer:50$", res[2])
  end)

  it("an effect that errors after resuming: catchable inside, else raised by iso:call as it was", function()
    local h = sleepy({ fail = function(x) coroutine.yield("sleep", 0) error({ code = x }) end })
    local iso = lexrt.isolate({ handler = h, source = [[
      return function(catch)
        if catch then
          local ok, e = pcall(time.fail, 7)
          return ok, e.code
        end
        time.fail(9)
      end ]] })
    local co, res = start(iso, true)
    assert.are.equal("sleep", res[2])
    assert.are.same({ true, false, 7 }, { coroutine.resume(co) })
    co, res = start(iso, false)
    assert.are.equal("sleep", res[2])
    local ok, e = coroutine.resume(co)
    assert.is_false(ok)
    assert.are.same({ code = 9 }, e)
    assert.are.equal(0, h:stats().depth)
    assert.are.equal(1, iso:stats().errors)
  end)

  it("N calls interleaved on N instances give the results of sequential runs, each on a clean image", function()
    local source = [[
      local hits = 0
      return function(x)
        assert(seen == nil, "a global of another call")
        seen = x
        hits = hits + 1
        local a = time.sleep(x)
        local b = time.sleep(x + 1)
        return x * 1000 + a + b, hits, seen
      end ]]
    local seq = lexrt.isolate({ handler = sleepy(), source = source })
    local want = {}
    for x = 1, 4 do
      local co = start(seq, x)
      coroutine.resume(co, x)
      want[x] = { coroutine.resume(co, 2 * x) }
    end
    local h = sleepy()
    local iso = lexrt.isolate({ handler = h, source = source, instances = 4 })
    local cos = {}
    for x = 1, 4 do
      cos[x] = start(iso, x)
    end
    assert.are.equal(4, iso:stats().in_flight)
    assert.are.equal(4, iso:stats().instances)
    assert.are.equal(4, h:stats().depth)
    for _, x in ipairs({ 3, 1, 4, 2 }) do
      coroutine.resume(cos[x], x)
    end
    for _, x in ipairs({ 2, 4, 1, 3 }) do
      assert.are.same(want[x], { coroutine.resume(cos[x], 2 * x) })
    end
    assert.are.equal(0, iso:stats().in_flight)
    assert.are.equal(0, h:stats().depth)
    assert.are.equal(0, h:stats().pages_live)
    local s = h:stats()
    assert.are.equal(s.scopes_entered, s.scopes_exited)
  end)

  it("builds instances on first need, and refuses one call more than there are", function()
    local h = sleepy()
    local iso = lexrt.isolate({ handler = h, instances = 2, name = "api",
      source = "return function(x) return time.sleep(x) end" })
    assert.are.equal(1, iso:stats().instances)
    assert.are.equal(2, iso:stats().max_instances)
    local a = start(iso, 1)
    local b = start(iso, 2)
    assert.are.equal(2, iso:stats().instances)
    local c, res = start(iso, 3)
    assert.is_false(res[1])
    assert.matches("isolate busy: all 2 instances are running a call", res[2], 1, true)
    assert.are.equal("dead", coroutine.status(c))
    assert.are.equal(2, iso:stats().in_flight)
    assert.are.equal(2, h:stats().depth)
    assert.are.same({ true, "b" }, { coroutine.resume(b, "b") })
    assert.are.same({ true, "a" }, { coroutine.resume(a, "a") })
    -- And the freed instance serves the next call.
    local d = start(iso, 4)
    assert.are.same({ true, "d" }, { coroutine.resume(d, "d") })
    assert.are.equal(0, h:stats().depth)
  end)

  it("a suspended call closed with coroutine.close gives everything back", function()
    local h = sleepy()
    local iso = lexrt.isolate({ handler = h, source = [[
      return function() local t = {} for i = 1, 5000 do t[i] = ("x"):rep(i % 50) end g = t return time.sleep(1) end ]] })
    local co = start(iso)
    assert.is_true(h:stats().pages_live > 0)
    assert.are.equal(1, iso:stats().in_flight)
    assert.is_true(coroutine.close(co))
    assert.are.equal(0, iso:stats().in_flight)
    assert.are.equal(0, h:stats().depth)
    assert.are.equal(0, h:stats().pages_live)
    -- The instance is free and restored: the next call sees no `g`.
    local iso2_co = start(iso)
    assert.are.same({ true, "ok" }, { coroutine.resume(iso2_co, "ok") })
  end)

  it("a suspended call whose coroutine is collected gives everything back", function()
    local h = sleepy()
    local iso = lexrt.isolate({ handler = h, instances = 3, source = "return function(x) return time.sleep(x) end" })
    do
      start(iso, 1)
      start(iso, 2)
    end
    assert.are.equal(2, iso:stats().in_flight)
    collectgarbage()
    collectgarbage()
    assert.are.equal(0, iso:stats().in_flight)
    assert.are.equal(0, h:stats().depth)
    assert.are.equal(0, h:stats().pages_live)
    local co = start(iso, 3)
    assert.are.same({ true, 3 }, { coroutine.resume(co, 3) })
  end)

  it("while suspended the call is busy for close, h:close and exiting its scope, and nothing changes", function()
    local h = sleepy()
    local outer = h:enter_request_scope()
    local iso = lexrt.isolate({ handler = h, name = "api", source = "return function(x) return time.sleep(x) end" })
    local co = start(iso, 1)
    assert.are.equal(2, h:stats().depth)
    local ok, e = pcall(iso.close, iso)
    assert.is_false(ok)
    assert.matches("isolate busy", e)
    ok, e = pcall(h.close, h)
    assert.is_false(ok)
    assert.matches("isolate busy", e)
    ok, e = pcall(h.exit_request_scope, h, outer)
    assert.is_false(ok)
    assert.matches("isolate busy", e)
    assert.are.equal(2, h:stats().depth)
    assert.is_false(iso:is_closed())
    assert.are.same({ true, "done" }, { coroutine.resume(co, "done") })
    assert.are.equal(1, h:stats().depth)
    assert.is_true(h:exit_request_scope(outer))
    iso:close()
    h:close()
  end)

  it("calls finish in any order, and the handler's scope counts stay exact", function()
    local h = sleepy()
    local iso = lexrt.isolate({ handler = h, instances = 3, source = "return function(x) return time.sleep(x) end" })
    for _, order in ipairs({ { 1, 2, 3 }, { 3, 2, 1 }, { 2, 1, 3 }, { 1, 3, 2 } }) do
      local cos = {}
      for i = 1, 3 do
        cos[i] = start(iso, i)
      end
      local before = h:stats().depth
      for k, i in ipairs(order) do
        assert.are.same({ true, i * 10 }, { coroutine.resume(cos[i], i * 10) })
        assert.are.equal(before - k, h:stats().depth)
      end
    end
    local s = h:stats()
    assert.are.equal(0, s.depth)
    assert.are.equal(s.scopes_entered, s.scopes_exited)
    assert.are.equal(0, s.pages_live)
  end)

  it("an effect called from a coroutine inside the isolate cannot yield, and says so inside", function()
    local iso = lexrt.isolate({ handler = sleepy(), source = [[
      return function()
        local co = coroutine.create(function() return time.sleep(1) end)
        local ok, e = coroutine.resume(co)
        local ok2, e2 = pcall(table.sort, { 2, 1 }, function(a, b) time.sleep(0) return a < b end)
        return ok, e, ok2, e2, coroutine.isyieldable()
      end ]] })
    local co, res = start(iso)
    assert.is_true(res[1])
    assert.is_false(res[2])
    assert.matches("cannot yield", res[3], 1, true)
    assert.is_false(res[4])
    assert.matches("cannot yield", res[5], 1, true)
    assert.is_false(res[6]) -- the request function is the isolate's main thread to its code
    assert.are.equal("dead", coroutine.status(co))
  end)

  it("coroutine.yield in the request function itself raises, as on a main thread", function()
    local iso = lexrt.isolate({ handler = sleepy(), source = [[
      return function() return pcall(coroutine.yield, 1) end ]] })
    local _, res = start(iso)
    assert.are.same({ true, false, "attempt to yield from outside a coroutine", n = 3 }, res)
  end)

  it("on the main thread an effect that yields fails with a clear error", function()
    local h = sleepy()
    local iso = lexrt.isolate({ handler = h, source = "return function() return time.sleep(1) end" })
    local ok, e = pcall(iso.call, iso)
    assert.is_false(ok)
    assert.matches("cannot yield: time.sleep waited, but iso:call is not running in a host coroutine", e, 1, true)
    assert.are.equal(0, h:stats().depth)
  end)

  it("suspended time does not count against max_instructions; the call's own work does", function()
    local iso = lexrt.isolate({ handler = sleepy(), max_instructions = 20000, source = [[
      return function(spin)
        for i = 1, 200 do time.sleep(i) end
        if spin then while true do end end
        return "done"
      end ]] })
    local co = start(iso, false)
    local res
    for _ = 1, 200 do
      res = table.pack(coroutine.resume(co, 0))
    end
    assert.are.same({ true, "done", n = 2 }, res)
    co = start(iso, true)
    for _ = 1, 200 do
      res = table.pack(coroutine.resume(co, 0))
    end
    assert.is_false(res[1])
    assert.matches("instruction budget exceeded", res[2])
  end)

  it("max_bytes holds across suspensions", function()
    local h = sleepy()
    local iso = lexrt.isolate({ handler = h, max_bytes = 1 << 20, source = [[
      return function()
        local t = {}
        for i = 1, 100 do t[i] = ("x"):rep(64 * 1024) .. i time.sleep(i) end
        return #t
      end ]] })
    local co, res = start(iso)
    while coroutine.status(co) == "suspended" do
      res = table.pack(coroutine.resume(co, 0))
    end
    assert.is_false(res[1])
    assert.matches("not enough memory", res[2])
    assert.are.equal(0, h:stats().pages_live)
  end)

  it("stats count calls per isolate, and instances and in_flight at each step", function()
    local iso = lexrt.isolate({ handler = sleepy(), instances = 2, source = "return function(x) return time.sleep(x) end" })
    local s = iso:stats()
    assert.are.same({ 1, 0, 0 }, { s.instances, s.in_flight, s.calls })
    local a = start(iso, 1)
    s = iso:stats()
    assert.are.same({ 1, 1, 0 }, { s.instances, s.in_flight, s.calls })
    local b = start(iso, 2)
    s = iso:stats()
    assert.are.same({ 2, 2, 0 }, { s.instances, s.in_flight, s.calls })
    coroutine.resume(a, 1)
    coroutine.resume(b, 2)
    s = iso:stats()
    assert.are.same({ 2, 0, 2 }, { s.instances, s.in_flight, s.calls })
  end)

  it("iso:call from inside its own effect is still refused as busy", function()
    local iso
    local h = sleepy({ again = function() return iso:call(false) end })
    iso = lexrt.isolate({ handler = h, instances = 2, name = "api", source = [[
      return function(nest) if nest then return time.again() end return "inner" end ]] })
    local _, res = start(iso, true)
    assert.is_false(res[1])
    assert.matches("isolate busy: api is running a call", res[2], 1, true)
    assert.are.equal(0, h:stats().depth)
  end)

  describe("with finalisers running while a call resumes", function()
    local cases = require("spec.reentrancy_cases")
    local function suspended(iso, x)
      local co = coroutine.create(function() return iso:call(x) end)
      assert(coroutine.resume(co))
      return co
    end
    local SOURCE = "return function(x) local r = time.sleep(x) local t = {} for i = 1, 50 do t[i] = r .. i end return t end"

    for _, case in ipairs({
      { "closes the isolate", function(env) pcall(env.iso.close, env.iso) end },
      { "closes the handler", function(env) pcall(env.h.close, env.h) end },
      { "calls the isolate again", function(env) pcall(env.iso.call, env.iso, 1) end },
      { "closes another suspended call", function(env) coroutine.close(env.other) end },
      { "starts another call that suspends", function(env)
        env.third = coroutine.create(function() return env.iso:call(3) end)
        coroutine.resume(env.third)
      end },
    }) do
      it("that " .. case[1] .. ": the call finishes right, and everything comes back", function()
        local h = sleepy()
        local iso = lexrt.isolate({ handler = h, instances = 3, source = SOURCE })
        local env = { h = h, iso = iso }
        local co = suspended(iso, 1)
        env.other = suspended(iso, 2)
        -- The finaliser runs on the resumed coroutine, whose stack does
        -- not show coroutine.resume: a flag tells whether it ran during it.
        local _, res = cases.fire_inside(coroutine.resume, function()
          env.during = env.resuming
          case[2](env)
        end, function()
          env.resuming = true
          local r = table.pack(coroutine.resume(co, "r"))
          env.resuming = false
          return table.unpack(r, 1, r.n)
        end)
        assert.is_true(env.during, "the finaliser ran while the call resumed")
        assert.is_true(res[1])
        assert.is_true(res[2], tostring(res[3]))
        assert.are.equal(50, #res[3])
        assert.are.equal("r50", res[3][50])
        for _, c in ipairs({ env.other, env.third }) do
          if coroutine.status(c) == "suspended" then
            coroutine.close(c)
          end
        end
        assert.are.equal(0, iso:stats().in_flight)
        assert.are.equal(0, h:stats().depth)
        assert.are.equal(0, h:stats().pages_live)
      end)
    end
  end)
end)

describe("lexrt.isolate's instances option", function()
  it("is refused unless an integer in 1..4096", function()
    for _, case in ipairs({ { 0, "instances must be an integer >= 1, got 0" }, { 1.5, "instances must be an integer >= 1, got 1.5" },
      { "2", "instances must be an integer >= 1, got 2" }, { 5000, "instances must be an integer in 1..4096, got 5000" } }) do
      local ok, e = pcall(lexrt.isolate, { source = "return function() end", instances = case[1] })
      assert.is_false(ok)
      assert.are.equal("bad argument #1 to 'isolate' (" .. case[2] .. ")", e)
    end
  end)
end)
