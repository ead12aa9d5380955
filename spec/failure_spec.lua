-- Allocation failure: core._fail_after(n) makes lexrt's (n+1)-th request
-- to the system fail. Every public operation must then raise exactly
-- "not enough memory" and leave its objects usable and consistent.
local lexrt = require("lexrt")
local core = require("lexrt.core")

-- Runs op under a failure after n system allocations, for n = 0, 1, ...
-- until op succeeds; checks every failure's message and runs `after`
-- (which must succeed) following each attempt. Returns how many failed.
local function under_failures(op, after)
  local failures = 0
  for n = 0, 50 do
    core._fail_after(n)
    local ok, e = pcall(op)
    core._fail_after(-1)
    if not ok then
      assert.are.equal("not enough memory", e)
      failures = failures + 1
    end
    after()
    if ok then
      return failures
    end
  end
  error("operation never succeeded")
end

describe("when the system refuses memory", function()
  after_each(function() core._fail_after(-1) end)

  it("lexrt.arena raises and the next one works", function()
    local n = under_failures(function() return lexrt.arena() end, function()
      local a = lexrt.arena()
      assert.are.equal("x", a:read(a:put("x")))
    end)
    assert.is_true(n >= 1)
  end)

  it("alloc, put and large allocs raise and leave the arena consistent", function()
    local a = lexrt.arena({ page_size = 4096 })
    local keep = a:put("kept")
    local ops = {
      function() return a:alloc(4090) end,         -- a new page
      function() return a:put(("p"):rep(3000)) end,
      function() return a:alloc(100000) end,       -- a chunk
    }
    for _, op in ipairs(ops) do
      local before = a:stats()
      local n = under_failures(op, function()
        assert.are.equal("kept", a:read(keep))
      end)
      assert.is_true(n >= 1)
      local s = a:stats()
      assert.are.equal(before.allocs + 1, s.allocs)
    end
  end)

  it("the block table's growth raises and keeps every earlier handle", function()
    local a = lexrt.arena()
    local hs = {}
    for i = 1, 64 do hs[i] = a:put(tostring(i)) end -- fills the first table
    local n = under_failures(function() return a:put("65") end, function()
      for i = 1, 64 do assert.are.equal(tostring(i), a:read(hs[i])) end
    end)
    assert.is_true(n >= 1)
    assert.are.equal(65, a:stats().allocs)
  end)

  it("lexrt.handler takes nothing from the system, so it cannot fail that way", function()
    -- The pool's page table grows as pages come back, not up front.
    local n = under_failures(function() return lexrt.handler() end, function()
      assert.are.equal(1, lexrt.handler():with_scope(function() return 1 end))
    end)
    assert.are.equal(0, n)
  end)

  it("a pool whose page table cannot grow frees the page instead", function()
    local h = lexrt.handler({ page_size = 4096 })
    local fail_at_exit = function(a)
      a:alloc(100)
      core._fail_after(0) -- the exit's give-back wants a bigger page table
    end
    h:with_scope(fail_at_exit)
    core._fail_after(-1)
    local s = h:stats()
    assert.are.equal(0, s.pages_live)
    assert.are.equal(0, s.pages_pooled)
    h:with_scope(function(a) a:alloc(100) end)
    assert.are.equal(core.RECYCLING and 1 or 0, h:stats().pages_pooled)
  end)

  it("enter_request_scope and with_scope raise without leaving a scope open", function()
    local h = lexrt.handler({ pool_pages = 0 })
    for _, op in ipairs({
      function() return h:enter_request_scope() end,
      function() return h:with_scope(function(a) a:alloc(10) end) end,
    }) do
      under_failures(op, function()
        assert.is_true(h:arena_stack_depth() <= 1)
      end)
      while h:arena_stack_depth() > 0 do h:exit_request_scope(h:stats().scopes_entered) end
      local s = h:stats()
      assert.are.equal(0, s.pages_live)
      assert.are.equal(s.scopes_entered, s.scopes_exited)
    end
  end)

  it("a scope's allocation raises and the scope still exits cleanly", function()
    local h = lexrt.handler()
    local n = under_failures(function()
      return h:with_scope(function(a) a:alloc(100) end)
    end, function()
      assert.are.equal(0, h:arena_stack_depth())
      assert.are.equal(0, h:stats().pages_live)
    end)
    assert.is_true(n >= 1)
  end)

  it("serve records the failures and goes on", function()
    local h = lexrt.handler({ pool_pages = 0 })
    local calls = 0
    local summary = lexrt.serve(h, { 1, 2, 3 }, function(r, handler)
      calls = calls + 1
      if r == 2 then core._fail_after(0) end
      local ok, e = pcall(handler:active_arena().alloc, handler:active_arena(), 10)
      core._fail_after(-1)
      if not ok then error(e, 0) end
      return r
    end)
    assert.are.equal(3, calls)
    assert.are.equal(1, summary.failed)
    assert.are.equal("not enough memory", summary.errors[1])
    assert.are.equal(0, h:stats().pages_live)
  end)

  it("spawn_for_worker raises and the parent stays usable", function()
    local h = lexrt.handler()
    under_failures(function() return h:spawn_for_worker():with_scope(function(a) a:alloc(1) end) end,
      function() assert.are.equal(2, h:with_scope(function() return 2 end)) end)
  end)
end)
