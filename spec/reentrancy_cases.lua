-- The cases of spec/reentrancy_spec.lua: a finaliser that resets, closes
-- or exits an object while one of its methods is running. A module rather
-- than a spec so that each case can also run alone in a child interpreter
-- (`main(i)`), where a crash of the old code cannot end the suite.
--
-- How a finaliser is made to run *inside* a given call: the collector is
-- stopped, put in generational mode (where every collector step is a
-- whole minor collection that finalises every unreachable young object),
-- and an unreachable object with a __gc is made. A call hook restarts the
-- collector when `target` is entered; restarting sets the collector's
-- debt to zero, so the first allocation inside `target` (a string made
-- from a number, a new table, a new userdata...) runs the finaliser.
-- The finaliser records whether `target` was on the stack below it.
local lexrt = require("lexrt")

local M = {}

local function eq(want, got, what)
  if want ~= got then
    error(("%s: expected %s, got %s"):format(what, tostring(want), tostring(got)), 2)
  end
end

local function matches(pattern, s, what)
  if type(s) ~= "string" or not s:find(pattern) then
    error(("%s: expected an error matching %q, got %s"):format(what, pattern, tostring(s)), 2)
  end
end

local function is_target(target, level)
  local info = debug.getinfo(level + 1, "fnS")
  if type(target) == "table" then
    return target.what == info.what and target.name == info.name
  end
  return info.func == target
end

-- A C function called under the name `name`.
local function c_named(name)
  return { what = "C", name = name }
end

local function arm(target, action, rec)
  setmetatable({}, { __gc = function()
    rec.fired = true
    for level = 2, math.huge do
      if not debug.getinfo(level, "f") then break end
      if is_target(target, level) then
        rec.inside = true
        break
      end
    end
    action()
  end })
end

-- Calls f() with a finaliser running `action` at the first allocation
-- inside `target` (a function, or a c_named() description of one).
-- Returns the record {fired, inside} and pcall's results, packed.
function M.fire_inside(target, action, f)
  local rec = { fired = false, inside = false }
  local hook, mask, count = debug.gethook()
  collectgarbage("collect")
  collectgarbage("generational")
  collectgarbage("stop")
  arm(target, action, rec)
  debug.sethook(function()
    if is_target(target, 2) then
      debug.sethook()
      collectgarbage("restart")
    end
  end, "c")
  local res = table.pack(pcall(f))
  debug.sethook(hook, mask, count)
  collectgarbage("restart")
  collectgarbage("incremental")
  collectgarbage("collect") -- the finaliser has run by now, inside or not
  assert(rec.fired, "the finaliser never ran")
  return rec, res
end
local fire_inside = M.fire_inside

-- The finaliser ran inside the call, and the call raised an error
-- matching `pattern`.
local function raised_inside(rec, res, pattern, what)
  eq(true, rec.inside, what .. ": finaliser ran inside the call")
  eq(false, res[1], what .. ": the call raised")
  matches(pattern, res[2], what)
end

-- The finaliser ran inside the call, and the call returned normally.
local function returned_inside(rec, res, what)
  eq(true, rec.inside, what .. ": finaliser ran inside the call")
  if not res[1] then error(what .. ": the call raised " .. tostring(res[2]), 2) end
end

-- A number whose string form no loaded chunk holds as a constant, so that
-- converting it makes a new string (an interned one would allocate nothing).
local NUM = 7 * 11 * 13 * 1009

local function new_arena()
  return lexrt.arena({ page_size = 4096 })
end

local cases = {}
local function case(name, run)
  cases[#cases + 1] = { name = name, run = run }
end

---------------------------------------------------------------- arenas

case("alloc: a finaliser that closes the arena while alloc words an argument error leaves that error",
  function()
    local a = new_arena()
    local rec, res = fire_inside(a.alloc, function() a:close() end, function() return a:alloc(-1) end)
    raised_inside(rec, res, "bad argument #1 to 'alloc' %(non%-negative integer expected, got %-1%)", "alloc")
    eq(true, a:is_closed(), "closed")
  end)

case("alloc: a finaliser that resets the arena while alloc reports max_bytes leaves that error",
  function()
    local a = lexrt.arena({ page_size = 4096, max_bytes = 100 })
    a:alloc(64)
    local rec, res = fire_inside(a.alloc, function() a:reset() end, function() return a:alloc(64) end)
    raised_inside(rec, res, "max_bytes", "alloc")
    eq(0, a:bytes_allocated(), "bytes after the finaliser's reset")
    eq(64, a:size(a:alloc(64)), "the arena stays usable")
  end)

case("alloc: a successful alloc makes no Lua object, so no finaliser runs inside it", function()
  local a = new_arena()
  local rec, res = fire_inside(a.alloc, function() a:close() end, function() return a:alloc(8) end)
  eq(false, rec.inside, "finaliser inside alloc")
  eq(true, a:is_closed(), "closed afterwards")
  eq("integer", math.type(res[2]), "handle")
end)

case("put: a finaliser that closes the arena while put converts a number gives 'arena is closed'",
  function()
    local a = new_arena()
    a:put("x")
    local rec, res = fire_inside(a.put, function() a:close() end, function() return a:put(NUM) end)
    raised_inside(rec, res, "arena is closed", "put")
  end)

case("put: a finaliser that resets the arena while put converts a number puts into the reset arena",
  function()
    local a = new_arena()
    local old = a:put("before")
    local mine
    local rec, res = fire_inside(a.put, function()
      a:reset()
      mine = a:put("finaliser")
    end, function() return a:put(NUM) end)
    returned_inside(rec, res, "put")
    eq(tostring(NUM), a:read(res[2]), "the put's block")
    eq("finaliser", a:read(mine), "the finaliser's block")
    eq(false, pcall(a.read, a, old), "the handle from before the reset is stale")
    eq(2, a:stats().allocs, "blocks since the reset")
  end)

case("put: a finaliser that exits the scope while put converts a number gives 'arena is closed'",
  function()
    local h = lexrt.handler({ page_size = 4096 })
    local id = h:enter_request_scope()
    local a = h:active_arena()
    a:put("x")
    local rec, res = fire_inside(a.put, function() h:exit_request_scope(id) end,
      function() return a:put(NUM) end)
    raised_inside(rec, res, "arena is closed", "put")
    eq(0, h:arena_stack_depth(), "depth")
    eq(0, h:stats().pages_live, "pages_live")
  end)

case("concat: a finaliser that closes the arena while concat words an error leaves that error", function()
  local a = new_arena()
  local x = a:put("x")
  local rec, res = fire_inside(a.concat, function() a:close() end,
    function() return a:concat({ x, "y", 1.5 }) end)
  raised_inside(rec, res, "handle or string expected at index 3", "concat")
end)

case("concat: a successful concat makes no Lua object, so no finaliser runs inside it", function()
  local a = new_arena()
  local x = a:put("x")
  local rec, res = fire_inside(a.concat, function() a:close() end,
    function() return a:concat({ x, "y" }) end)
  eq(false, rec.inside, "finaliser inside concat")
  eq(true, res[1], "concat succeeded")
end)

case("size: a finaliser that closes the arena while size words an error leaves that error", function()
  local a = new_arena()
  local rec, res = fire_inside(a.size, function() a:close() end, function() return a:size(1.5) end)
  raised_inside(rec, res, "bad argument #1 to 'size'", "size")
end)

case("write: a finaliser that closes the arena while write converts a number gives 'arena is closed'",
  function()
    local a = new_arena()
    local b = a:alloc(16)
    local rec, res = fire_inside(a.write, function() a:close() end,
      function() return a:write(b, 1, NUM) end)
    raised_inside(rec, res, "arena is closed", "write")
  end)

case("write: a finaliser that resets the arena and reuses its memory makes write's handle stale",
  function()
    local a = new_arena()
    local b = a:alloc(16)
    local mine
    local rec, res = fire_inside(a.write, function()
      a:reset()
      mine = a:put(("A"):rep(16)) -- the very bytes `b` named
    end, function() return a:write(b, 1, NUM) end)
    raised_inside(rec, res, "stale or foreign arena handle", "write")
    eq(("A"):rep(16), a:read(mine), "the finaliser's block is untouched")
  end)

case("write: a finaliser that exits the scope while write converts a number gives 'arena is closed'",
  function()
    local h = lexrt.handler({ page_size = 4096 })
    local id = h:enter_request_scope()
    local a = h:active_arena()
    local b = a:alloc(16)
    local rec, res = fire_inside(a.write, function() h:exit_request_scope(id) end,
      function() return a:write(b, 1, NUM) end)
    raised_inside(rec, res, "arena is closed", "write")
    eq(0, h:stats().pages_live, "pages_live")
  end)

case("read: a finaliser that closes the arena while read makes its string still gets the bytes",
  function()
    local a = new_arena()
    -- Longer than 40 bytes: Lua does not intern it, so read makes a new one.
    local b = a:put(("hello, arena "):rep(4))
    local rec, res = fire_inside(a.read, function() a:close() end, function() return a:read(b, 1, 45) end)
    returned_inside(rec, res, "read")
    eq(("hello, arena "):rep(4):sub(1, 45), res[2], "read's result")
    eq(true, a:is_closed(), "closed")
  end)

case("bytes_allocated, page_count, reset, close and is_closed make no Lua object", function()
  for _, m in ipairs({ "bytes_allocated", "page_count", "reset", "close", "is_closed" }) do
    local a = new_arena()
    a:put("12345")
    local rec, res = fire_inside(a[m], function()
      if not a:is_closed() then a:reset() end
    end, function() return a[m](a) end)
    eq(false, rec.inside, m .. ": finaliser inside")
    eq(true, res[1], m .. " succeeded")
  end
end)

case("bytes_allocated: a finaliser that closes the arena while the error is worded leaves that error",
  function()
    local a = new_arena()
    local rec, res = fire_inside(a.bytes_allocated, function() a:close() end,
      function() return a.bytes_allocated({}) end)
    raised_inside(rec, res, "lexrt.arena expected, got table", "bytes_allocated")
  end)

case("stats: a finaliser that closes the arena while stats makes its table gets the stats from before",
  function()
    local a = lexrt.arena({ page_size = 4096, max_bytes = 1000 })
    a:put("12345")
    local rec, res = fire_inside(a.stats, function() a:close() end, function() return a:stats() end)
    returned_inside(rec, res, "stats")
    eq(5, res[2].bytes_allocated, "bytes_allocated")
    eq(1, res[2].page_count, "page_count")
    eq(4096, res[2].page_size, "page_size")
    eq(1000, res[2].max_bytes, "max_bytes")
    eq(true, a:is_closed(), "closed")
  end)

case("stats: a finaliser that exits the scope while stats makes its table gets the stats from before",
  function()
    local h = lexrt.handler({ page_size = 4096 })
    local id = h:enter_request_scope()
    local a = h:active_arena()
    a:put("12345")
    local rec, res = fire_inside(a.stats, function() h:exit_request_scope(id) end,
      function() return a:stats() end)
    returned_inside(rec, res, "stats")
    eq(5, res[2].bytes_allocated, "bytes_allocated")
    eq(0, h:stats().pages_live, "pages_live")
  end)

case("tostring: a finaliser that closes the arena while tostring makes its string names the arena before",
  function()
    local a = new_arena()
    a:put("12345")
    local rec, res = fire_inside(tostring, function() a:close() end, function() return tostring(a) end)
    returned_inside(rec, res, "tostring")
    eq(("lexrt.arena(%d pages, %d bytes)"):format(1, 5), res[2], "tostring")
  end)

case("lexrt.arena: a finaliser that makes and closes arenas while one is built leaves a working arena",
  function()
    local made
    local rec, res = fire_inside(lexrt.arena, function()
      made = lexrt.arena()
      made:put("x")
      made:close()
    end, function() return lexrt.arena({ page_size = 4096 }) end)
    returned_inside(rec, res, "arena")
    eq(true, made:is_closed(), "the finaliser's arena")
    local a = res[2]
    eq("ok", a:read(a:put("ok")), "the new arena works")
  end)

---------------------------------------------------------------- handlers

local function handler_with_scopes(n)
  local h = lexrt.handler({ page_size = 4096 })
  local ids = {}
  for i = 1, n do
    ids[i] = h:enter_request_scope()
    h:active_arena():put("x")
  end
  return h, ids
end

local function exit_all(h)
  h:exit_request_scope(1)
  local s = h:stats()
  eq(0, s.depth, "depth")
  eq(0, s.pages_live, "pages_live")
end

case("enter_request_scope: a finaliser that closes the handler gives 'handler is closed'", function()
  local h = handler_with_scopes(1)
  local rec, res = fire_inside(h.enter_request_scope, function() h:close() end,
    function() return h:enter_request_scope() end)
  raised_inside(rec, res, "handler is closed", "enter_request_scope")
  eq(true, h:is_closed(), "closed")
  eq(0, h:stats().pages_live, "pages_live")
end)

case("enter_request_scope: a finaliser that fills the scope array makes the array grow", function()
  local h = handler_with_scopes(7) -- the array holds 8
  local rec, res = fire_inside(h.enter_request_scope, function() h:enter_request_scope() end,
    function() return h:enter_request_scope() end)
  returned_inside(rec, res, "enter_request_scope")
  eq(9, res[2], "id")
  eq(9, h:arena_stack_depth(), "depth")
  eq(true, h:exit_request_scope(9), "exit 9")
  eq(8, h:arena_stack_depth(), "depth after exit 9")
  exit_all(h)
end)

case("enter_request_scope: a finaliser that exits every scope leaves the new one alone at depth 1",
  function()
    local h = handler_with_scopes(3)
    local rec, res = fire_inside(h.enter_request_scope, function() h:exit_request_scope(1) end,
      function() return h:enter_request_scope() end)
    returned_inside(rec, res, "enter_request_scope")
    eq(1, h:arena_stack_depth(), "depth")
    eq(4, res[2], "id")
    eq(true, h:exit_request_scope(4), "exit")
    exit_all(h)
  end)

case("exit_request_scope: a finaliser that closes the handler while the error is worded leaves it",
  function()
    local h = handler_with_scopes(1)
    local rec, res = fire_inside(h.exit_request_scope, function() h:close() end,
      function() return h:exit_request_scope(1.5) end)
    raised_inside(rec, res, "bad argument #1 to 'exit_request_scope'", "exit_request_scope")
    eq(0, h:stats().pages_live, "pages_live")
  end)

case("exit_request_scope, active_arena, arena_stack_depth, close and is_closed make no Lua object",
  function()
    for _, m in ipairs({ "exit_request_scope", "active_arena", "arena_stack_depth", "close", "is_closed" }) do
      local h = handler_with_scopes(2)
      local rec, res = fire_inside(h[m], function() h:exit_request_scope(1) end,
        function() return h[m](h, 2) end)
      eq(false, rec.inside, m .. ": finaliser inside")
      eq(true, res[1], m .. " succeeded")
      exit_all(h)
    end
  end)

case("with_scope: a finaliser that closes the handler on entry gives 'handler is closed'", function()
  local h = handler_with_scopes(1)
  local called = false
  local rec, res = fire_inside(h.with_scope, function() h:close() end,
    function() return h:with_scope(function() called = true end) end)
  raised_inside(rec, res, "handler is closed", "with_scope")
  eq(false, called, "fn called")
  eq(0, h:stats().pages_live, "pages_live")
end)

case("with_scope: a finaliser that fills the scope array on entry makes the array grow", function()
  local h = handler_with_scopes(7)
  local rec, res = fire_inside(h.with_scope, function() h:enter_request_scope() end,
    function()
      return h:with_scope(function(a, id)
        return a:read(a:put("in scope")), id, h:arena_stack_depth(), h:active_arena() == a
      end)
    end)
  returned_inside(rec, res, "with_scope")
  eq("in scope", res[2], "fn's result")
  eq(9, res[3], "id")
  eq(9, res[4], "depth inside")
  eq(true, res[5], "fn's arena is the active one")
  eq(8, h:arena_stack_depth(), "depth after")
  exit_all(h)
end)

case("with_scope: a finaliser that closes the handler while a callable table is checked "
  .. "gives 'handler is closed'", function()
    local h = handler_with_scopes(1)
    local fn = setmetatable({}, { __call = function() return "called" end })
    local rec, res = fire_inside(h.with_scope, function() h:close() end,
      function() return h:with_scope(fn) end)
    raised_inside(rec, res, "handler is closed", "with_scope")
  end)

-- In a coroutine with_scope takes a scope guard: a new one (an allocation)
-- the first time, the handler's spare one after that.
case("with_scope in a coroutine: a finaliser that closes the handler while the scope guard is made "
  .. "gives 'handler is closed'", function()
    local h = handler_with_scopes(1)
    coroutine.wrap(function()
      local rec, res = fire_inside(h.with_scope, function() h:close() end,
        function() return h:with_scope(function() return "called" end) end)
      raised_inside(rec, res, "handler is closed", "with_scope")
    end)()
    eq(0, h:stats().pages_live, "pages_live")
  end)

case("with_scope in a coroutine: a finaliser that fills the scope array on entry makes the array grow",
  function()
    local h = handler_with_scopes(7)
    coroutine.wrap(function()
      eq("warm", h:with_scope(function() return "warm" end), "the guard is spare now")
      local rec, res = fire_inside(h.with_scope, function() h:enter_request_scope() end,
        function()
          return h:with_scope(function(a, id)
            return a:read(a:put("in scope")), id, h:arena_stack_depth()
          end)
        end)
      returned_inside(rec, res, "with_scope")
      eq("in scope", res[2], "fn's result")
      eq(10, res[3], "id")
      eq(9, res[4], "depth inside")
    end)()
    eq(8, h:arena_stack_depth(), "depth after")
    exit_all(h)
  end)

case("stats: a finaliser that closes the handler while stats makes its table gets the stats from before",
  function()
    local h = handler_with_scopes(1)
    local rec, res = fire_inside(h.stats, function() h:close() end, function() return h:stats() end)
    returned_inside(rec, res, "stats")
    eq(1, res[2].depth, "depth")
    eq(1, res[2].pages_live, "pages_live")
    eq(1, res[2].scopes_entered, "scopes_entered")
    eq(0, res[2].scopes_exited, "scopes_exited")
    eq(0, h:stats().pages_live, "pages_live after")
  end)

case("tostring: a finaliser that closes the handler while tostring makes its string names it before",
  function()
    local h = handler_with_scopes(1)
    local rec, res = fire_inside(tostring, function() h:close() end, function() return tostring(h) end)
    returned_inside(rec, res, "tostring")
    eq(("lexrt.handler(%d scopes open)"):format(1), res[2], "tostring")
  end)

case("dispatch: a finaliser that closes the handler during dispatch leaves a finished call", function()
  local h = lexrt.handler({ policy = lexrt.policy({ allow_effects = { "io" } }),
    effects = { io = { echo = function(s) return "echo " .. s end } } })
  local rec, res = fire_inside(h.dispatch, function() h:close() end,
    function() return h:dispatch("io", "echo", "x") end)
  returned_inside(rec, res, "dispatch")
  eq("echo x", res[2], "result")
  eq(true, h:is_closed(), "closed")
end)

case("note_call_budget: a finaliser that closes the handler while a refusal is worded leaves it",
  function()
    local h = lexrt.handler({ policy = lexrt.policy({ allow_effects = { "budget" }, budget = 10 }) })
    local rec, res = fire_inside(h.note_call_budget, function() h:close() end,
      function() return h:note_call_budget(11) end)
    eq(true, rec.inside, "finaliser inside")
    eq(false, res[1], "refused")
    eq("budget_exceeded", type(res[2]) == "table" and res[2].kind, "violation kind")
  end)

case("spawn_for_worker: a finaliser that closes the parent while the worker is built "
  .. "gives 'handler is closed'", function()
    local h = handler_with_scopes(1)
    local rec, res = fire_inside(c_named("new_handler"), function() h:close() end,
      function() return h:spawn_for_worker() end)
    raised_inside(rec, res, "handler is closed", "spawn_for_worker")
    eq(0, h:stats().pages_live, "pages_live")
  end)

case("lexrt.handler: a finaliser that makes and closes handlers while one is built leaves a working one",
  function()
    local made
    local rec, res = fire_inside(c_named("handler"), function()
      made = lexrt.handler()
      made:enter_request_scope()
      made:close()
    end, function() return lexrt.handler({ page_size = 4096, pool_pages = 4 }) end)
    returned_inside(rec, res, "handler")
    eq(true, made:is_closed(), "the finaliser's handler")
    local h = res[2]
    eq("ok", h:with_scope(function(a) return a:read(a:put("ok")) end), "the new handler works")
    eq(0, h:stats().pages_live, "pages_live")
  end)

M.cases = cases

-- Runs case i and reports on stdout (for the child interpreter).
function M.main(i)
  local c = assert(cases[i], "no such case")
  warn("@on") -- an error inside a finaliser is only a warning
  c.run()
  io.stdout:write("case ok\n")
end

return M
