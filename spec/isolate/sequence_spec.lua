-- Isolates under a seeded random sequence of calls, errors and budget
-- stops: every call of one long-lived isolate must give exactly what the
-- same call gives in a freshly built isolate, whatever came before it.
local lexrt = require("lexrt")
local Rng = require("lexrt.experiment.rng")
local support = require("spec.support")

-- Every kind of call touches the image's state before it ends, however
-- it ends, so that anything surviving a call would show in the next.
local SOURCE = [[
  local counter = 0
  local store = { list = { 1, 2, 3 }, map = { a = 1 } }
  shared = 10
  local function touch(x)
    counter = counter + 1
    shared = shared + x
    store.list[#store.list + 1] = x
    store.map["k" .. x] = x
    string.extra = x
    getmetatable("").__index = { len = function() return -1 end }
  end
  local function fib(n) if n < 2 then return n end return fib(n - 1) + fib(n - 2) end
  return function(op, x)
    local before = { counter, shared, #store.list, store.map.a, string.extra, ("abc"):len(), leaked }
    touch(x)
    leaked = x
    if op == "compute" then
      local t = {}
      for i = 1, x do t[i] = i * x end
      return before, #t, fib(x % 15), table.concat(t, ",", 1, math.min(x, 5))
    elseif op == "error" then
      error({ op = op, x = x, before = before })
    elseif op == "memory" then
      local t = {}
      while true do t[#t + 1] = ("m"):rep(x + 100) .. #t end
    elseif op == "loop" then
      local n = 0
      while true do n = n + 1 end
    elseif op == "catchloop" then
      while true do pcall(function() while true do end end) end
    elseif op == "coroutine" then
      local co = coroutine.wrap(function() for i = 1, x do coroutine.yield(i * i) end end)
      local sum = 0
      for _ = 1, x do sum = sum + co() end
      return before, sum
    elseif op == "effect" then
      return before, io.echo({ x = x, list = { x, x + 1 } })
    elseif op == "refused" then
      return before, fs_read.read("/etc/shadow")
    elseif op == "deep" then
      local function down(n) if n == 0 then return 0 end return 1 + down(n - 1) end
      return before, down(x * 100)
    end
    return before
  end
]]

local OPS = { "compute", "error", "memory", "loop", "catchloop", "coroutine", "effect", "refused", "deep" }

local function new_handler()
  return lexrt.handler({
    policy = lexrt.policy({ allow_effects = { "io", "fs_read" }, allow_fs_read = { "/srv" } }),
    effects = {
      io = { echo = function(t) return { got = t.x, sum = t.list[1] + t.list[2] } end },
      fs_read = { read = function() return "secret" end },
    },
  })
end

local function build(h)
  return lexrt.isolate({ source = SOURCE, handler = h, max_bytes = 512 * 1024, max_instructions = 200000 })
end

-- A call's outcome as plain data: ok flag and values, or the error
-- (violation tables by kind, other tables as they are).
local function outcome(iso, op, x)
  local r = table.pack(pcall(iso.call, iso, op, x))
  if not r[1] and lexrt.policy.is_violation(r[2]) then
    r[2] = { violation = r[2].kind, path = r[2].path }
  end
  return r
end

describe("an isolate under a random sequence of calls", function()
  for _, seed in ipairs({ 1, 2, 3 }) do
    it("matches a fresh isolate call for call (seed " .. seed .. ")", function()
      local h = new_handler()
      local long = build(h)
      local fresh_h = new_handler()
      local n = support.UNDER_CHECKER and 60 or 300
      local failures = 0
      for i = 1, n do
        local rng = Rng.new(seed, i)
        local op, x = rng:pick(OPS), rng:int(1, 40)
        local got = outcome(long, op, x)
        local fresh = build(fresh_h)
        local want = outcome(fresh, op, x)
        fresh:close()
        assert.are.same(want, got, ("call %d: %s(%d)"):format(i, op, x))
        if not got[1] then
          failures = failures + 1
        end
        assert.are.equal(0, h:stats().pages_live)
        assert.are.equal(0, h:stats().depth)
      end
      local s = long:stats()
      assert.are.equal(n, s.calls)
      assert.are.equal(failures, s.errors)
      assert.are.equal(n, s.restores)
    end)
  end
end)
