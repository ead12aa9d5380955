-- README's requests-in-flight example, runnable: three requests in flight
-- on one isolate, each waiting in a time.sleep effect that yields to a
-- scheduler of a dozen lines. The clock is virtual, so the order is the
-- same on any machine. spec/docs_spec.lua checks that README.md quotes it
-- line for line and that it prints what its --> comments say.
--
--   lua5.4 examples/sleep_scheduler.lua      (after make build; see README)
local lexrt = require("lexrt")

local h <close> = lexrt.handler{
  policy  = lexrt.policy{ allow_effects = { "time" } },
  effects = { time = { sleep = function(s) return coroutine.yield(s) end } },  -- waits in the host
}
local iso <close> = lexrt.isolate{
  handler = h, instances = 3,           -- up to 3 calls in flight, each on an instance of its own
  source = [[
    return function(name, naps)
      local woke = {}
      for _, s in ipairs(naps) do woke[#woke + 1] = time.sleep(s) end   -- suspends this call only
      return name .. " woke at " .. table.concat(woke, ",")
    end
  ]],
}

-- The scheduler: a virtual clock and the calls waiting on it.
local now, waiting, done = 0, {}, {}
local function run(co, ...)
  local ok, s = coroutine.resume(co, ...)
  assert(ok, s)
  if coroutine.status(co) == "dead" then done[#done + 1] = s return end
  waiting[#waiting + 1] = { at = now + s, co = co }   -- iso:call yielded what time.sleep yielded
end
for name, naps in pairs({ a = { 3, 1 }, b = { 1, 1, 1 }, c = { 2 } }) do
  run(coroutine.create(function() return iso:call(name, naps) end))
end
print(iso:stats().in_flight, h:stats().depth)                 --> 3  3
while #waiting > 0 do
  table.sort(waiting, function(x, y) return x.at < y.at end)
  local w = table.remove(waiting, 1)
  now = w.at
  run(w.co, now)                                              -- time.sleep returns the time it woke
end
table.sort(done)
print(table.concat(done, "; "))                               --> a woke at 3,4; b woke at 1,2,3; c woke at 2
print(iso:stats().in_flight, h:stats().depth, h:stats().pages_live)   --> 0  0  0
