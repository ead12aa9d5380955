-- Isolates: API.md "Isolates", line by line.
local lexrt = require("lexrt")
local core = require("lexrt.core")
local support = require("spec.support")
local err_of = support.err_of
local UNDER_CHECKER = support.UNDER_CHECKER

local function iso_of(source, opts)
  opts = opts or {}
  opts.source = source
  return lexrt.isolate(opts)
end

-- A handler whose policy allows `allowed` and whose effects are `effects`.
local function handler_with(allowed, effects, extra)
  local p = { allow_effects = allowed }
  for k, v in pairs(extra or {}) do
    p[k] = v
  end
  return lexrt.handler({ policy = lexrt.policy(p), effects = effects })
end

describe("lexrt.isolate", function()
  describe("building", function()
    it("runs the chunk once and keeps the function it returns", function()
      local built = 0
      local h = handler_with({ "io" }, { io = { note = function() built = built + 1 end } })
      local iso = iso_of([[
        io.note()
        return function(x) return x + 1 end
      ]], { handler = h })
      assert.are.equal(1, built)
      assert.are.equal(2, iso:call(1))
      assert.are.equal(3, iso:call(2))
      assert.are.equal(1, built)
    end)

    it("refuses a chunk that does not return a function", function()
      local e = err_of(lexrt.isolate, { source = "return 42" })
      assert.matches("must return the request function, got number", e)
      e = err_of(lexrt.isolate, { source = "local x = 1" })
      assert.matches("got nil", e)
    end)

    it("raises the chunk's syntax and runtime errors, naming the isolate", function()
      assert.matches("^api:1:", err_of(lexrt.isolate, { source = "return function(", name = "api" }))
      assert.matches("^api:2: broken", err_of(lexrt.isolate, {
        source = "local x = 1\nerror('broken')", name = "api" }))
      local v = err_of(lexrt.isolate, { source = "error({ code = 7 })" })
      assert.are.same({ code = 7 }, v)
    end)

    it("reads the chunk from a file and names errors after it", function()
      local path = os.tmpname()
      local f = assert(io.open(path, "w"))
      f:write("return function()\n  error('from the file')\nend\n")
      f:close()
      local iso = lexrt.isolate({ file = path })
      local e = err_of(iso.call, iso)
      os.remove(path)
      assert.are.equal(path .. ":2: from the file", e)
      assert.matches("cannot read file", err_of(lexrt.isolate, { file = path }))
    end)

    it("checks its options in luaL_argerror's words", function()
      local cases = {
        { nil, "table expected, got nil" },
        { {}, "exactly one of source and file" },
        { { source = "return print", file = "x.lua" }, "exactly one of source and file" },
        { { source = 1 }, "source must be a string" },
        { { source = "return print", colour = 1 }, "unknown option 'colour'" },
        { { source = "return print", handler = {} }, "handler must be a lexrt.handler" },
        { { source = "return print", libs = "string" }, "libs must be a list" },
        { { source = "return print", libs = { "io" } }, "library 'io' is not allowed" },
        { { source = "return print", libs = { "debug" } }, "library 'debug' is not allowed" },
        { { source = "return print", max_bytes = -1 }, "max_bytes must be an integer >= 0" },
        { { source = "return print", max_bytes = 1.5 }, "max_bytes must be an integer" },
        { { source = "return print", max_instructions = 0 }, "max_instructions must be an integer >= 1" },
        { { source = "return print", name = {} }, "name must be a string" },
      }
      for _, c in ipairs(cases) do
        local e = err_of(lexrt.isolate, c[1])
        assert.matches("^bad argument #1 to 'isolate' %(", e)
        assert.is_truthy(e:find(c[2], 1, true), e)
      end
    end)

    it("refuses a closed handler", function()
      local h = lexrt.handler()
      h:close()
      assert.matches("handler is closed", err_of(lexrt.isolate, { source = "return pairs", handler = h }))
    end)

    it("refuses an effect once an earlier effect of the build closed the handler", function()
      local h, logged = nil, 0
      h = lexrt.handler({ policy = lexrt.policy({ allow_effects = { "io" } }),
        effects = { io = { close = function() h:close() end, log = function() logged = logged + 1 end } } })
      local err = err_of(lexrt.isolate, { source = "io.close() io.log('x') return function() end", handler = h })
      assert.matches("handler is closed", err)
      assert.are.equal(0, logged)
    end)

    it("takes max_instructions as a float with an integer value", function()
      local iso = iso_of("return function() return 1 end", { max_instructions = 1e7 })
      assert.are.equal(1e7, iso:stats().max_instructions)
      assert.are.equal(1, iso:call())
    end)
  end)

  describe("the safe base", function()
    local iso = iso_of([[
      return function(name) return type(_G[name]) end
    ]])

    it("leaves out dofile, loadfile, collectgarbage and print", function()
      for _, name in ipairs({ "dofile", "loadfile", "collectgarbage", "print" }) do
        assert.are.equal("nil", iso:call(name))
      end
    end)

    it("never has the io, os, package or debug libraries, or require", function()
      for _, name in ipairs({ "io", "os", "package", "debug", "require" }) do
        assert.are.equal("nil", iso:call(name))
      end
    end)

    it("has the default libraries and the rest of the base", function()
      for _, name in ipairs({ "string", "table", "math", "utf8", "coroutine", "pcall", "load",
                              "setmetatable", "pairs", "tostring", "error" }) do
        assert.are.equal("table", (iso:call(name) == "function" and "table") or iso:call(name))
      end
    end)

    it("opens only the libraries listed in libs", function()
      local small = iso_of("return function(n) return type(_G[n]) end", { libs = { "string" } })
      assert.are.equal("table", small:call("string"))
      assert.are.equal("nil", small:call("table"))
      assert.are.equal("nil", small:call("math"))
      assert.are.equal("nil", small:call("coroutine"))
      local none = iso_of("return function(n) return type(_G[n]) end", { libs = {} })
      assert.are.equal("nil", none:call("string"))
      assert.are.equal("function", none:call("pairs"))
    end)

    it("has no string.dump", function()
      local s = iso_of("return function() return string.dump, ('x').dump end")
      assert.is_nil((s:call()))
    end)

    it("loads text chunks, with or without an environment", function()
      local l = iso_of([[
        return function(src, env)
          if env then return load(src, "c", "t", env)() end
          return load(src)()
        end
      ]])
      assert.are.equal(3, l:call("return 1 + 2"))
      assert.are.equal(5, l:call("return x", { x = 5 }))
      assert.are.equal("table", l:call("return type(string)"))
    end)

    it("refuses binary chunks through load, whatever mode is asked for", function()
      local l = iso_of([[
        return function(bin)
          local f1, e1 = load(bin)
          local f2, e2 = load(bin, "b", "b")
          local f3, e3 = load(function() local b = bin; bin = nil; return b end, "b", "bt")
          return f1, e1, f2, e2, f3, e3
        end
      ]])
      local r = table.pack(l:call(string.dump(function() return 1 end)))
      for k = 1, 5, 2 do
        assert.is_nil(r[k])
        assert.matches("attempt to load a binary chunk", r[k + 1])
      end
    end)

    it("names a global table after each effect kind, and none other", function()
      local h = handler_with({ "io", "time" }, { io = { print = function() end }, time = { now = os.time } })
      local e = iso_of("return function(n) return type(_G[n]) end", { handler = h })
      assert.are.equal("table", e:call("io"))
      assert.are.equal("table", e:call("time"))
      assert.are.equal("nil", e:call("fs_read"))
    end)

    it("refuses an effect kind that would hide one of its globals", function()
      local h = handler_with({ "io" }, { string = { rep = function() end } })
      assert.matches("effect kind 'string' would hide",
        err_of(lexrt.isolate, { source = "return function() end", handler = h }))
    end)
  end)

  describe("effects", function()
    it("dispatch through the handler's policy, with copied arguments and results", function()
      local seen
      local h = handler_with({ "io" }, { io = { print = function(...)
        seen = table.pack(...)
        return "printed", { n = seen.n }
      end } })
      local iso = iso_of([[
        return function() return io.print("a", 1, 2.5, { k = "v" }, nil, true) end
      ]], { handler = h })
      local r, t = iso:call()
      assert.are.equal("printed", r)
      assert.are.same({ n = 6 }, t)
      assert.are.equal(6, seen.n)
      assert.are.same({ "a", 1, 2.5, { k = "v" } }, { seen[1], seen[2], seen[3], seen[4] })
      assert.are.equal("float", math.type(seen[3]))
      assert.is_true(seen[6])
    end)

    it("refuse what the policy refuses, and the caller gets the very violation table", function()
      local h = handler_with({ "fs_read" }, {
        fs_read = { read = function(p) return "data of " .. p end },
        net = { get = function() return "reached" end },
      }, { allow_fs_read = { "/srv/data" } })
      local iso = iso_of([[
        return function(what, arg)
          if what == "read" then return fs_read.read(arg) end
          return net.get(arg)
        end
      ]], { handler = h })
      assert.are.equal("data of /srv/data/a.txt", iso:call("read", "/srv/data/a.txt"))
      local v = err_of(iso.call, iso, "read", "/srv/data/../../etc/passwd")
      assert.is_true(lexrt.policy.is_violation(v))
      assert.are.equal("fs_path_not_allowed", v.kind)
      assert.matches("^policy violation: fs_path_not_allowed", tostring(v))
      v = err_of(iso.call, iso, "net", "http://example.com")
      assert.are.equal("effect_not_allowed", v.kind)
      assert.matches("policy violation: effect_not_allowed", tostring(v))
    end)

    it("raise the original host error value, identity and metatable kept", function()
      local raised = setmetatable({ code = 503 }, { __tostring = function() return "unavailable" end })
      local h = handler_with({ "io" }, { io = { fail = function() error(raised) end } })
      local iso = iso_of("return function() io.fail() end", { handler = h })
      local e = err_of(iso.call, iso)
      assert.is_true(rawequal(raised, e))
      assert.are.equal("unavailable", tostring(e))
    end)

    it("can be caught inside the isolate, as a copy of the error", function()
      local h = handler_with({}, { fs_read = { read = function() return "x" end } })
      local iso = iso_of([[
        return function()
          local ok, e = pcall(fs_read.read, "/etc/passwd")
          return ok, e.kind, e.effect
        end
      ]], { handler = h })
      local ok, kind, effect = iso:call()
      assert.is_false(ok)
      assert.are.equal("effect_not_allowed", kind)
      assert.are.equal("fs_read", effect)
    end)

    it("raise the original only when the marker itself comes out", function()
      local h = handler_with({ "io" }, { io = { fail = function() error({ first = true }) end } })
      local iso = iso_of([[
        return function(mode)
          local ok, e = pcall(io.fail)
          if mode == "rethrow" then error(e) end
          error({ replaced = true, seen = e.first })
        end
      ]], { handler = h })
      assert.are.same({ first = true }, err_of(iso.call, iso, "rethrow"))
      assert.are.same({ replaced = true, seen = true }, err_of(iso.call, iso, "other"))
    end)

    it("keep an effect's string errors as they are", function()
      local h = handler_with({ "io" }, { io = { fail = function() error("disk full", 0) end } })
      local iso = iso_of("return function() io.fail() end", { handler = h })
      assert.are.equal("disk full", err_of(iso.call, iso))
    end)

    it("work from coroutines inside the isolate", function()
      local h = handler_with({ "io" }, { io = { twice = function(x) return x * 2 end } })
      local iso = iso_of([[
        return function()
          local co = coroutine.wrap(function(a) coroutine.yield(io.twice(a)); return io.twice(a + 1) end)
          return co(5), co()
        end
      ]], { handler = h })
      local a, b = iso:call()
      assert.are.equal(10, a)
      assert.are.equal(12, b)
    end)

    it("that yield suspend the call in a host coroutine, and go on when it is resumed", function()
      local h = handler_with({ "io" }, { io = { wait = function(x) return coroutine.yield("later", x) + 1 end } })
      local iso = iso_of("return function(v) return io.wait(v * 2) * 10 end", { handler = h })
      local co = coroutine.wrap(function() return pcall(iso.call, iso, 4) end)
      local what, x = co()
      assert.are.equal("later", what)
      assert.are.equal(8, x)
      assert.are.equal(1, h:stats().depth) -- the call's scope, kept while it waits
      assert.are.same({ true, 420 }, { co(41) })
      assert.are.equal(0, h:stats().depth)
    end)

    it("that yield from a coroutine inside the isolate raise 'cannot yield' there", function()
      local h = handler_with({ "io" }, { io = { wait = function() return coroutine.yield("later") end } })
      local iso = iso_of([[return function()
        local co = coroutine.create(function() return io.wait() end)
        return coroutine.resume(co)
      end]], { handler = h })
      local co = coroutine.wrap(function() return iso:call() end)
      local ok, e = co()
      assert.is_false(ok)
      assert.matches("cannot yield: io.wait was called from a coroutine inside the isolate", e, 1, true)
      assert.are.equal(0, h:stats().depth)
    end)

    it("are the only way out: a handler without effects leaves nothing to call", function()
      local iso = iso_of([[
        return function()
          local found = {}
          for k in pairs(_G) do found[#found + 1] = k end
          table.sort(found)
          return table.concat(found, " ")
        end
      ]])
      local names = iso:call()
      for _, bad in ipairs({ "io", "os", "package", "debug", "require", "dofile", "loadfile",
                             "print", "collectgarbage" }) do
        assert.is_nil(names:find("%f[%w_]" .. bad .. "%f[^%w_]"), bad)
      end
    end)
  end)

  describe("a call", function()
    it("enters a request scope of its own and exits it before returning", function()
      local depth_inside
      local h
      h = handler_with({ "io" }, { io = { depth = function()
        depth_inside = h:arena_stack_depth()
        return h:active_arena():bytes_allocated()
      end } })
      local iso = iso_of([[
        return function()
          local t = {}
          for i = 1, 100 do t[i] = "x" .. i end
          return io.depth()
        end
      ]], { handler = h })
      local before = h:stats()
      local used = iso:call()
      local after = h:stats()
      assert.are.equal(1, depth_inside)
      assert.is_true(used > 0) -- the call's objects are in the scope's arena
      assert.are.equal(before.scopes_entered + 1, after.scopes_entered)
      assert.are.equal(before.scopes_exited + 1, after.scopes_exited)
      assert.are.equal(0, after.depth)
      assert.are.equal(0, after.pages_live)
      assert.is_true(iso:stats().last_call_bytes >= used)
    end)

    it("nests its scope inside a scope already open on the handler", function()
      local h
      local depth
      h = handler_with({ "io" }, { io = { depth = function() depth = h:arena_stack_depth() end } })
      local iso = iso_of("return function() io.depth() end", { handler = h })
      local id = h:enter_request_scope()
      iso:call()
      assert.are.equal(2, depth)
      assert.are.equal(1, h:arena_stack_depth())
      h:exit_request_scope(id)
    end)

    it("takes its pages from the handler's pool and gives them back", function()
      local h = lexrt.handler()
      local iso = iso_of([[
        return function(n) local t = {} for i = 1, n do t[i] = i end return #t end
      ]], { handler = h })
      iso:call(100000) -- a megabyte or two of the pool's pages
      local s = h:stats()
      assert.are.equal(0, s.pages_live)
      assert.is_true(s.pages_from_system + s.chunks_from_system > 0)
      local taken = s.pages_from_system
      iso:call(10)
      iso:call(10)
      if core.RECYCLING then
        assert.are.equal(taken, h:stats().pages_from_system) -- reused, not taken again
      end
    end)

    it("passes any number of arguments and results, nils included", function()
      local iso = iso_of("return function(...) return select('#', ...), ... end")
      local r = table.pack(iso:call(nil, 2, nil))
      assert.are.equal(4, r.n)
      assert.are.equal(3, r[1])
      assert.is_nil(r[2])
      assert.are.equal(2, r[3])
      assert.is_nil(r[4])
      assert.are.equal(0, (iso:call()))
    end)

    it("keeps integers, floats, booleans and strings with zero bytes as they are", function()
      local iso = iso_of("return function(...) return ... end")
      local i, f, b, s, m = iso:call(3, 3.0, false, "a\0b", math.mininteger)
      assert.are.equal("integer", math.type(i))
      assert.are.equal("float", math.type(f))
      assert.is_false(b)
      assert.are.equal("a\0b", s)
      assert.are.equal(math.mininteger, m)
      local nan = iso:call(0 / 0)
      assert.is_true(nan ~= nan)
    end)

    it("copies tables deeply, sharing a subtable reached twice", function()
      local iso = iso_of([[
        return function(t)
          t.inner.seen = true
          return rawequal(t.a, t.b), t, { x = t.a, y = t.a }
        end
      ]])
      local shared = { 1, 2 }
      local arg = { a = shared, b = shared, inner = {}, [1.5] = "f", [true] = "t" }
      local same, back, out = iso:call(arg)
      assert.is_true(same)
      assert.is_nil(arg.inner.seen) -- the argument itself is untouched
      assert.is_true(back.inner.seen)
      assert.are.equal("f", back[1.5])
      assert.are.equal("t", back[true])
      assert.is_true(rawequal(out.x, out.y))
      assert.are.same({ 1, 2 }, out.x)
    end)

    it("does not copy metatables", function()
      local iso = iso_of("return function(t) return getmetatable(t), setmetatable({}, { __index = t }) end")
      local mt, r = iso:call(setmetatable({}, { __index = function() return 1 end }))
      assert.is_nil(mt)
      assert.is_nil(getmetatable(r))
    end)
  end)

  describe("between calls", function()
    local iso = iso_of([[
      local counter = 0
      local config = { mode = "a", list = { 1, 2, 3 } }
      shared = "image"
      return function(step)
        counter = counter + 1
        local before = { counter = counter, mode = config.mode, n = #config.list, shared = shared,
                         leaked = leaked, upper = ("x"):upper(), rnd = math.random(1000000) }
        -- now change everything a call can reach
        leaked = "from a call"
        shared = "changed"
        config.mode = "b"
        config.list[#config.list + 1] = 4
        config.extra = { 1 }
        string.upper = function() return "hijacked" end
        getmetatable("").__index = { upper = function() return "meta" end }
        setmetatable(_G, { __index = function() return "ghost" end })
        table.insert = nil
        return before
      end
    ]])

    it("nothing a call does survives into the next: globals, upvalues, tables, metatables", function()
      local first = iso:call()
      for _ = 1, 3 do
        local again = iso:call()
        assert.are.same(first, again)
      end
      assert.are.same({ counter = 1, mode = "a", n = 3, shared = "image", upper = "X", rnd = first.rnd },
        first)
    end)

    it("starts from the image after an error, a memory stop and an instruction stop", function()
      local fails = iso_of([[
        local state = { n = 0 }
        return function(mode)
          state.n = state.n + 1
          G = (G or 0) + 1
          if mode == "error" then error("boom") end
          if mode == "memory" then local t = {} while true do t[#t + 1] = {} end end
          if mode == "loop" then while true do state.n = state.n + 1 end end
          return state.n, G
        end
      ]], { max_bytes = 1 << 20, max_instructions = 100000 })
      assert.are.same({ 1, 1 }, { fails:call() })
      assert.matches("boom", err_of(fails.call, fails, "error"))
      assert.are.same({ 1, 1 }, { fails:call() })
      assert.matches("^not enough memory", err_of(fails.call, fails, "memory"))
      assert.are.same({ 1, 1 }, { fails:call() })
      assert.matches("instruction budget exceeded", err_of(fails.call, fails, "loop"))
      assert.are.same({ 1, 1 }, { fails:call() })
      local s = fails:stats()
      assert.are.equal(7, s.calls)
      assert.are.equal(3, s.errors)
      assert.are.equal(1, s.memory_stops)
      assert.are.equal(1, s.instruction_stops)
      assert.are.equal(7, s.restores)
    end)
  end)

  describe("inside a call", function()
    it("coroutines run, yield and finish", function()
      local iso = iso_of([[
        return function(n)
          local gen = coroutine.wrap(function() for i = 1, n do coroutine.yield(i) end end)
          local sum = 0
          for i = 1, n do sum = sum + gen() end
          local co = coroutine.create(function() error("inner") end)
          local ok, e = coroutine.resume(co)
          return sum, ok, coroutine.status(co)
        end
      ]])
      local sum, ok, status = iso:call(100)
      assert.are.equal(5050, sum)
      assert.is_false(ok)
      assert.are.equal("dead", status)
    end)

    it("deep recursion works, and overflowing the stack is an error like any other", function()
      local iso = iso_of([[
        local function depth(n) if n == 0 then return 0 end return 1 + depth(n - 1) end
        return function(n) return depth(n) end
      ]])
      assert.are.equal(20000, iso:call(20000))
      -- the stack's memory runs out before Lua's own limit of a million slots
      local e = err_of(iso.call, iso, 1e7)
      assert.is_truthy(e:find("^not enough memory") or e:find("stack overflow"), e)
      assert.are.equal(10, iso:call(10))
    end)

    it("large tables and strings are built and returned", function()
      local iso = iso_of([[
        return function(n)
          local t = {}
          for i = 1, n do t[i] = i * 2 end
          local h = {}
          for i = 1, n // 10 do h["k" .. i] = i end
          return #t, t[n], h["k" .. (n // 10)], ("ab"):rep(n)
        end
      ]])
      local n = UNDER_CHECKER and 20000 or 200000
      local len, last, hv, s = iso:call(n)
      assert.are.equal(n, len)
      assert.are.equal(2 * n, last)
      assert.are.equal(n // 10, hv)
      assert.are.equal(2 * n, #s)
    end)
  end)

  describe("values that cannot cross", function()
    local iso = iso_of("return function(...) return ... end")
    local refused = {
      { function() end, "a function" },
      { io.stdout, "a userdata" },
      { lexrt.arena(), "a userdata" },
      { coroutine.create(function() end), "a thread" },
    }

    it("are refused as arguments, naming the argument and the path", function()
      for _, r in ipairs(refused) do
        assert.are.equal("cannot copy " .. r[2] .. " (argument 1)", err_of(iso.call, iso, r[1]))
        assert.are.equal("cannot copy " .. r[2] .. " (argument 2 .cb)", err_of(iso.call, iso, 1, { cb = r[1] }))
        assert.are.equal("cannot copy " .. r[2] .. " (argument 1 .a[2][\"odd key\"])",
          err_of(iso.call, iso, { a = { 1, { ["odd key"] = r[1] } } }))
      end
    end)

    it("are refused as results", function()
      local out = iso_of([[
        return function(kind)
          local function f() end
          if kind == "function" then return 1, { x = { f } } end
          if kind == "thread" then return coroutine.create(f) end
          if kind == "cycle" then local t = {} t.self = t return t end
          if kind == "key" then return { [{}] = 1 } end
        end
      ]])
      assert.are.equal("cannot copy a function (result 2 .x[1])", err_of(out.call, out, "function"))
      assert.are.equal("cannot copy a thread (result 1)", err_of(out.call, out, "thread"))
      assert.are.equal("cannot copy a cyclic table (result 1 .self)", err_of(out.call, out, "cycle"))
      assert.are.equal("cannot copy a table used as a key (result 1)", err_of(out.call, out, "key"))
    end)

    it("are refused as effect arguments and results, inside the isolate", function()
      local h = handler_with({ "io" }, { io = {
        take = function() return true end,
        give = function() return { f = print } end,
      } })
      local e = iso_of([[
        return function(which)
          if which == "take" then return pcall(io.take, { cb = function() end }) end
          return pcall(io.give)
        end
      ]], { handler = h })
      local ok, msg = e:call("take")
      assert.is_false(ok)
      assert.are.equal("cannot copy a function (argument 1 to io.take .cb)", msg)
      ok, msg = e:call("give")
      assert.is_false(ok)
      assert.are.equal("cannot copy a function (result 1 of io.give .f)", msg)
    end)

    it("refuse cycles and tables used as keys, and share everything else", function()
      local cyc = {}
      cyc.a = { b = { back = cyc } }
      assert.are.equal("cannot copy a cyclic table (argument 1 .a.b.back)", err_of(iso.call, iso, cyc))
      assert.are.equal("cannot copy a table used as a key (argument 1 .t)",
        err_of(iso.call, iso, { t = { [{}] = true } }))
      assert.are.equal("cannot copy a function used as a key (argument 1)",
        err_of(iso.call, iso, { [print] = true }))
    end)

    it("refuse nesting past 1000 levels with a clear error, without deep C recursion", function()
      local function nest(n)
        local t = {}
        for _ = 1, n - 1 do t = { t } end
        return t
      end
      local ok = iso:call(nest(1000))
      assert.are.equal("table", type(ok))
      local e = err_of(iso.call, iso, nest(1001))
      assert.matches("^cannot copy a table nested more than 1000 levels deep %(argument 1 %[1%]%[1%]", e)
      assert.matches("%.%.%.%)$", e)
    end)

    it("name the error value when a call raises something that cannot cross", function()
      local bad = iso_of("return function() error({ f = pairs }) end")
      assert.are.equal("cannot copy a function (error value .f)", err_of(bad.call, bad))
      local worse = iso_of("return function() error(pairs) end")
      assert.are.equal("cannot copy a function (error value)", err_of(worse.call, worse))
    end)

    it("leave the isolate usable", function()
      err_of(iso.call, iso, print)
      assert.are.equal(5, iso:call(5))
    end)
  end)

  describe("failure", function()
    it("raises the call's error with the same message", function()
      local iso = iso_of("return function(m) error(m, 0) end", { name = "api" })
      assert.are.equal("plain", err_of(iso.call, iso, "plain"))
      local named = iso_of("return function() local x = nil; return x.y end", { name = "api" })
      assert.matches("^api:1: attempt to index a nil value", err_of(named.call, named))
      assert.are.same({ status = 404 }, err_of(iso.call, iso, { status = 404 }))
    end)

    it("stops a call at max_bytes with 'not enough memory', and the next call runs", function()
      local iso = iso_of([[
        return function(n) return #("x"):rep(n) end
      ]], { max_bytes = 256 * 1024 })
      assert.are.equal(100000, iso:call(100000))
      assert.matches("^not enough memory", err_of(iso.call, iso, 1000000))
      assert.are.equal(10, iso:call(10))
      assert.is_true(iso:stats().peak_call_bytes <= 256 * 1024)
    end)

    it("counts what is copied in against max_bytes", function()
      local iso = iso_of("return function(s) return #s end", { max_bytes = 64 * 1024 })
      assert.are.equal(1000, iso:call(("y"):rep(1000)))
      assert.matches("^not enough memory", err_of(iso.call, iso, ("y"):rep(100000)))
    end)

    it("lets code inside the isolate catch a memory error and go on", function()
      local iso = iso_of([[
        return function() local ok, e = pcall(string.rep, "x", 1 << 24) return ok, e end
      ]], { max_bytes = 1 << 20 })
      local ok, e = iso:call()
      assert.is_false(ok)
      assert.matches("^not enough memory", e)
    end)

    it("defaults max_bytes to the handler's, else to 64 MiB", function()
      assert.are.equal(64 * 1024 * 1024, iso_of("return function() end"):stats().max_bytes)
      local h = lexrt.handler({ max_bytes = 200000 })
      local iso = iso_of("return function(n) return #('z'):rep(n) end", { handler = h })
      assert.are.equal(200000, iso:stats().max_bytes)
      assert.matches("^not enough memory", err_of(iso.call, iso, 300000))
    end)

    it("stops a call at max_instructions, and no pcall or coroutine inside can escape", function()
      local iso = iso_of([[
        return function(how)
          if how == "loop" then while true do end end
          if how == "pcall" then
            while true do pcall(function() while true do end end) end
          end
          if how == "coroutines" then
            while true do
              local co = coroutine.wrap(function() for _ = 1, 500 do end end)
              pcall(co)
            end
          end
          if how == "close" then
            local guard <close> = setmetatable({}, { __close = function() while true do end end })
            while true do end
          end
          local n = 0
          for i = 1, how do n = n + i end
          return n
        end
      ]], { max_instructions = 100000 })
      for _, how in ipairs({ "loop", "pcall", "coroutines", "close" }) do
        assert.are.equal("instruction budget exceeded (max_instructions = 100000)",
          err_of(iso.call, iso, how))
        assert.are.equal(55, iso:call(10))
      end
      assert.are.equal(4, iso:stats().instruction_stops)
    end)

    it("counts instructions exactly below one period", function()
      local iso = iso_of([[
        return function(n) for _ = 1, n do end end
      ]], { max_instructions = 50 })
      assert.has_no.errors(function() iso:call(10) end)
      assert.matches("instruction budget exceeded", err_of(iso.call, iso, 100))
    end)

    it("recovers from a host error in the middle of a call (the host's stack overflowing)", function()
      local h = lexrt.handler()
      local iso = iso_of("return function(...) return ... end", { handler = h, max_bytes = 256 << 20 })
      local n = 600000 -- in and out again: more than the host's stack can hold at once
      local t = {}
      for i = 1, n do
        t[i] = i
      end
      assert.matches("stack overflow", err_of(function() return iso:call(table.unpack(t, 1, n)) end))
      assert.are.same({ 1, 2 }, { iso:call(1, 2) })
      assert.are.equal(0, h:stats().pages_live)
      assert.are.equal(0, h:stats().depth)
    end)

    it("keeps no memory of a failed call in the host", function()
      local h = lexrt.handler()
      local iso = iso_of("return function() local t = {} for i = 1, 1e5 do t[i] = i end error('late') end",
        { handler = h })
      for _ = 1, 5 do
        err_of(iso.call, iso)
      end
      local s = h:stats()
      assert.are.equal(0, s.pages_live)
      assert.are.equal(0, s.chunks_live)
      assert.are.equal(0, s.depth)
    end)
  end)

  describe("while a call runs", function()
    local function busy_setup(action)
      local h, iso
      local result = {}
      h = handler_with({ "io" }, { io = { act = function(arg)
        local depth = h:arena_stack_depth()
        local ok, e = pcall(action, h, iso, arg)
        result.ok, result.err = ok, e
        assert.are.equal(depth, h:arena_stack_depth()) -- nothing changed
        return "after"
      end } })
      iso = iso_of([[
        return function(arg)
          local t = { "some", "state" }
          local r = io.act(arg)
          return r, t[1] .. t[2]
        end
      ]], { handler = h })
      return h, iso, result
    end

    local function check_untouched(h, iso, result)
      assert.is_false(result.ok)
      assert.matches("isolate busy", result.err)
      assert.is_false(iso:is_closed())
      assert.is_false(h:is_closed())
      assert.are.equal(0, h:arena_stack_depth())
      assert.are.equal(0, h:stats().pages_live)
      local r, s = iso:call()
      assert.are.equal("after", r)
      assert.are.equal("somestate", s)
    end

    it("calling the isolate from one of its own effects raises 'isolate busy'", function()
      local h, iso, result = busy_setup(function(_, i) return i:call() end)
      local r, s = iso:call()
      assert.are.equal("after", r)
      assert.are.equal("somestate", s)
      check_untouched(h, iso, result)
    end)

    it("iso:close() raises 'isolate busy'", function()
      local h, iso, result = busy_setup(function(_, i) i:close() end)
      iso:call()
      check_untouched(h, iso, result)
    end)

    it("h:close() raises 'isolate busy'", function()
      local h, iso, result = busy_setup(function(handler) handler:close() end)
      iso:call()
      check_untouched(h, iso, result)
    end)

    it("exiting the call's scope, or one below it, raises 'isolate busy'", function()
      local h, iso, result = busy_setup(function(handler, _, outer)
        return handler:exit_request_scope(outer or handler:stats().scopes_entered)
      end)
      iso:call()
      check_untouched(h, iso, result)
      local outer = h:enter_request_scope()
      iso:call(outer)
      assert.is_false(result.ok)
      assert.matches("isolate busy", result.err)
      assert.are.equal(1, h:arena_stack_depth())
      h:exit_request_scope(outer)
    end)

    it("resetting or closing the call's arena raises 'isolate busy'", function()
      for _, what in ipairs({ "reset", "close" }) do
        local h, iso, result = busy_setup(function(handler) handler:active_arena()[what](handler:active_arena()) end)
        iso:call()
        check_untouched(h, iso, result)
      end
    end)

    it("scopes entered by an effect can be exited, and are exited with the call", function()
      local h
      h = handler_with({ "io" }, { io = { act = function()
        local inner = h:enter_request_scope()
        assert.is_true(h:exit_request_scope(inner))
        h:active_arena():put("kept until the call ends")
        h:enter_request_scope() -- left open on purpose
        return h:arena_stack_depth()
      end } })
      local iso = iso_of("return function() return io.act() end", { handler = h })
      assert.are.equal(2, iso:call())
      assert.are.equal(0, h:arena_stack_depth())
      assert.are.equal(0, h:stats().pages_live)
    end)

    it("another isolate on the same handler can run from an effect", function()
      local h, outer
      local inner
      h = handler_with({ "io" }, { io = { nested = function(x) return inner:call(x) end } })
      inner = iso_of("return function(x) return x * 3 end", { handler = h })
      outer = iso_of("return function(x) return io.nested(x) + 1 end", { handler = h })
      assert.are.equal(22, outer:call(7))
      assert.are.equal(0, h:stats().depth)
    end)
  end)

  describe("the object", function()
    it("closes idempotently; a closed isolate raises on call", function()
      local iso = iso_of("return function() return 1 end")
      assert.is_false(iso:is_closed())
      iso:close()
      iso:close()
      assert.is_true(iso:is_closed())
      assert.are.equal("isolate is closed", err_of(iso.call, iso))
      assert.is_true(iso:stats().closed)
      assert.are.equal("lexrt.isolate(isolate) (closed)", tostring(iso))
    end)

    it("closes at the end of a <close> block", function()
      local kept
      do
        local iso <close> = iso_of("return function() end")
        kept = iso
      end
      assert.is_true(kept:is_closed())
    end)

    it("never runs a __gc metamethod made inside it", function()
      local ran = 0
      local h = handler_with({ "io" }, { io = { note = function() ran = ran + 1 end } })
      local iso = iso_of([[
        keep = setmetatable({}, { __gc = function() io.note() end })
        return function()
          for _ = 1, 100 do setmetatable({}, { __gc = function() io.note() end }) end
          local t = {}
          for i = 1, 1e5 do t[i] = {} end -- plenty of garbage, never collected
        end
      ]], { handler = h })
      iso:call()
      iso:call()
      iso:close()
      collectgarbage()
      assert.are.equal(0, ran)
    end)

    it("is released by the collector without a warning", function()
      for _ = 1, 20 do
        local iso = iso_of("return function(x) return x end")
        iso:call(1)
      end
      collectgarbage()
      collectgarbage()
    end)

    it("tostring names it and its image", function()
      local iso = iso_of("return function() end", { name = "api" })
      iso:call()
      assert.matches("^lexrt%.isolate%(api, %d+%-byte image, 1 calls%)$", tostring(iso))
    end)

    it("reports its figures in stats", function()
      local iso = iso_of("return function(n) local t = {} for i = 1, n do t[i] = i end end")
      iso:call(1000)
      iso:call(10)
      local s = iso:stats()
      assert.are.equal(2, s.calls)
      assert.are.equal(0, s.errors)
      assert.is_true(s.image_bytes > 1000 and s.image_bytes < 200000)
      assert.is_true(s.image_pages >= 1)
      assert.is_true(s.peak_call_bytes > s.last_call_bytes)
      assert.is_true(s.last_call_bytes > 0)
    end)

    it("protects its metatable and checks self", function()
      local iso = iso_of("return function() end")
      assert.are.equal("lexrt.isolate", getmetatable(iso))
      assert.matches("bad argument #1 to 'call' %(lexrt.isolate expected, got table%)",
        err_of(function() return iso.call({}) end))
      assert.is_true(core.is_isolate(iso))
      assert.is_false(core.is_isolate({}))
    end)
  end)

  describe("hostile input", function()
    local function values()
      local closed = iso_of("return function() end")
      closed:close()
      return {
        nil, true, false, 0 / 0, math.huge, -1, 0, 1, 1.5, 1 << 40, math.mininteger, "", "x",
        "return function() end", ("x"):rep(1 << 16), {}, { "string" }, { source = "return pairs" },
        print, coroutine.create(print), io.stdout, lexrt.arena(), lexrt.handler(), closed,
        setmetatable({}, { __index = error, __pairs = error }), n = 25,
      }
    end

    local function hammer(f, vals, arity)
      for i = 1, vals.n do
        for pos = 1, arity do
          local args = {}
          args[pos] = vals[i]
          local ok, e = pcall(f, table.unpack(args, 1, arity))
          assert(ok or type(e) == "string", "raised a " .. type(e))
        end
      end
      local seed = 99
      for _ = 1, 200 do
        local args = {}
        for pos = 1, arity do
          seed = (seed * 1103515245 + 12345) % 2147483648
          args[pos] = vals[seed % vals.n + 1]
        end
        local ok, e = pcall(f, table.unpack(args, 1, arity))
        assert(ok or type(e) == "string", "raised a " .. type(e))
      end
    end

    it("to lexrt.isolate and the C constructor gets errors, never a crash", function()
      local vals = values()
      hammer(lexrt.isolate, vals, 1)
      hammer(core.new_isolate, vals, 7)
      local ok, e = pcall(core.new_isolate, lexrt.handler(), "return function() end", "=x", { 1, 2 }, nil, nil, "x")
      assert.is_false(ok)
      assert.matches("library '%?' is not available", e)
    end)

    it("to every method, on live and closed isolates and on anything else", function()
      local vals = values()
      local live = iso_of("return function(...) return select('#', ...) end")
      for _, m in ipairs({ "call", "stats", "is_closed", "close" }) do
        local f = live[m]
        hammer(function(...) return f(live, ...) end, vals, 2)
        hammer(f, vals, 2)
      end
      for i = 1, vals.n do
        assert.are.equal("string", type(tostring(vals[i])))
      end
    end)
  end)

  describe("when the system refuses memory", function()
    after_each(function() core._fail_after(-1) end)

    it("construction and calls raise 'not enough memory' and the next ones work", function()
      local h = lexrt.handler()
      local built = false
      for n = 0, 60 do
        core._fail_after(n)
        local ok, iso = pcall(lexrt.isolate, { handler = h, source = "return function(x) return x end" })
        core._fail_after(-1)
        if ok then
          built = true
          break
        end
        assert.are.equal("not enough memory", iso)
      end
      assert.is_true(built)
      local iso = iso_of([[
        return function(n) local t = {} for i = 1, n do t[i] = ("v"):rep(100) .. i end return #t end
      ]], { handler = h })
      local failed = 0
      for n = 0, 20 do
        core._fail_after(n)
        local ok, e = pcall(iso.call, iso, 5000)
        core._fail_after(-1)
        if not ok then
          failed = failed + 1
          assert.matches("^not enough memory", e)
        end
        assert.are.equal(3, iso:call(3))
        assert.are.equal(0, h:stats().pages_live)
      end
      assert.is_true(failed > 0)
    end)
  end)

  it("100 000 calls leave pages_live at 0 and resident memory flat", function()
    local h = lexrt.handler()
    local iso = iso_of([[
      local seen = {}
      return function(req)
        seen[#seen + 1] = req
        local out = {}
        for i = 1, 8 do out[i] = req.name .. i end
        return table.concat(out, ","), #seen
      end
    ]], { handler = h })
    local n = UNDER_CHECKER and 3000 or 100000
    local req = { name = "r" }
    local rss0
    for i = 1, n do
      local body, count = iso:call(req)
      if count ~= 1 or #body ~= 23 then
        error("call " .. i .. " saw state from an earlier call")
      end
      if i == n // 10 then
        collectgarbage()
        rss0 = support.rss_kib()
      end
    end
    local s = h:stats()
    assert.are.equal(0, s.pages_live)
    assert.are.equal(0, s.depth)
    assert.are.equal(n, s.scopes_entered)
    if core.RECYCLING then
      assert.are.equal(1, s.pages_from_system) -- one page, reused by every call
    end
    if not UNDER_CHECKER then
      collectgarbage()
      assert.is_true(support.rss_kib() - rss0 < 2048, "resident memory grew")
    end
  end)
end)
