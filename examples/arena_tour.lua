-- A first look at a lexrt arena: allocate, write, read, reset, inspect.
-- README.md shows this file as its tour, and spec/docs_spec.lua checks
-- that every `-->` comment below is what the line really prints.
-- From a checkout, after `make build`:
--   LUA_PATH='lua/?.lua;lua/?/init.lua;;' LUA_CPATH='build/?.so;;' lua5.4 examples/arena_tour.lua
-- With lexrt installed: lua5.4 examples/arena_tour.lua

local lexrt = require("lexrt")

local a <close> = lexrt.arena()          -- 64 KiB pages, no budget
local greeting = a:put("hello, request")  -- copy a string in: a handle back
local buf = a:alloc(32)                   -- 32 zero bytes, 8-byte aligned
a:write(buf, 1, "status=200")
print(a:read(greeting), a:read(buf, 1, 10))   --> hello, request  status=200
print(a)                                  --> lexrt.arena(1 pages, 48 bytes)
-- 48 = 14 bytes of greeting, 2 of padding to align buf, 32 of buf.

for i = 1, 2000 do a:put(("row %d;"):format(i)) end
local big = a:alloc(200000)               -- larger than a page: a chunk of its own
print(a, a:size(big))                     --> lexrt.arena(2 pages, 216941 bytes)  200000

local s = a:stats()
print(s.allocs, s.large_allocs, s.wasted, s.capacity)   --> 2003  1  0  266240

a:reset()                                 -- end of request: every handle dies,
                                          -- the page and the chunk stay for reuse
print(a)                                  --> lexrt.arena(2 pages, 0 bytes)
print(pcall(a.read, a, greeting))         --> false  bad argument #2 to ... (stale or foreign arena handle)
