-- Isolates: max_instructions bounds the whole call, library calls included;
-- the stop is sticky; the error paths that used to crash end in clean errors.
-- Every repro runs first in a child lua5.4 under a timeout (a hang or a
-- crash fails the test instead of ending the run), then in-process.
local support = require("spec.support")

local PRELUDE = [[
local lexrt = require("lexrt")
local function run(src, opts)
  opts = opts or {}
  local expect = opts.expect or "instruction budget exceeded"
  opts.expect = nil
  opts.source = src
  opts.max_instructions = opts.max_instructions or 1e6
  local iso = lexrt.isolate(opts)
  local ok, e = pcall(iso.call, iso)
  assert(not ok, "expected the call to be stopped")
  assert(tostring(e):find(expect, 1, true), tostring(e))
  assert(iso:stats().instruction_stops == 1, "instruction_stops")
  -- the next call starts clean and is stopped the same way
  local ok2, e2 = pcall(iso.call, iso)
  assert(not ok2 and e2 == e, tostring(e2))
  assert(iso:stats().instruction_stops == 2)
  return iso, e
end
]]

local function both(code)
  local ok, out, rc = support.in_child(PRELUDE .. code, 120)
  assert(ok, ("child failed (exit %s): %s"):format(tostring(rc), out))
  assert(load(PRELUDE .. code))()
end

local function stopped(body, expect)
  both(("run(%q, { expect = %q })"):format(body, expect or "instruction budget exceeded"))
end

describe("isolate limits", function()
  describe("library calls are charged to max_instructions", function()
    it("stops string.rep of an empty string a huge number of times", function()
      both([[
        local iso = lexrt.isolate{ source = "return function() return #(''):rep(math.maxinteger) end", max_instructions = 1e6 }
        assert(iso:call() == 0)
      ]])
      stopped("return function() local s = ('x'):rep(100) while true do local _ = s:rep(1e5, '') end end")
    end)
    it("stops table.move over a huge empty range", function()
      stopped("return function() table.move({}, 1, 1e15, 2) end")
    end)
    it("stops table.insert and table.remove on a table whose __len is huge", function()
      stopped("return function() table.insert(setmetatable({}, { __len = function() return 1e15 end }), 1, 0) end")
      stopped("return function() table.remove(setmetatable({}, { __len = function() return 1e15 end }), 1) end")
    end)
    it("stops table.concat of many empty strings and table.unpack loops", function()
      stopped("return function() local t = setmetatable({}, { __index = function() return '' end }) table.concat(t, '', 1, 1e12) end")
      -- a C function behind __index (table.concat of the empty table: ''), so that no VM instruction runs
      stopped("return function() local t = setmetatable({}, { __index = table.concat }) table.concat(t, '', 1, 1e12) end")
      stopped("return function() local t = {} for i = 1, 1e5 do t[i] = i end while true do table.unpack(t) end end")
    end)
    it("stops table.sort with a C function behind __index", function()
      stopped("return function() table.sort(setmetatable({}, { __len = function() return 2^31 - 2 end, __index = function(_, k) return k end })) end")
      -- C functions only: __index = tostring, __newindex = rawequal (writes nothing)
      stopped("return function() table.sort(setmetatable({}, { __len = function() return 2^31 - 2 end, __index = tostring, __newindex = rawequal })) end")
    end)
    it("stops utf8 scans and the utf8.codes iterator over continuation bytes", function()
      stopped("return function() local s = ('\\x80'):rep(1e6) while true do utf8.offset(s, 0, #s) end end")
      stopped("return function() local s = ('\\x80'):rep(1e6) local f = utf8.codes(s) while true do pcall(f, s, 0) end end")
      stopped("return function() local s = ('a'):rep(1e6) while true do utf8.len(s) end end")
    end)
    it("stops string.format('%.1s') of a huge string, tonumber and string.byte loops", function()
      stopped("return function() local s = ('a'):rep(1e6) while true do string.format('%.1s', s) end end")
      stopped("return function() local s = (' '):rep(1e6) .. '1' while true do tonumber(s) end end")
      stopped("return function() local s = ('a'):rep(1e5) while true do s:byte(1, -1) end end")
    end)
    -- Each of these loops would run for many minutes if the call were
    -- charged as one instruction only: the count hook sees a handful of VM
    -- instructions per turn while the call scans or moves megabytes.
    it("stops string.unpack with 'z' over a long buffer in a loop", function()
      both([[
        run("return function() local s = ('a'):rep(8 << 20) while true do pcall(string.unpack, 'z', s) end end",
            { max_instructions = 1e7 })
      ]])
    end)
    it("stops rawequal of two long equal strings in a loop", function()
      both([[
        run([=[return function()
          local a, b = ('x'):rep(8 << 20), ('x'):rep(8 << 20)
          assert(a == b)
          while true do rawequal(a, b) end
        end]=], { max_instructions = 1e7 })
      ]])
    end)
    it("stops select with many arguments in a loop", function()
      both([[
        run([=[
          local function spin(...) while true do select(1, ...) end end
          return function() spin(string.byte(('a'):rep(200000), 1, -1)) end
        ]=], { max_instructions = 1e7 })
      ]])
    end)
    it("stops select with a string index, string.pack 'z' and string arithmetic in a loop", function()
      both([[
        run([=[
          local function spin(...) while true do select("1", ...) end end
          return function() spin(string.byte(('a'):rep(200000), 1, -1)) end
        ]=], { max_instructions = 1e7 })
        -- the zero near the end: pack measures the string, then refuses it
        run("return function() local s = ('a'):rep(16 << 20) .. '\\0' while true do pcall(string.pack, 'z', s) end end",
            { max_instructions = 1e7 })
        run("return function() local s = (' '):rep(8 << 20) .. '1' while true do local _ = s + 0 end end",
            { max_instructions = 1e7 })
        -- the index math.mininteger is refused as lbaselib does (the wrapper once negated it)
        local iso = lexrt.isolate{ source = "return function() return pcall(select, math.mininteger, 1) end",
                                   max_instructions = 1e6 }
        local ok, e = iso:call()
        assert(ok == false and tostring(e):find("index out of range", 1, true), tostring(e))
      ]])
    end)
    it("stops load with a reader returning a huge piece each time", function()
      stopped("return function() local p = ('a'):rep(1e6) local first = true load(function() if first then first = false return '--[[' end return p end) end")
    end)
  end)

  describe("the stop is sticky", function()
    it("skips an xpcall message handler once stopped", function()
      stopped("return function() xpcall(function() while true do end end, function() while true do end end) end")
    end)
    it("pcall does not catch the stop", function()
      stopped("return function() while true do pcall(function() while true do end end) end end")
      -- C code going on after the caught stop: sort's next comparison would
      -- call io.note through the strings' __call, no VM instruction between
      both([[
        local notes = 0
        local h = lexrt.handler{ policy = lexrt.policy{ allow_effects = { "io" } },
                                 effects = { io = { note = function() notes = notes + 1 end } } }
        run([=[
          return function()
            getmetatable('').__call = io.note
            table.sort({ 'a', 'b', function() while true do end end }, pcall)
          end ]=], { handler = h })
        assert(notes == 0, "sort went on after the stop: io.note called " .. notes .. " time(s)")
      ]])
    end)
    it("does not run the close handlers of a coroutine stopped by the budget", function()
      stopped([[return function()
        local co = coroutine.create(function()
          local x <close> = setmetatable({}, { __close = function() while true do end end })
          while true do end
        end)
        coroutine.resume(co)
        coroutine.close(co)
        while true do end
      end]])
      stopped([[return function()
        local f = coroutine.wrap(function()
          local x <close> = setmetatable({}, { __close = function() while true do end end })
          while true do end
        end)
        pcall(f)
        while true do end
      end]])
    end)
    it("runs nothing more in the resumer once a coroutine is stopped", function()
      -- io.note right after the resume would be the resumer's next step.
      both([[
        local notes = 0
        local h = lexrt.handler{ policy = lexrt.policy{ allow_effects = { "io" } },
                                 effects = { io = { note = function() notes = notes + 1 end } } }
        run([=[
          counter = 0
          return function()
            local co = coroutine.create(function() while true do end end)
            local ok = coroutine.resume(co)
            io.note()
            while true do counter = counter + 1 end
          end ]=], { handler = h })
        assert(notes == 0, "the resumer ran on after the stop: io.note called " .. notes .. " time(s)")
        run([=[
          return function()
            local f = coroutine.wrap(function() coroutine.wrap(function() while true do end end)() end)
            pcall(f)
            io.note()
            while true do end
          end ]=], { handler = h })
        assert(notes == 0, "the resumer ran on after a nested stop: io.note called " .. notes .. " time(s)")
      ]])
    end)
    it("hooks a coroutine made while the chunk was built", function()
      stopped("local co = coroutine.wrap(function() while true do end end) return function() co() end")
    end)
    it("bounds the build itself", function()
      both([[
        local ok, e = pcall(lexrt.isolate, { source = "while true do end", max_instructions = 1e6 })
        assert(not ok and e:find("instruction budget exceeded", 1, true), e)
      ]])
    end)
  end)

  describe("error paths", function()
    it("an error in error handling with memory full is a clean error", function()
      -- Memory filled to the last bytes, then a message handler that
      -- raises again until Lua gives up ("C stack overflow" is in the
      -- image, so reaching that point allocates nothing): the error path
      -- must still end in a clean error, and the next call run.
      both([[
        local iso = lexrt.isolate{ max_bytes = 1 << 20, name = "full", source = [=[
          local K = "C stack overflow"
          local keep = {}
          for i = 1, 512 do keep[i] = false end
          local function fill()
            local l
            pcall(function() while true do l = { l } end end)
            keep[1] = l
            for i = 2, 512 do pcall(function() keep[i] = tostring(i + 1000000) end) end
          end
          return function(how)
            if how == "ok" then return "ok" end
            fill()
            if how == "handler" then
              return xpcall(error, function(m) error(m, 0) end, {})
            end
            return xpcall(error, error, "x")
          end ]=] }
        for _, how in ipairs({ "error", "handler" }) do
          local ok, r1, r2 = pcall(iso.call, iso, how)
          local e = ok and r2 or r1
          -- Either xpcall returns the memory error or it leaves the
          -- call; when it leaves, iso:call names the isolate.
          assert(not ok or r1 == false, how)
          if not ok then
            assert(tostring(e):find("isolate 'full', max_bytes = 1048576", 1, true), e)
          end
          assert(tostring(e):find("^not enough memory"), how .. ": " .. tostring(e))
          assert(iso:call("ok") == "ok")
        end
        assert(iso:stats().calls == 4, iso:stats().calls)
      ]])
    end)
    it("bounds nested coroutine.close with a Lua error", function()
      both([[
        local iso = lexrt.isolate{ source = [=[
          local function nest(n)
            local co = coroutine.create(function()
              local x <close> = setmetatable({}, { __close = function() nest(n + 1) end })
              coroutine.yield()
            end)
            coroutine.resume(co)
            local ok, e = coroutine.close(co)
            if not ok then error(e, 0) end
          end
          return function() return pcall(nest, 1) end ]=] }
        local ok, e = iso:call()
        assert(ok == false and tostring(e):find("nested too deeply", 1, true), tostring(e))
      ]])
    end)
  end)

  describe("messages", function()
    it("prints a caught policy violation as the host does; uncaught, the host gets the very violation", function()
      both([[
        local made
        local h = lexrt.handler{ policy = lexrt.policy{ allow_effects = { "io" } }, effects = {
          io = { refuse = function()
            made = lexrt.policy.violation("effect_not_allowed", "io.refuse: not today")
            error(made)
          end },
          net = { get = function() return "reached" end },
        } }
        local iso = lexrt.isolate{ handler = h, source = [=[
          return function(what, mode)
            local f = what == "net" and net.get or io.refuse
            if mode == "uncaught" then return f("http://example.com") end
            local ok, e = pcall(f, "http://example.com")
            if mode == "rethrow" then error(e) end
            return ok, tostring(e), e.kind
          end ]=] }
        -- refused by the policy
        local ok, s, kind = iso:call("net", "caught")
        assert(ok == false and kind == "effect_not_allowed", tostring(kind))
        assert(s:find("^policy violation: effect_not_allowed "), s)
        local pv, v = pcall(iso.call, iso, "net", "uncaught")
        assert(not pv and lexrt.policy.is_violation(v), tostring(v))
        assert(v.kind == "effect_not_allowed" and tostring(v) == s, tostring(v) .. " vs " .. s)
        -- a violation the host made itself: the very table comes out
        ok, s, kind = iso:call("io", "caught")
        assert(ok == false and s == "policy violation: effect_not_allowed io.refuse: not today", s)
        for _, mode in ipairs({ "uncaught", "rethrow" }) do
          local pe, e = pcall(iso.call, iso, "io", mode)
          assert(not pe and rawequal(e, made), mode .. ": " .. tostring(e))
          assert(tostring(e) == s, tostring(e))
        end
        assert(iso:call("net", "caught") == false) -- and the isolate still works
      ]])
    end)
    it("names the isolate and max_bytes in a memory stop", function()
      both([[
        local iso = lexrt.isolate{ name = "api", max_bytes = 1 << 20, source = "return function() local t = {} while true do t[#t + 1] = {} end end" }
        local ok, e = pcall(iso.call, iso)
        assert(e == "not enough memory (isolate 'api', max_bytes = 1048576)", e)
        assert(iso:stats().memory_stops == 1)
      ]])
    end)
  end)
end)
