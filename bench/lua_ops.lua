-- One Lua-side operation in a loop, for lua_callgrind.sh:
--   lua_host lua_ops.lua OP N
-- The loops are lua_bench.lua's, so the counts explain its timings.
local lexrt = require("lexrt")
local op, n = arg[1], math.tointeger(tonumber(arg[2]))

local s = "hello"
local a = lexrt.arena()
local s24 = ("x"):rep(24)
local ra = lexrt.arena()
local rh = ra:put(s24)
local h = lexrt.handler()
local function empty() end

local bound = a:allocator()

local OPS = {
  loop = function(k)
    for _ = 1, k do end
  end,
  len = function(k)
    for i = 1, k do
      if i & 2047 == 0 then s:len() end
      s:len()
    end
  end,
  alloc = function(k)
    for i = 1, k do
      if i & 2047 == 0 then a:reset() end
      a:alloc(24)
    end
  end,
  bound = function(k)
    for i = 1, k do
      if i & 2047 == 0 then a:reset() end
      bound(24)
    end
  end,
  sub = function(k)
    for _ = 1, k do s24:sub(1, 24) end
  end,
  read = function(k)
    for _ = 1, k do ra:read(rh) end
  end,
  pcall = function(k)
    for _ = 1, k do pcall(empty) end
  end,
  with_scope = function(k)
    for _ = 1, k do h:with_scope(empty) end
  end,
}

local f = OPS[op] or error("unknown op " .. tostring(op))
f(1000) -- warm-up: the block table, pages and scope shells exist
f(n)
