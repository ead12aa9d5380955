-- Finalisers that run inside iso:call, before the call has pinned its
-- memory: what they do to the isolate or its handler must end in a clean
-- error or a correct call, never in memory misuse (make check's ASan and
-- valgrind runs watch these). The technique is spec/reentrancy_cases.lua's:
-- a stopped generational collector, restarted by a call hook as iso.call
-- is entered, runs a pending finaliser at the call's first allocation.
local lexrt = require("lexrt")

-- The finaliser's record is dropped: only the call's outcome matters here.
local function fire_inside(target, action, f)
  local _, res = require("spec.reentrancy_cases").fire_inside(target, action, f)
  return res
end

local SOURCE = "return function(x) local t = {} for i = 1, 100 do t[i] = x .. i end return #t end"

describe("a finaliser running inside iso:call", function()
  it("that closes the isolate makes the call raise 'isolate is closed' and leaks nothing", function()
    local h = lexrt.handler()
    local iso = lexrt.isolate({ source = SOURCE, handler = h })
    local res = fire_inside(iso.call, function() iso:close() end, function() return iso:call("x") end)
    assert.is_false(res[1])
    assert.matches("isolate is closed", res[2])
    assert.is_true(iso:is_closed())
    assert.are.equal(0, h:stats().depth)
    assert.are.equal(0, h:stats().pages_live)
  end)

  it("that closes the handler makes the call raise 'handler is closed'", function()
    local h = lexrt.handler()
    local iso = lexrt.isolate({ source = SOURCE, handler = h })
    local res = fire_inside(iso.call, function() h:close() end, function() return iso:call("x") end)
    assert.is_false(res[1])
    assert.matches("handler is closed", res[2])
    assert.is_true(h:is_closed())
  end)

  it("that makes a whole call of its own lets both calls finish correctly", function()
    local h = lexrt.handler()
    local iso = lexrt.isolate({ source = SOURCE, handler = h })
    local inner
    local res = fire_inside(iso.call, function() inner = iso:call("y") end, function() return iso:call("x") end)
    assert.is_true(res[1], tostring(res[2]))
    assert.are.equal(100, res[2])
    assert.are.equal(100, inner)
    assert.are.equal(2, iso:stats().calls)
    assert.are.equal(0, h:stats().pages_live)
  end)
end)
