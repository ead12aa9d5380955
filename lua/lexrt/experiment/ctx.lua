--[=[
The allocation interface that every workload is written against, with
one implementation per way of managing request memory.

A workload handler receives a ctx and only ever touches request memory
through it:

  ctx:str(s)             -> ref   a copy of string s
  ctx:buf(n)             -> ref   n zero bytes, writable
  ctx:write(ref, pos, s)          copy s into a ctx:buf ref at 1-based pos
  ctx:concat(pieces)     -> ref   the pieces' bytes in order; a piece is a
                                  ref or a plain Lua string (a literal)
  ctx:read(ref [, i [, j]]) -> string   string.sub index rules
  ctx:size(ref)          -> n
  ctx:wait()                      marks a point where a real handler would
                                  wait for I/O (a database, an upstream):
                                  with several requests in flight, another
                                  request runs here; alone, nothing happens
  ctx.mode                        the mode's name (lexrt.experiment.MODES)

A ref is opaque: a Lua string or table in gc mode, an arena handle in the
arena modes. Because the workload never looks inside one, the same
handler code produces the same bytes in every mode.
]=]

local M = {}

local concat, type, sub, yield = table.concat, type, string.sub, coroutine.yield

-- Set by the mode driver when requests run interleaved in coroutines.
local function wait(self)
  if self.yields then
    yield()
  end
end

----------------------------------------------------------------------
-- gc mode: refs are ordinary Lua values and the collector frees them.
----------------------------------------------------------------------

-- Lua strings are immutable, so a writable buffer is a table of fixed-size
-- segments: a write rebuilds only the segments it touches, the way a Lua
-- programmer would keep a large mutable buffer without quadratic copying.
local SEG = 1024
local ZERO = string.rep("\0", SEG) -- shared: immutable, so free to alias
local Buf = {}

local Gc = {}
Gc.__index = Gc

function M.gc(mode)
  return setmetatable({ mode = mode or "gc", bytes = 0, yields = false }, Gc)
end

Gc.wait = wait

local function check_string(s, fname)
  if type(s) ~= "string" then
    error(("bad argument to 'ctx:%s' (string expected, got %s)"):format(fname, type(s)), 3)
  end
end

function Gc:str(s)
  check_string(s, "str")
  self.bytes = self.bytes + #s
  return s
end

function Gc:buf(n)
  if math.type(n) ~= "integer" or n < 0 then
    error("bad argument to 'ctx:buf' (non-negative integer expected)", 2)
  end
  self.bytes = self.bytes + n
  local segs, full = {}, n // SEG
  for k = 1, full do
    segs[k] = ZERO
  end
  if n > full * SEG then
    segs[full + 1] = sub(ZERO, 1, n - full * SEG)
  end
  return setmetatable({ n = n, segs = segs }, Buf)
end

function Gc:write(ref, pos, s)
  if getmetatable(ref) ~= Buf then
    error("bad argument to 'ctx:write' (ref from ctx:buf expected)", 2)
  end
  check_string(s, "write")
  local len = #s
  if math.type(pos) ~= "integer" or pos < 1 or pos - 1 + len > ref.n then
    error("bad argument to 'ctx:write' (write would cross the block's end)", 2)
  end
  local segs, at, i = ref.segs, pos - 1, 1
  while i <= len do
    local k, off = at // SEG + 1, at % SEG
    local take = math.min(SEG - off, len - i + 1)
    local seg = segs[k]
    local piece = (i == 1 and take == len) and s or sub(s, i, i + take - 1)
    if take == #seg then
      segs[k] = piece
    else
      segs[k] = sub(seg, 1, off) .. piece .. sub(seg, off + take + 1)
    end
    i, at = i + take, at + take
  end
end

local function size_of(ref)
  if type(ref) == "string" then
    return #ref
  elseif getmetatable(ref) == Buf then
    return ref.n
  end
  error(("not a ctx ref: %s"):format(type(ref)), 3)
end

function Gc:size(ref)
  return size_of(ref)
end

-- string.sub's rules, so that gc and arena reads agree on every index.
local function span(n, i, j)
  i, j = i or 1, j or -1
  if i < 0 then
    i = math.max(n + i + 1, 1)
  elseif i == 0 then
    i = 1
  end
  if j < 0 then
    j = n + j + 1
  elseif j > n then
    j = n
  end
  return i, j
end

function Gc:read(ref, i, j)
  if type(ref) == "string" then
    return sub(ref, i or 1, j or -1)
  end
  local n = size_of(ref)
  i, j = span(n, i, j)
  if i > j then
    return ""
  end
  -- Join only the segments the range touches.
  local k1, k2 = (i - 1) // SEG + 1, (j - 1) // SEG + 1
  local base = (k1 - 1) * SEG
  return sub(concat(ref.segs, "", k1, k2), i - base, j - base)
end

function Gc:concat(pieces)
  local parts, np, total = {}, 0, 0
  for k = 1, #pieces do
    local p = pieces[k]
    if type(p) == "string" then
      np = np + 1
      parts[np] = p
      total = total + #p
    elseif getmetatable(p) == Buf then
      local segs = p.segs
      for s = 1, #segs do
        parts[np + s] = segs[s]
      end
      np = np + #segs
      total = total + p.n
    else
      error(("bad argument to 'ctx:concat' (piece %d is not a ref or string)"):format(k), 2)
    end
  end
  self.bytes = self.bytes + total
  return concat(parts, "", 1, np)
end

----------------------------------------------------------------------
-- arena modes: refs are handles into the request's arena (self.a, set by
-- the mode driver for each request).
----------------------------------------------------------------------

local Arena = {}
Arena.__index = Arena

function M.arena(mode)
  return setmetatable({ mode = mode, a = false, yields = false }, Arena)
end

Arena.wait = wait

-- Alignment 1 throughout: the workloads store bytes, not structs, and it
-- makes bytes_allocated equal to the bytes the gc ctx counts.
function Arena:str(s)
  return self.a:put(s)
end

function Arena:buf(n)
  return self.a:alloc(n, 1)
end

function Arena:write(ref, pos, s)
  self.a:write(ref, pos, s)
end

function Arena:read(ref, i, j)
  return self.a:read(ref, i or 1, j or -1)
end

function Arena:size(ref)
  return self.a:size(ref)
end

-- a:concat copies block to block in C: building a response from refs
-- and literals makes no Lua garbage.
function Arena:concat(pieces)
  for k = 1, #pieces do
    local p = pieces[k]
    if type(p) ~= "string" and math.type(p) ~= "integer" then
      error(("bad argument to 'ctx:concat' (piece %d is not a ref or string)"):format(k), 2)
    end
  end
  return self.a:concat(pieces)
end

return M
