-- Isolates: inputs that still crashed the host (issue 17, part 2).
--   1. a result (or effect argument, or error value) that references one
--      long string, or one table, many times: the host copied it every
--      time, far past max_bytes;
--   2. a h:with_scope coroutine abandoned in the host and collected (or
--      closed) during an isolate call: its scope guard raised "isolate
--      busy" inside __gc, and the scope leaked;
--   3. file = a directory (or a file that cannot be read): io.open
--      succeeds, and the read failed obscurely.
-- Each crash case is a chunk run first in a child lua5.4 (support.in_child:
-- a crash or a runaway allocation fails that case alone), then in this
-- interpreter, where make check's ASan and valgrind runs watch it. In the
-- child BIG is true: the issue's own sizes; here it is false: smaller ones,
-- so that a regression costs this process hundreds of MiB, not 10 GiB.
local lexrt = require("lexrt")
local support = require("spec.support")
local err_of = support.err_of

-- Runs a case chunk in a child, then here; the chunk ends by printing
-- "case ok". Any Lua warning (an error inside a __gc) fails it in the
-- child; here scripts/busted.sh counts it.
local function run_case(code)
  local ok, out, status = support.in_child("warn('@on')\nlocal BIG = true\n" .. code)
  assert(ok and out:find("case ok\n", 1, true) and not out:find("Lua warning", 1, true),
    ("in a child interpreter (exit %s):\n%s"):format(tostring(status), out))
  local f = assert(load("local BIG = false\n" .. code, "=case"))
  -- _G's: busted runs this file in an environment of its own, so a plain
  -- assignment would not reach the chunk's print.
  local real_print = _G.print
  _G.print = function() end -- the chunk's "case ok"
  local pok, err = pcall(f)
  _G.print = real_print
  assert(pok, tostring(err))
end

-- Shared by the chunks below: what a call added to the host's heap, with
-- the collector stopped so that nothing the copy made can be collected
-- before it is counted (an upper bound of what the copy allocated).
local GROWTH = [[
local function growth(f, ...)
  collectgarbage("collect")
  collectgarbage("stop")
  local before = collectgarbage("count")
  local res = table.pack(pcall(f, ...))
  local kib = collectgarbage("count") - before
  collectgarbage("restart")
  return kib * 1024, table.unpack(res, 1, res.n)
end
]]

describe("an isolate whose values cross to the host", function()
  describe("copying out", function()
    it("copies a long string referenced ten thousand times in a result once, "
      .. "so the host's heap grows by about one copy, and the isolate goes on", function()
        run_case(GROWTH .. [[
          local lexrt = require("lexrt")
          local N, K = BIG and 1 << 20 or 1 << 16, 10000
          local h = lexrt.handler()
          local iso = lexrt.isolate({ handler = h, max_bytes = 8 << 20, source = [=[
            return function(n, k)
              local s = ("x"):rep(n)
              local t = {}
              for i = 1, k do t[i] = s end
              return t
            end]=] })
          local bytes, ok, t = growth(iso.call, iso, N, K)
          assert(ok, tostring(t))
          assert(#t == K, "length " .. #t)
          assert(t[1] == ("x"):rep(N) and t[K] == t[1], "contents")
          -- One string, K array slots, the table: well under 2 N + 64 K.
          assert(bytes < 2 * N + 64 * K, ("the host's heap grew by %d bytes"):format(bytes))
          t = nil
          assert(iso:call(3, 2)[2] == "xxx", "the isolate goes on")
          assert(h:stats().pages_live == 0, "pages_live")
          print("case ok")
        ]])
      end)

    it("raises 'more than N bytes to copy (max_copy_bytes)' when the results of a call return one "
      .. "table many times, before the host allocates past the bound", function()
        run_case(GROWTH .. [[
          local lexrt = require("lexrt")
          local MB = 1 << 20
          -- Each result is a copy of its own (4096 slots: 64 KiB in the
          -- host); BIG: 10 000 of them, 640 MiB without the bound.
          local K = BIG and 10000 or 1000
          local iso = lexrt.isolate({ max_bytes = MB, source = [=[
            return function(k)
              local t = {}
              for i = 1, 4096 do t[i] = i end
              local all = {}
              for i = 1, k do all[i] = t end
              return table.unpack(all, 1, k)
            end]=] })
          local bytes, ok, e = growth(iso.call, iso, K)
          assert(not ok, "the call returned")
          assert(type(e) == "string" and e:find("^cannot copy result %d+: more than 1048576 bytes to copy "
            .. "%(max_copy_bytes%)$"), tostring(e))
          assert(bytes < 2 * MB, ("the host's heap grew by %d bytes"):format(bytes))
          assert(iso:call(2)[4096] == 4096, "the isolate goes on")
          print("case ok")
        ]])
      end)
  end)

  describe("max_copy_bytes", function()
    local function iso_of(source, opts)
      opts = opts or {}
      opts.source = source
      return lexrt.isolate(opts)
    end

    it("defaults to max_bytes and can be set on its own", function()
      assert.are.equal(1 << 20, iso_of("return function() end", { max_bytes = 1 << 20 }):stats().max_copy_bytes)
      local iso = iso_of("return function() end", { max_bytes = 1 << 20, max_copy_bytes = 1000 })
      assert.are.equal(1000, iso:stats().max_copy_bytes)
      assert.are.equal(1 << 20, iso:stats().max_bytes)
    end)

    it("is checked in luaL_argerror's words", function()
      for _, v in ipairs({ -1, 1.5, "8", true }) do
        local e = err_of(lexrt.isolate, { source = "return print", max_copy_bytes = v })
        assert.matches("^bad argument #1 to 'isolate' %(max_copy_bytes must be an integer >= 0, got "
          .. tostring(v):gsub("%p", "%%%0") .. "%)", e)
      end
    end)

    it("bounds a result's tables and slots, and lets a smaller one through", function()
      local iso = iso_of([[
        return function(n)
          local t = {}
          for i = 1, n do t[i] = i end
          return t
        end]], { max_copy_bytes = 100000 })
      assert.are.equal("cannot copy result 1: more than 100000 bytes to copy (max_copy_bytes)",
        err_of(iso.call, iso, 20000))
      assert.are.equal(1000, #iso:call(1000))
      assert.are.equal(1, iso:stats().errors)
    end)

    it("counts a long string shared by a result once, and each distinct one", function()
      local iso = iso_of([[
        return function(n, k, distinct)
          local s, t = ("y"):rep(n), {}
          for i = 1, k do t[i] = distinct and i .. s or s end
          return t
        end]], { max_copy_bytes = 1 << 20 })
      local t = iso:call(100000, 100, false) -- 100 references, one copy: about 100 KB
      assert.are.equal(100, #t)
      assert.are.equal(100000, #t[100])
      assert.matches("cannot copy result 1: more than 1048576 bytes",
        err_of(iso.call, iso, 100000, 100, true)) -- 100 strings: 10 MB
    end)

    it("holds all the results of one call to one bound", function()
      local iso = iso_of([[
        return function(k)
          local s = ("z"):rep(1000)
          local all = {}
          for i = 1, k do all[i] = s end
          return table.unpack(all, 1, k)
        end]], { max_copy_bytes = 10000 })
      assert.are.equal(9, select("#", iso:call(9)))
      assert.are.equal("cannot copy result 10: more than 10000 bytes to copy (max_copy_bytes)",
        err_of(iso.call, iso, 10))
    end)

    it("bounds an effect's arguments: the error is raised inside the isolate, and the effect never runs",
      function()
        local calls = 0
        local h = lexrt.handler({ policy = lexrt.policy({ allow_effects = { "io" } }),
          effects = { io = { sink = function() calls = calls + 1 end } } })
        local iso = iso_of([[
          return function(n)
            local t = {}
            for i = 1, n do t[i] = i end
            local ok, e = pcall(io.sink, "x", t)
            return ok, e
          end]], { handler = h, max_copy_bytes = 10000 })
        local ok, e = iso:call(10000)
        assert.is_false(ok)
        assert.are.equal("cannot copy argument 2 to io.sink: more than 10000 bytes to copy (max_copy_bytes)", e)
        assert.are.equal(0, calls)
        assert.is_true(iso:call(10))
        assert.are.equal(1, calls)
      end)

    it("bounds an error value", function()
      local iso = iso_of([[
        return function(n)
          local t = {}
          for i = 1, n do t[i] = i end
          error(t)
        end]], { max_copy_bytes = 10000 })
      assert.are.equal("cannot copy error value: more than 10000 bytes to copy (max_copy_bytes)",
        err_of(iso.call, iso, 10000))
      assert.are.same({ 1, 2, 3 }, err_of(iso.call, iso, 3))
    end)
  end)

  it("copies a long string shared by the arguments once into the isolate's arena", function()
    local s = ("a"):rep(1 << 20)
    local t = {}
    for i = 1, 1000 do
      t[i] = s
    end
    local iso = lexrt.isolate({ max_bytes = 4 << 20, source = [[
      return function(t) return #t, #t[1], t[1] == t[1000] end]] })
    local n, len, same = iso:call(t)
    assert.are.equal(1000, n)
    assert.are.equal(1 << 20, len)
    assert.is_true(same)
    assert.is_true(iso:stats().last_call_bytes < 2 << 20)
  end)
end)

-- Item 2. A coroutine suspended inside h:with_scope's fn and dropped: its
-- scope guard exits the scope when the collector gets to it. When that
-- happens inside an isolate call, the scope lies below the call's own
-- (pinned) scope, and exiting it then would drop the call's scope too; it
-- must be exited when the call ends. The finaliser is aimed inside the call's effect with the
-- technique of spec/reentrancy_cases.lua (fire_inside).
local SCOPE_CASE = [[
  local lexrt = require("lexrt")
  local fire_inside = require("spec.reentrancy_cases").fire_inside
  local function eq(want, got, what)
    if want ~= got then error(("%s: expected %s, got %s"):format(what, tostring(want), tostring(got)), 2) end
  end
  local seen = {}
  local h
  -- The effect: its first allocation runs the collection.
  local function touch()
    local t = { "allocated" }
    seen.depth = h:arena_stack_depth()
    return t[1]
  end
  h = lexrt.handler({ policy = lexrt.policy({ allow_effects = { "io" } }), effects = { io = { touch = touch } } })
  local iso = lexrt.isolate({ handler = h, source = "return function() return io.touch() end" })
  -- Made after fire_inside's full collection: young, so the minor
  -- collection run inside touch collects the coroutine and its guard.
  local function abandon()
    local co = coroutine.create(function()
      h:with_scope(function(a)
        a:put(("x"):rep(100))
        coroutine.yield()
      end)
    end)
    assert(coroutine.resume(co))
    eq("suspended", coroutine.status(co), "the coroutine")
  end
  local rec, res = fire_inside(touch, function() end, function()
    abandon()
    eq(1, h:arena_stack_depth(), "depth with the abandoned scope")
    local v = iso:call()
    return v, h:arena_stack_depth(), h:stats().pages_live
  end)
  eq(true, rec.inside, "the collection ran inside the effect")
  eq(true, res[1], "the call: " .. tostring(res[2]))
  eq("allocated", res[2], "the call's result")
  eq(2, seen.depth, "depth inside the effect, after the collection (the abandoned scope waits)")
  eq(0, res[3], "depth right after the call")
  eq(0, res[4], "pages_live right after the call")
  local s = h:stats()
  eq(2, s.scopes_exited, "scopes_exited")
  eq(0, s.pages_live, "pages_live")
  eq("allocated", iso:call(), "the isolate goes on")
  print("case ok")
]]

describe("a h:with_scope coroutine abandoned in the host", function()
  it("collected during an isolate call has its scope exited when the call ends, "
    .. "with no warning from its guard", function()
      run_case(SCOPE_CASE)
    end)

  it("closed by an effect during an isolate call closes cleanly and has its scope exited when the call ends",
    function()
      run_case([[
        local lexrt = require("lexrt")
        local co, closed, depth
        local h
        h = lexrt.handler({ policy = lexrt.policy({ allow_effects = { "io" } }), effects = { io = {
          close = function()
            closed = table.pack(coroutine.close(co))
            depth = h:arena_stack_depth()
          end } } })
        local iso = lexrt.isolate({ handler = h, source = "return function() io.close() return 1 end" })
        co = coroutine.create(function() h:with_scope(function() coroutine.yield() end) end)
        assert(coroutine.resume(co))
        assert(iso:call() == 1)
        assert(closed[1] == true, "coroutine.close: " .. tostring(closed[2]))
        assert(coroutine.status(co) == "dead")
        assert(depth == 2, "depth inside the effect " .. tostring(depth))
        assert(h:arena_stack_depth() == 0, "depth after " .. h:arena_stack_depth())
        assert(h:stats().pages_live == 0, "pages_live")
        print("case ok")
      ]])
    end)

  -- Nested calls: iso1's effect calls iso2, whose effect runs a full
  -- collection. `where` says where the abandoned scope lies.
  local NESTED = [[
    local lexrt = require("lexrt")
    local h, iso2
    local log = {}
    local function abandon()
      local co = coroutine.create(function() h:with_scope(function() coroutine.yield() end) end)
      assert(coroutine.resume(co))
    end
    h = lexrt.handler({ policy = lexrt.policy({ allow_effects = { "io" } }), effects = { io = {
      outer = function()
        if WHERE == "above" then abandon() end
        log.before = h:arena_stack_depth()
        iso2:call()
        log.after = h:arena_stack_depth()
      end,
      collect = function()
        collectgarbage("collect")
        log.collected = h:arena_stack_depth()
      end } } })
    local iso1 = lexrt.isolate({ handler = h, source = "return function() io.outer() return 1 end" })
    iso2 = lexrt.isolate({ handler = h, source = "return function() io.collect() end" })
    if WHERE == "below" then abandon() end
    assert(iso1:call() == 1)
    assert(log.before == 2, "depth before the inner call " .. log.before)
    assert(log.collected == 3, "depth after the collection " .. log.collected)
    -- Above the outer call's scope: exited as the inner call ends; below
    -- it: only when the outer call ends.
    local want = WHERE == "above" and 1 or 2
    assert(log.after == want, ("depth after the inner call: %d, expected %d"):format(log.after, want))
    assert(h:arena_stack_depth() == 0, "depth after " .. h:arena_stack_depth())
    assert(h:stats().pages_live == 0, "pages_live")
    print("case ok")
  ]]

  it("collected inside an inner isolate call, its scope above the outer call's, "
    .. "has it exited when the inner call ends", function()
      run_case("local WHERE = 'above'\n" .. NESTED)
    end)

  it("collected inside an inner isolate call, its scope below the outer call's, "
    .. "has it exited when the outer call ends", function()
      run_case("local WHERE = 'below'\n" .. NESTED)
    end)
end)

describe("lexrt.isolate{ file = ... }", function()
  local function read_error(path)
    return err_of(lexrt.isolate, { file = path })
  end

  it("raises 'cannot read file' for a directory", function()
    assert.are.equal("bad argument #1 to 'isolate' (cannot read file: /tmp: Is a directory)", read_error("/tmp"))
    local dir = os.tmpname()
    os.remove(dir)
    assert(os.execute("mkdir " .. dir))
    local e = read_error(dir)
    os.remove(dir)
    assert.matches("cannot read file: .*Is a directory", e)
  end)

  it("raises 'cannot read file' for a missing file", function()
    local path = os.tmpname()
    os.remove(path)
    assert.are.equal(("bad argument #1 to 'isolate' (cannot read file: %s: No such file or directory)")
      :format(path), read_error(path))
  end)

  it("raises 'cannot read file' for a file that opens but cannot be read", function()
    -- /proc/self/mem opens, even for root, and reading at offset 0 fails.
    assert.matches("^bad argument #1 to 'isolate' %(cannot read file: /proc/self/mem: ",
      read_error("/proc/self/mem"))
    -- Without read permission (only when not root: root reads anything).
    local path = os.tmpname()
    assert(os.execute("chmod 000 " .. path))
    local f = io.open(path, "rb")
    if f then
      f:close()
    else
      assert.matches("cannot read file: .*Permission denied", read_error(path))
    end
    os.remove(path)
  end)

  it("still reads an ordinary file", function()
    local path = support.write_temp_lua("return function() return 'from the file' end")
    local iso = lexrt.isolate({ file = path })
    os.remove(path)
    assert.are.equal("from the file", iso:call())
  end)
end)
