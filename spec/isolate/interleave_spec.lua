-- Calls in flight in random interleavings: started, resumed with values,
-- closed, dropped and collected, refused, in any order. Each finished
-- call's results are checked against what the request function computes,
-- and after every step the isolate and the handler agree on what is in
-- flight; at the end everything is given back. Seeded: a failure names
-- the seed and the step that broke.
local lexrt = require("lexrt")

local SOURCE = [[
  local img = {}
  for i = 1, 200 do img[i] = ("x"):rep(i) end
  return function(x, n)
    assert(g == nil, "a global from another call")
    g = x
    local acc = 0
    for i = 1, n do
      acc = acc + time.sleep(i)
      if i % 3 == 0 then assert(time.now() == 42) end
      if i % 5 == 0 then assert(not pcall(time.boom)) end
      if i % 7 == 0 then time.gc() end
      local t = {}
      for j = 1, 50 do t[j] = img[j] .. j end
    end
    if n == 13 then while true do end end
    if n == 11 then error({ code = 11 }) end
    return x, n, acc, g
  end
]]

local function setup()
  local h = lexrt.handler({
    effects = { time = {
      sleep = function(i) return coroutine.yield("sleep", i) end,
      now = function() return 42 end,
      boom = function() error("boom") end,
      gc = function() collectgarbage("step", 0) return 1 end,
    } },
    policy = lexrt.policy({ allow_effects = { "time" } }),
  })
  local iso = lexrt.isolate({ handler = h, instances = 3, max_instructions = 200000, source = SOURCE })
  return h, iso
end

-- A call in flight: its coroutine and what its results must be.
local function start(iso, x, n)
  local call = { x = x, n = n, acc = 0 }
  call.co = coroutine.create(function() return iso:call(x, n) end)
  return call
end

local function check_end(call, ok, ...)
  local where = ("call(%d, %d)"):format(call.x, call.n)
  if call.n == 13 then
    assert(not ok and tostring(...):find("instruction budget exceeded", 1, true), where)
  elseif call.n == 11 then
    assert(not ok and type(...) == "table" and (...).code == 11, where)
  else
    assert(ok, where .. ": " .. tostring(...))
    local x, n, acc, g = ...
    assert(x == call.x and n == call.n and acc == call.acc and g == call.x, where .. ": wrong results")
  end
end

-- Resumes a call with `v` as its effect's result; true when it ended.
local function step_call(call, v)
  local res = table.pack(coroutine.resume(call.co, v))
  call.acc = call.acc + v
  if coroutine.status(call.co) == "suspended" then
    return false
  end
  check_end(call, table.unpack(res, 1, res.n))
  return true
end

local function run(seed, steps)
  math.randomseed(seed)
  local h, iso = setup()
  local flying, finished = {}, 0
  for step = 1, steps do
    local r = math.random(10)
    if r <= 3 then
      local call = start(iso, math.random(100), math.random(0, 14))
      local res = table.pack(coroutine.resume(call.co))
      if coroutine.status(call.co) == "suspended" then
        flying[#flying + 1] = call
      elseif #flying == 3 then
        assert(not res[1] and tostring(res[2]):find("isolate busy: all 3 instances are running a call", 1, true),
          tostring(res[2]))
      else
        check_end(call, table.unpack(res, 1, res.n))
        finished = finished + 1
      end
    elseif r <= 7 and #flying > 0 then
      local i = math.random(#flying)
      if step_call(flying[i], math.random(5)) then
        table.remove(flying, i)
        finished = finished + 1
      end
    elseif r == 8 and #flying > 0 then
      assert(coroutine.close(table.remove(flying, math.random(#flying)).co))
    elseif r == 9 and #flying > 0 then
      table.remove(flying, math.random(#flying))
      collectgarbage()
      collectgarbage()
    else
      -- On the main thread an effect cannot wait: such a call raises.
      local n = math.random(0, 2)
      local ok, e = pcall(iso.call, iso, 1, n)
      assert(ok == (n == 0 and #flying < 3), tostring(e))
      if n > 0 and #flying < 3 then
        assert(tostring(e):find("cannot yield", 1, true), tostring(e))
      end
      if #flying > 0 then
        assert(not pcall(iso.close, iso), "closed with calls in flight")
        assert(not pcall(h.close, h), "handler closed with calls in flight")
      end
    end
    collectgarbage("step", 0)
    local s = iso:stats()
    assert(s.in_flight == #flying, ("seed %d step %d: in_flight %d, %d coroutines"):format(seed, step, s.in_flight, #flying))
    assert(h:stats().depth == #flying, ("seed %d step %d: depth"):format(seed, step))
  end
  for _, call in ipairs(flying) do
    coroutine.close(call.co)
  end
  collectgarbage()
  collectgarbage()
  return h, iso, finished
end

describe("lexrt.isolate calls in flight, interleaved at random", function()
  for _, seed in ipairs({ 1, 2, 3, 4 }) do
    it("seed " .. seed .. ": results right, everything back at the end", function()
      local h, iso, finished = run(seed, 1500)
      local s, hs = iso:stats(), h:stats()
      assert.is_true(finished > 40, "finished: " .. finished)
      assert.are.equal(0, s.in_flight)
      assert.are.equal(3, s.instances)
      assert.are.equal(0, hs.depth)
      assert.are.equal(0, hs.pages_live)
      assert.are.equal(hs.scopes_entered, hs.scopes_exited)
    end)
  end
end)
