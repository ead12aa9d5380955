-- Hostile input: every public function and method, called with arguments
-- of every Lua type and edge values. Errors are fine; crashes are not, and
-- every error must be a string or a violation table. Bounded in count.
local lexrt = require("lexrt")
local policy = require("lexrt.policy")

local function values()
  local closed_arena = lexrt.arena()
  closed_arena:close()
  local live = lexrt.arena()
  local stale = live:put("stale")
  live:reset()
  local closed_handler = lexrt.handler()
  closed_handler:enter_request_scope()
  local scope_arena = closed_handler:active_arena()
  closed_handler:close()
  return {
    nil, true, false, 0 / 0, math.huge, -math.huge, 0.5, -0.0, -1, 0, 1, 7, 4096, 1 << 40,
    math.mininteger, math.maxinteger, "", "x", "1", "io", "/etc/passwd", ("x"):rep(1 << 20),
    {}, { 1, 2, 3 }, { page_size = 4096 }, string.len, function() end,
    coroutine.create(function() end), io.stdout, closed_arena, live, stale, closed_handler,
    scope_arena, lexrt.handler(), lexrt.policy.permissive(), setmetatable({}, { __index = error }),
    n = 38,
  }
end

local function check_error(ok, e, what)
  if not ok then
    local t = type(e)
    assert(t == "string" or policy.is_violation(e), what .. " raised a " .. t)
  end
end

-- A tiny deterministic generator, so failures reproduce.
local seed = 12345
local function rand(n)
  seed = (seed * 1103515245 + 12345) % 2147483648
  return seed % n + 1
end

local function hammer(name, f, vals, arity)
  for i = 1, vals.n do
    for pos = 1, arity do
      local args = { n = arity }
      args[pos] = vals[i]
      local ok, e = pcall(f, table.unpack(args, 1, arity))
      check_error(ok, e, name)
    end
  end
  for _ = 1, 300 do
    local args = { n = arity }
    for pos = 1, arity do args[pos] = vals[rand(vals.n)] end
    local ok, e = pcall(f, table.unpack(args, 1, arity))
    check_error(ok, e, name)
  end
end

describe("hostile input", function()
  local vals = values()

  it("to the module's functions gets errors, never a crash", function()
    hammer("arena", lexrt.arena, vals, 2)
    hammer("handler", lexrt.handler, vals, 2)
    hammer("deny_all", lexrt.deny_all, vals, 1)
    hammer("serve", lexrt.serve, vals, 3)
    hammer("policy", lexrt.policy, vals, 1)
    hammer("policy.pure", lexrt.policy.pure, vals, 1)
  end)

  it("to every arena method, on live, closed and foreign arenas", function()
    local live = lexrt.arena({ page_size = 4096, max_bytes = 1 << 20 })
    local h = live:put("hello")
    local methods = { "alloc", "put", "size", "write", "read", "bytes_allocated", "page_count",
      "stats", "reset", "close", "is_closed" }
    for _, m in ipairs(methods) do
      local f = live[m]
      hammer("arena:" .. m, function(...) return f(live, ...) end, vals, 3)
      hammer("arena:" .. m .. " with a handle", function(...) return f(live, h, ...) end, vals, 2)
      hammer("arena." .. m .. " on anything", f, vals, 3)
      if m == "reset" or m == "close" then
        live = lexrt.arena({ page_size = 4096, max_bytes = 1 << 20 })
        h = live:put("hello")
      end
    end
    for i = 1, vals.n do
      assert.are.equal("string", type(tostring(vals[i])))
    end
  end)

  it("to every handler method", function()
    local hd = lexrt.handler({ policy = lexrt.policy.permissive(), effects = { io = { print = function() end } } })
    local methods = { "enter_request_scope", "exit_request_scope", "active_arena", "arena_stack_depth",
      "dispatch", "note_call_budget", "spawn_for_worker", "with_scope", "stats", "is_closed" }
    for _, m in ipairs(methods) do
      local f = hd[m]
      hammer("handler:" .. m, function(...) return f(hd, ...) end, vals, 3)
      hammer("handler." .. m .. " on anything", f, vals, 3)
    end
    while hd:arena_stack_depth() > 0 do hd:exit_request_scope(1) hd:exit_request_scope(hd:stats().scopes_entered) end
    hd:close()
    assert.is_true(hd:is_closed())
  end)

  it("to every policy method", function()
    local p = lexrt.policy({ allow_effects = { "fs_read", "net", "proc", "budget" },
      allow_fs_read = { "/srv" }, allow_net_host = { "*.example.com" }, allow_proc = { "ls" }, budget = 10 })
    for _, m in ipairs({ "allows", "check_program", "wildcards", "check_call" }) do
      local f = p[m]
      hammer("policy:" .. m, function(...) return f(p, ...) end, vals, 3)
      hammer("policy." .. m .. " on anything", f, vals, 3)
    end
  end)

  it("leaves objects usable afterwards", function()
    local a = lexrt.arena()
    for i = 1, vals.n do pcall(a.alloc, a, vals[i]) end
    assert.are.equal("ok", a:read(a:put("ok")))
  end)
end)

describe("argument errors", function()
  local err_of = require("spec.support").err_of
  local ARENA_METHODS = { "alloc", "put", "concat", "size", "write", "read", "bytes_allocated",
    "page_count", "stats", "reset", "close", "is_closed" }
  local HANDLER_METHODS = { "enter_request_scope", "exit_request_scope", "active_arena",
    "arena_stack_depth", "with_scope", "stats", "close", "is_closed" }

  it("name the method even when it is called as a plain function", function()
    local a = lexrt.arena()
    assert.are.equal("bad argument #2 to 'read' (number expected, got table)", err_of(a.read, a, {}))
    assert.matches("bad argument #2 to 'alloc' %(number expected, got table%)", err_of(a.alloc, a, {}))
    assert.matches("bad argument #2 to 'put' %(string expected, got table%)", err_of(a.put, a, {}))
    assert.matches("bad argument #3 to 'write' %(number has no integer representation%)",
      err_of(a.write, a, a:alloc(1), 1.5))
    for _, m in ipairs(ARENA_METHODS) do
      assert.matches("bad argument #1 to '" .. m .. "' %(lexrt.arena expected, got table%)", err_of(a[m], {}))
    end
    local h = lexrt.handler()
    assert.matches("bad argument #2 to 'with_scope' %(function expected, got number%)",
      err_of(h.with_scope, h, 5))
    assert.matches("bad argument #2 to 'exit_request_scope' %(number expected, got string%)",
      err_of(h.exit_request_scope, h, "1"))
    for _, m in ipairs(HANDLER_METHODS) do
      assert.matches("bad argument #1 to '" .. m .. "' %(lexrt.handler expected, got number%)", err_of(h[m], 5))
    end
  end)

  it("name the constructors when they are called as plain functions", function()
    assert.matches("bad argument #1 to 'arena' %(table expected, got number%)", err_of(lexrt.arena, 5))
    assert.matches("bad argument #1 to 'arena' %(unknown option 'x'%)", err_of(lexrt.arena, { x = 1 }))
  end)

  it("count from the first argument after self in a method call, as Lua's own do", function()
    local a = lexrt.arena()
    assert.matches("bad argument #1 to 'read' %(number expected, got table%)", err_of(function() return a:read({}) end))
    assert.matches("calling 'read' on bad self %(lexrt.arena expected, got table%)",
      err_of(function() local t = { read = a.read } return t:read(1) end))
  end)
end)

describe("lexrt objects", function()
  it("hide their metatables from getmetatable", function()
    local a = lexrt.arena()
    local h = lexrt.handler()
    h:enter_request_scope()
    assert.are.equal("lexrt.arena", getmetatable(a))
    assert.are.equal("lexrt.arena", getmetatable(h:active_arena()))
    assert.are.equal("lexrt.handler", getmetatable(h))
    assert.are.equal("lexrt.handler", getmetatable(h:spawn_for_worker()))
    h:close()
    assert.are.equal("lexrt.handler", getmetatable(h))
  end)

  it("give code holding one handler no way to change another's methods", function()
    local victim = lexrt.handler({ policy = lexrt.policy.permissive(),
      effects = { io = { read = function() return "the real effect" end } } })
    local attacker = lexrt.handler()
    local evil = function() return "evil" end
    local attempts = {
      function() getmetatable(attacker).__index.dispatch = evil end,
      function() rawset(getmetatable(attacker), "__index", { dispatch = evil }) end,
      function() attacker.dispatch = evil end,
      function() attacker.with_scope = evil end,
      function() require("lexrt.core").handler_methods.dispatch = evil end,
      function() require("lexrt.core").arena_methods.put = evil end,
      function() require("lexrt.core")._handler_front({ dispatch = evil }) end,
      function() require("lexrt.core")._handler_front({ evil = evil }) end,
    }
    for _, attempt in ipairs(attempts) do
      pcall(attempt)
    end
    assert.are.equal("the real effect", victim:dispatch("io", "read"))
    assert.is_nil(victim.evil)
    local a = lexrt.arena()
    pcall(function() getmetatable(a).__index.put = evil end)
    assert.are.equal("x", a:read(a:put("x")))
  end)

  it("do not export their method tables from lexrt.core", function()
    local core = require("lexrt.core")
    assert.is_nil(core.handler_methods)
    assert.is_nil(core.arena_methods)
    assert.matches("already registered", select(2, pcall(core._handler_front, {})))
  end)
end)
