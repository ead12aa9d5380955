-- A first look at a lexrt arena: allocate, write, read, reset, inspect.
-- Run from the checkout with `make run`, or with lexrt installed:
--   lua5.4 examples/arena_tour.lua
local lexrt = require("lexrt")

local a <close> = lexrt.arena()          -- 64 KiB pages, no budget

local greeting = a:put("hello, request")  -- copy a string in: a handle back
local buf = a:alloc(32)                   -- 32 zero bytes, 8-byte aligned
a:write(buf, 1, "status=200")
print(a:read(greeting), a:read(buf, 1, 10))

for i = 1, 2000 do a:put(("row %d;"):format(i)) end
local big = a:alloc(200000)               -- larger than a page: its own chunk
print(tostring(a), "block of", a:size(big), "bytes")

local s = a:stats()
print(("allocs=%d large=%d bytes=%d wasted=%d capacity=%d"):format(
  s.allocs, s.large_allocs, s.bytes_allocated, s.wasted, s.capacity))

a:reset()                                 -- end of request: every handle dies
print(tostring(a), pcall(a.read, a, greeting))
