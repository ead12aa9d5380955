-- The default effect handler: API.md "Effect handler", and the upstream
-- lifecycle cases from UPSTREAM.md.
local lexrt = require("lexrt")
local support = require("spec.support")
local err_of = support.err_of
local rss_kib, UNDER_CHECKER = support.rss_kib, support.UNDER_CHECKER
local core = require("lexrt.core")

describe("lexrt.handler", function()
  describe("upstream lifecycle", function()
    it("an empty handler has no active arena and depth 0", function()
      local h = lexrt.handler()
      assert.is_nil(h:active_arena())
      assert.are.equal(0, h:arena_stack_depth())
    end)

    it("enter pushes and exit pops", function()
      local h = lexrt.handler()
      local id = h:enter_request_scope()
      assert.are.equal(1, h:arena_stack_depth())
      assert.is_not_nil(h:active_arena())
      assert.is_true(h:exit_request_scope(id))
      assert.are.equal(0, h:arena_stack_depth())
      assert.is_nil(h:active_arena())
    end)

    it("nested scopes unwind in order and the active arena is always the innermost", function()
      local h = lexrt.handler()
      local ids, arenas = {}, {}
      for i = 1, 3 do
        ids[i] = h:enter_request_scope()
        arenas[i] = h:active_arena()
        assert.are.equal(i, h:arena_stack_depth())
      end
      assert.are_not.equal(arenas[1], arenas[2])
      assert.are_not.equal(arenas[2], arenas[3])
      for i = 3, 1, -1 do
        assert.are.equal(arenas[i], h:active_arena())
        h:exit_request_scope(ids[i])
        assert.is_true(arenas[i]:is_closed())
        assert.are.equal(i - 1, h:arena_stack_depth())
      end
    end)

    it("returns the same arena object for as long as the scope is open", function()
      local h = lexrt.handler()
      h:enter_request_scope()
      local a = h:active_arena()
      a:alloc(10)
      assert.are.equal(a, h:active_arena())
      assert.are.equal(10, h:active_arena():bytes_allocated())
    end)

    it("an out-of-order exit truncates every scope entered after it", function()
      local h = lexrt.handler()
      local id1 = h:enter_request_scope()
      local a1 = h:active_arena()
      local id2 = h:enter_request_scope()
      local a2 = h:active_arena()
      h:enter_request_scope()
      local a3 = h:active_arena()
      assert.is_true(h:exit_request_scope(id2))
      assert.are.equal(1, h:arena_stack_depth())
      assert.are.equal(a1, h:active_arena())
      assert.is_true(a2:is_closed())
      assert.is_true(a3:is_closed())
      assert.is_false(a1:is_closed())
      assert.is_true(h:exit_request_scope(id1))
    end)

    it("ignores unknown and already-exited ids", function()
      local h = lexrt.handler()
      local id = h:enter_request_scope()
      assert.is_false(h:exit_request_scope(id + 100))
      assert.is_false(h:exit_request_scope(0))
      assert.is_false(h:exit_request_scope(-5))
      assert.is_false(h:exit_request_scope(math.maxinteger))
      assert.are.equal(1, h:arena_stack_depth())
      assert.is_true(h:exit_request_scope(id))
      assert.is_false(h:exit_request_scope(id))
      assert.are.equal(0, h:arena_stack_depth())
    end)

    it("raises an argument error for a non-integer id", function()
      local h = lexrt.handler()
      h:enter_request_scope()
      assert.matches("number expected, got string", err_of(function() return h:exit_request_scope("1") end))
      assert.matches("no integer representation", err_of(function() return h:exit_request_scope(1.5) end))
      assert.matches("bad argument #1 to 'exit_request_scope'", err_of(function() return h:exit_request_scope(nil) end))
      assert.are.equal(1, h:arena_stack_depth())
    end)

    it("never reuses ids, which strictly increase from 1", function()
      local h = lexrt.handler()
      local last = 0
      for _ = 1, 100 do
        local id = h:enter_request_scope()
        assert.is_true(id > last)
        last = id
        h:exit_request_scope(id)
      end
      local a = h:enter_request_scope()
      local b = h:enter_request_scope()
      assert.are.equal(101, a)
      assert.are.equal(102, b)
    end)
  end)

  describe("scope arenas", function()
    it("behave as closed and make their handles stale once the scope exits", function()
      local h = lexrt.handler()
      local id = h:enter_request_scope()
      local a = h:active_arena()
      local blk = a:put("request data")
      h:exit_request_scope(id)
      assert.is_true(a:is_closed())
      assert.matches("arena is closed", err_of(a.read, a, blk))
      h:enter_request_scope()
      local b = h:active_arena()
      b:put("next request")
      assert.matches("stale or foreign arena handle", err_of(b.read, b, blk))
    end)

    it("take page_size and max_bytes from the handler", function()
      local h = lexrt.handler({ page_size = 4096, max_bytes = 1000 })
      h:with_scope(function(a)
        assert.are.equal(4096, a:stats().page_size)
        a:alloc(1000)
        assert.matches("max_bytes", err_of(a.alloc, a, 1))
      end)
    end)

    it("may be closed by the script before the scope exits", function()
      local h = lexrt.handler()
      local id = h:enter_request_scope()
      h:active_arena():alloc(10)
      h:active_arena():close()
      assert.is_true(h:exit_request_scope(id))
      assert.are.equal(0, h:stats().pages_live)
    end)
  end)

  describe("the page pool", function()
    it("recycles a scope's pages into the next scope", function()
      local h = lexrt.handler()
      h:with_scope(function(a) a:alloc(1000) end)
      local s = h:stats()
      assert.are.equal(0, s.pages_live)
      assert.are.equal(1, s.pages_from_system)
      h:with_scope(function(a) a:alloc(1000) end)
      s = h:stats()
      if core.RECYCLING then
        assert.are.equal(1, s.pages_from_system)
        assert.are.equal(1, s.pages_reused)
        assert.are.equal(1, s.pages_pooled)
      end
    end)

    it("shows live pages while scopes are open", function()
      local h = lexrt.handler({ page_size = 4096 })
      h:with_scope(function(a)
        for _ = 1, 5 do a:alloc(3000) end
        assert.are.equal(5, h:stats().pages_live)
      end)
      assert.are.equal(0, h:stats().pages_live)
    end)

    it("is bounded by pool_pages, handing the surplus back to the system", function()
      local h = lexrt.handler({ page_size = 4096, pool_pages = 2 })
      h:with_scope(function(a)
        for _ = 1, 6 do a:alloc(4000) end
      end)
      local s = h:stats()
      assert.are.equal(0, s.pages_live)
      assert.is_true(s.pages_pooled <= 2)
    end)

    it("refuses pool_pages past 1048576 instead of sizing a pool with it", function()
      assert.matches("bad argument #1 to 'handler' %(pool_pages must be an integer from 0 to 1048576, "
        .. "got 2305843009213693952%)$", err_of(lexrt.handler, { pool_pages = 1 << 61 }))
      assert.matches("got 1048577%)", err_of(lexrt.handler, { pool_pages = 1048577 }))
      assert.matches("got 1.5%)", err_of(lexrt.handler, { pool_pages = 1.5 }))
      assert.matches("got string%)", err_of(lexrt.handler, { pool_pages = "8" }))
    end)

    it("accepts pool_pages up to 1048576 and pools within that bound", function()
      local h = lexrt.handler({ page_size = 4096, pool_pages = 1048576 })
      for _ = 1, 3 do
        h:with_scope(function(a)
          for _ = 1, 40 do a:alloc(4000) end
        end)
      end
      local s = h:stats()
      assert.are.equal(0, s.pages_live)
      assert.are.equal(core.RECYCLING and 1048576 or 0, s.pool_pages)
      assert.are.equal(core.RECYCLING and 40 or 0, s.pages_pooled)
      h:close()
    end)

    it("takes no page from the system in steady state", function()
      local h = lexrt.handler()
      local function request(a)
        for i = 1, 300 do a:put(("item %d "):format(i):rep(8)) end
        a:alloc(100 * 1024) -- a large block, kept for reuse too
      end
      for _ = 1, 10 do h:with_scope(request) end
      local warm = h:stats()
      local sys_before = core._sys_allocations()
      for _ = 1, 200 do h:with_scope(request) end
      local s = h:stats()
      assert.are.equal(0, s.pages_live)
      if core.RECYCLING then
        assert.are.equal(warm.pages_from_system, s.pages_from_system)
        assert.are.equal(warm.chunks_from_system, s.chunks_from_system)
        assert.are.equal(sys_before, core._sys_allocations())
      end
    end)

    it("leaves pages_live at 0 and resident memory flat over 100 000 requests", function()
      local h = lexrt.handler()
      local function request(a, _, i)
        a:put(("response body %d"):format(i))
        a:alloc(512)
      end
      for i = 1, 5000 do h:with_scope(request, i) end
      collectgarbage()
      local before = rss_kib()
      for i = 1, 100000 do h:with_scope(request, i) end
      collectgarbage()
      local grown = rss_kib() - before
      local s = h:stats()
      assert.are.equal(0, s.pages_live)
      assert.are.equal(105000, s.scopes_exited)
      if not UNDER_CHECKER then
        assert.is_true(grown < 2048, "resident memory grew by " .. grown .. " KiB")
      end
    end)
  end)

  describe("with_scope", function()
    it("passes the arena, the id and extra arguments, and returns fn's results", function()
      local h = lexrt.handler()
      local r1, r2, r3 = h:with_scope(function(a, id, x, y)
        assert.are.equal(a, h:active_arena())
        assert.are.equal("integer", math.type(id))
        return x + y, id, nil
      end, 2, 3)
      assert.are.equal(5, r1)
      assert.are.equal(1, r2)
      assert.is_nil(r3)
      assert.are.equal(0, h:arena_stack_depth())
    end)

    it("exits the scope and re-raises the error unchanged when fn raises", function()
      local h = lexrt.handler()
      local thrown = { code = 42 }
      local arena
      local ok, e = pcall(h.with_scope, h, function(a)
        arena = a
        error(thrown)
      end)
      assert.is_false(ok)
      assert.are.equal(thrown, e)
      assert.are.equal(0, h:arena_stack_depth())
      assert.is_true(arena:is_closed())
      local _, msg = pcall(h.with_scope, h, function() error("plain", 0) end)
      assert.are.equal("plain", msg)
      local _, withpos = pcall(h.with_scope, h, function() error("here") end)
      assert.matches("^.-handler_spec%.lua:%d+: here$", withpos)
    end)

    it("refuses a non-function", function()
      local h = lexrt.handler()
      assert.matches("bad argument #1 to 'with_scope' %(function expected, got number%)",
        err_of(function() return h:with_scope(5) end))
    end)

    it("nests", function()
      local h = lexrt.handler()
      h:with_scope(function(outer)
        h:with_scope(function(inner)
          assert.are_not.equal(outer, inner)
          assert.are.equal(2, h:arena_stack_depth())
        end)
        assert.are.equal(outer, h:active_arena())
      end)
    end)
  end)

  describe("with_scope in a coroutine", function()
    local function open_scopes(h)
      local s = h:stats()
      return s.depth, s.pages_live
    end

    -- A coroutine that enters `levels` nested scopes, takes a page in
    -- each, and yields from the innermost one.
    local function suspended_inside(h, levels)
      local co = coroutine.create(function()
        local function enter(n)
          return h:with_scope(function(a)
            a:alloc(100)
            if n > 1 then return enter(n - 1) end
            coroutine.yield("inside")
            return "done"
          end)
        end
        return enter(levels)
      end)
      assert.are.same({ true, "inside" }, { coroutine.resume(co) })
      assert.are.same({ levels, levels }, { open_scopes(h) })
      return co
    end

    it("resumes, returns fn's results and exits the scope when the coroutine finishes", function()
      local h = lexrt.handler({ page_size = 4096 })
      local co = suspended_inside(h, 1)
      assert.are.same({ true, "done" }, { coroutine.resume(co) })
      assert.are.same({ 0, 0 }, { open_scopes(h) })
    end)

    it("re-raises fn's error unchanged after a yield and exits the scope", function()
      local h = lexrt.handler({ page_size = 4096 })
      local thrown = { code = 7 }
      local co = coroutine.create(function()
        return h:with_scope(function(a)
          a:alloc(100)
          coroutine.yield()
          error(thrown)
        end)
      end)
      coroutine.resume(co)
      local ok, e = coroutine.resume(co)
      assert.is_false(ok)
      assert.are.equal(thrown, e)
      assert.are.same({ 0, 0 }, { open_scopes(h) })
    end)

    it("exits its scopes when the coroutine is closed while suspended inside fn", function()
      local h = lexrt.handler({ page_size = 4096 })
      local co = suspended_inside(h, 3)
      assert.is_true(coroutine.close(co))
      assert.are.same({ 0, 0 }, { open_scopes(h) })
      local s = h:stats()
      assert.are.equal(s.scopes_entered, s.scopes_exited)
    end)

    it("exits its scopes no later than the collection of a dropped coroutine", function()
      local h = lexrt.handler({ page_size = 4096 })
      for _ = 1, 10 do
        suspended_inside(h, 2)
        collectgarbage()
        collectgarbage()
        assert.are.same({ 0, 0 }, { open_scopes(h) })
      end
      assert.are.equal(20, h:stats().scopes_exited)
    end)

    it("leaves nothing open when the handler is closed before the coroutine", function()
      local h = lexrt.handler({ page_size = 4096 })
      local co = suspended_inside(h, 2)
      h:close()
      assert.is_true(coroutine.close(co))
      -- Dropped at once: collected with its handler, after the other's close.
      suspended_inside(lexrt.handler({ page_size = 4096 }), 1)
      collectgarbage()
      collectgarbage()
      assert.is_true(h:is_closed())
    end)

    it("serves many requests in coroutines with no scope left open", function()
      local h = lexrt.handler({ page_size = 4096 })
      local results = {}
      for i = 1, 50 do
        local co = coroutine.wrap(function()
          return h:with_scope(function(a, _, n)
            local b = a:put(("request %d"):format(n))
            return a:read(b)
          end, i)
        end)
        results[i] = co()
      end
      assert.are.equal("request 50", results[50])
      assert.are.same({ 0, 0 }, { open_scopes(h) })
      assert.are.equal(50, h:stats().scopes_exited)
    end)
  end)

  describe("dispatch", function()
    local calls
    local function handler(grants)
      calls = {}
      return lexrt.handler({
        policy = lexrt.policy(grants),
        effects = {
          io = { print = function(...) calls[#calls + 1] = { ... }; return "printed", select("#", ...) end },
          time = { now = function() return 1234 end },
          fs_read = { open = function(path) return "contents of " .. path end },
          mcp = { call = function(x) return "mcp " .. x end },
          ["mcp:ocpp"] = { call = function(x) return "ocpp " .. x end },
        },
      })
    end

    it("calls the effect function and returns its results when the policy allows", function()
      local h = handler({ allow_effects = { "io" } })
      local r, n = h:dispatch("io", "print", "a", "b")
      assert.are.equal("printed", r)
      assert.are.equal(2, n)
      assert.are.same({ { "a", "b" } }, calls)
    end)

    it("raises an effect_not_allowed violation when the policy does not allow", function()
      local h = handler({ allow_effects = { "io" } })
      local v = err_of(h.dispatch, h, "time", "now")
      assert.are.equal("effect_not_allowed", v.kind)
      assert.are.equal("time.now", v.at)
      assert.matches("^policy violation: effect_not_allowed ", tostring(v))
    end)

    it("refuses every effect under the default pure policy", function()
      local h = lexrt.handler({ effects = { io = { print = print } } })
      assert.are.equal("effect_not_allowed", err_of(h.dispatch, h, "io", "print", "x").kind)
    end)

    it("names kind.op when an allowed effect has no function", function()
      local h = handler({ allow_effects = { "io" } })
      assert.matches("io%.flush", err_of(h.dispatch, h, "io", "flush"))
    end)

    it("routes a parameterised effect to its own table, else to the base kind's", function()
      local h = handler({ allow_effects = { "mcp" } })
      assert.are.equal("ocpp x", h:dispatch("mcp:ocpp", "call", "x"))
      assert.are.equal("mcp y", h:dispatch("mcp:other", "call", "y"))
    end)

    it("allows only the granted parameter", function()
      local h = handler({ allow_effects = { "mcp(ocpp)" } })
      assert.are.equal("ocpp x", h:dispatch("mcp:ocpp", "call", "x"))
      assert.are.equal("effect_not_allowed", err_of(h.dispatch, h, "mcp:other", "call", "y").kind)
      assert.are.equal("effect_not_allowed", err_of(h.dispatch, h, "mcp", "call", "y").kind)
    end)

    it("gates fs paths on the actual call", function()
      local h = handler({ allow_effects = { "fs_read" }, allow_fs_read = { "/srv/data" } })
      assert.are.equal("contents of /srv/data/a.txt", h:dispatch("fs_read", "open", "/srv/data/a.txt"))
      local v = err_of(h.dispatch, h, "fs_read", "open", "/srv/data/../../etc/passwd")
      assert.are.equal("fs_path_not_allowed", v.kind)
      assert.are.equal("/srv/data/../../etc/passwd", v.path)
    end)

    it("refuses non-string kinds and ops", function()
      local h = handler({ allow_effects = { "io" } })
      assert.matches("bad argument #1 to 'dispatch' %(string expected, got nil%)",
        err_of(function() return h:dispatch(nil, "print") end))
      assert.matches("bad argument #2 to 'dispatch' %(string expected, got number%)",
        err_of(function() return h:dispatch("io", 1) end))
    end)
  end)

  describe("note_call_budget", function()
    it("allows reaching the ceiling exactly and refuses passing it without counting", function()
      local h = lexrt.handler({ policy = lexrt.policy({ allow_effects = { "budget" }, budget = 10 }) })
      assert.are.equal(4, h:note_call_budget(4))
      assert.are.equal(10, h:note_call_budget(6))
      local v = err_of(h.note_call_budget, h, 1)
      assert.are.equal("budget_exceeded", v.kind)
      assert.matches("^policy violation: budget_exceeded ", tostring(v))
      assert.are.equal(10, h:note_call_budget(0))
    end)

    it("refuses nothing without a ceiling", function()
      local h = lexrt.handler()
      assert.are.equal(1000000, h:note_call_budget(1000000))
    end)

    it("never wraps the total past the ceiling, however large the spend", function()
      local h = lexrt.handler({ policy = lexrt.policy({ allow_effects = { "budget" }, budget = 10 }) })
      assert.are.equal(1, h:note_call_budget(1))
      local v = err_of(h.note_call_budget, h, math.maxinteger)
      assert.are.equal("budget_exceeded", v.kind)
      assert.are.equal(1, h:note_call_budget(0))
      assert.are.equal("budget_exceeded", err_of(h.note_call_budget, h, 10).kind)
      assert.are.equal(10, h:note_call_budget(9))
    end)

    it("refuses, without a ceiling, a spend that would pass the largest integer", function()
      local h = lexrt.handler()
      assert.are.equal(math.maxinteger - 1, h:note_call_budget(math.maxinteger - 1))
      local v = err_of(h.note_call_budget, h, 2)
      assert.are.equal("budget_exceeded", v.kind)
      assert.matches("math.maxinteger", v.detail)
      assert.are.equal(math.maxinteger, h:note_call_budget(1))
      assert.are.equal("budget_exceeded", err_of(h.note_call_budget, h, 1).kind)
      assert.are.equal(math.maxinteger, h:note_call_budget(0))
    end)

    it("keeps a separate total for each spawned worker", function()
      local h = lexrt.handler({ policy = lexrt.policy({ budget = 5 }) })
      h:note_call_budget(5)
      local w = h:spawn_for_worker()
      assert.are.equal(5, w:note_call_budget(5))
      assert.are.equal("budget_exceeded", err_of(h.note_call_budget, h, 1).kind)
    end)

    it("refuses negative and non-integer costs", function()
      local h = lexrt.handler()
      for _, bad in ipairs({ -1, 1.5, "3", {}, math.huge }) do
        assert.matches("bad argument #1 to 'note_call_budget'", err_of(function() return h:note_call_budget(bad) end))
      end
    end)
  end)

  describe("spawn_for_worker", function()
    it("makes a handler with the same policy and effects and an empty stack", function()
      local h = lexrt.handler({
        policy = lexrt.policy({ allow_effects = { "time" } }),
        effects = { time = { now = function() return 7 end } },
      })
      h:enter_request_scope()
      local w = h:spawn_for_worker()
      assert.are.equal(0, w:arena_stack_depth())
      assert.is_nil(w:active_arena())
      assert.are.equal(7, w:dispatch("time", "now"))
      assert.are.equal("effect_not_allowed", err_of(w.dispatch, w, "io", "print").kind)
      local id = w:enter_request_scope()
      assert.are.equal(1, id)
      assert.are.equal(1, h:arena_stack_depth())
    end)
  end)

  describe("close", function()
    it("exits every scope, is idempotent, and also runs for <close> variables", function()
      local arenas = {}
      local keep
      do
        local h <close> = lexrt.handler()
        keep = h
        for i = 1, 3 do
          h:enter_request_scope()
          arenas[i] = h:active_arena()
        end
      end
      assert.is_true(keep:is_closed())
      keep:close()
      for i = 1, 3 do assert.is_true(arenas[i]:is_closed()) end
      local s = keep:stats()
      assert.are.equal(3, s.scopes_exited)
      assert.are.equal(0, s.depth)
      assert.are.equal(0, s.pages_live)
      assert.matches("handler is closed", err_of(keep.enter_request_scope, keep))
      assert.are.equal("lexrt.handler (closed)", tostring(keep))
    end)

    it("is safe when the collector takes handlers with open scopes", function()
      for _ = 1, 2000 do
        local h = lexrt.handler({ page_size = 4096 })
        h:enter_request_scope()
        h:active_arena():alloc(100)
        local w = h:spawn_for_worker()
        w:enter_request_scope()
        w:active_arena():alloc(5000)
      end
      collectgarbage()
      collectgarbage()
    end)

    it("keeps a scope arena usable as a closed object after its handler is gone", function()
      local a
      do
        local h = lexrt.handler()
        h:enter_request_scope()
        a = h:active_arena()
        h:close()
      end
      collectgarbage()
      assert.is_true(a:is_closed())
      assert.are.equal("lexrt.arena (closed)", tostring(a))
    end)
  end)

  describe("options", function()
    it("refuses unknown options and bad values", function()
      assert.matches("bad argument #1 to 'handler' %(unknown option 'pagesize'%)",
        err_of(lexrt.handler, { pagesize = 4096 }))
      assert.matches("bad argument #1 to 'handler' %(page_size must be a power of two",
        err_of(lexrt.handler, { page_size = 1000 }))
      assert.matches("max_bytes must be a non%-negative integer", err_of(lexrt.handler, { max_bytes = -1 }))
      assert.matches("bad argument #1 to 'handler' %(pool_pages must be an integer from 0 to 1048576, got %-1%)",
        err_of(lexrt.handler, { pool_pages = -1 }))
      assert.matches("policy must be a lexrt.policy", err_of(lexrt.handler, { policy = {} }))
      assert.matches("effects must be a table", err_of(lexrt.handler, { effects = 5 }))
      assert.matches("table expected, got string", err_of(lexrt.handler, "x"))
    end)

    it("reports the counters API.md names in stats", function()
      local h = lexrt.handler()
      h:enter_request_scope()
      local s = h:stats()
      for _, k in ipairs({ "scopes_entered", "scopes_exited", "depth", "pages_live", "pages_pooled" }) do
        assert.are.equal("integer", math.type(s[k]), k)
      end
      assert.are.equal(1, s.scopes_entered)
      assert.are.equal(1, s.depth)
    end)
  end)
end)

describe("lexrt.deny_all", function()
  it("refuses every effect with the upstream message", function()
    local h = lexrt.deny_all()
    assert.are.equal("effects not permitted (attempted io.print)", err_of(h.dispatch, h, "io", "print", "x"))
    assert.are.equal("effects not permitted (attempted net.get)", err_of(h.dispatch, h, "net", "get"))
  end)

  it("still brackets request scopes", function()
    local h = lexrt.deny_all()
    assert.are.equal("ok", h:with_scope(function(a) a:put("x"); return "ok" end))
  end)
end)
