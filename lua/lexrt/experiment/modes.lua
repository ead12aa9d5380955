--[[
One driver per memory mode. The runner only ever calls, per request,
  d:start() -> ctx    before the handler (enter a scope / make an arena)
  d:finish()          after it (exit the scope / close the arena)
and, outside the timed pass, d:stats() (this request's sizes, between the
two) and d:pool() (page counters, or nil), then d:close() once. A driver
with a `handler` field runs requests itself (isolate mode): the runner
calls d.handler(ctx, req) instead of the workload's handler.
]]

local Ctx = require("lexrt.experiment.ctx")
local bundle = require("lexrt.experiment.bundle")

local M = {}

M.NAMES = { "gc", "arena", "arena-nopool", "isolate" }

-- Whether `name` is one of NAMES.
function M.known(name)
  for _, n in ipairs(M.NAMES) do
    if n == name then
      return true
    end
  end
  return false
end

-- The C module is loaded only when an arena mode runs, so gc mode works
-- (and the specs of this file can run) before the binding is built.
local function lexrt()
  local ok, mod = pcall(require, "lexrt")
  if ok and type(mod) == "table" and mod.handler and mod.arena then
    return mod
  end
  local ok2, core = pcall(require, "lexrt.core")
  if ok2 and type(core) == "table" and core.handler and core.arena then
    return core
  end
  local why = tostring(ok and "it has no handler/arena" or mod):match("^[^\n]*")
  error("the arena modes need the lexrt C module (lexrt.core): " .. why, 0)
end

---------------------------------------------------------------- gc
local Gc = {}
Gc.__index = Gc

function Gc:start()
  local ctx = self.ctx
  ctx.bytes = 0
  return ctx
end

function Gc:finish() end

function Gc:stats()
  return { bytes_allocated = self.ctx.bytes }
end

function Gc:pool()
  return nil
end

function Gc:close() end

---------------------------------------------------------------- arena
-- Requests in scopes of one handler: pages go back to its pool.
local Scoped = {}
Scoped.__index = Scoped

function Scoped:start()
  local h = self.h
  self.id = h:enter_request_scope()
  local ctx = self.ctx
  ctx.a = h:active_arena()
  return ctx
end

function Scoped:finish()
  self.h:exit_request_scope(self.id)
  self.ctx.a = false
end

function Scoped:stats()
  return self.ctx.a:stats()
end

function Scoped:pool()
  return self.h:stats()
end

function Scoped:close()
  self.h:close()
end

---------------------------------------------------------------- arena-nopool
-- A fresh arena per request, closed at the end: every page comes from
-- the system and goes straight back.
local Fresh = {}
Fresh.__index = Fresh

function Fresh:start()
  local ctx = self.ctx
  ctx.a = self.lexrt.arena(self.opts)
  return ctx
end

function Fresh:finish()
  self.ctx.a:close()
  self.ctx.a = false
end

function Fresh:stats()
  return self.ctx.a:stats()
end

function Fresh:pool()
  return nil
end

function Fresh:close() end

---------------------------------------------------------------- isolate
-- The workload's own code in a lexrt.isolate (see bundle.lua): every Lua
-- object a request makes is bump-allocated in its request scope's arena
-- and dropped with the scope; no collector runs inside. The request is
-- copied in and the response body copied out, into a gc ctx's string.
local Isolated = {}
Isolated.__index = Isolated

-- Calls far past any workload's needs still fail cleanly rather than
-- take the machine's memory.
local ISOLATE_MAX_BYTES = 512 * 1024 * 1024

function Isolated:start()
  return self.ctx
end

function Isolated:finish() end

function Isolated:stats()
  local s = self.iso:stats()
  return {
    bytes_allocated = s.last_call_bytes, page_count = s.last_call_pages,
    capacity = s.last_call_capacity, wasted = s.last_call_wasted,
  }
end

function Isolated:pool()
  return self.h:stats()
end

function Isolated:close()
  self.iso:close()
  self.h:close()
end

local function open_isolate(page_size, w)
  local lib = lexrt()
  if not lib.isolate then
    error("isolate mode needs lexrt.isolate", 0)
  end
  local h = lib.handler({ page_size = page_size })
  local iso = lib.isolate({
    source = bundle.source(w), handler = h, name = "workload " .. tostring(w.name),
    max_bytes = ISOLATE_MAX_BYTES,
  })
  local d = setmetatable({ h = h, iso = iso, ctx = Ctx.gc() }, Isolated)
  d.handler = function(_, req)
    return iso:call(req)
  end
  return d
end

-- w: the workload (isolate mode carries its code into the isolate).
function M.open(mode, page_size, w)
  if mode == "gc" then
    return setmetatable({ ctx = Ctx.gc() }, Gc)
  elseif mode == "arena" then
    local h = lexrt().handler({ page_size = page_size })
    return setmetatable({ h = h, ctx = Ctx.arena(mode) }, Scoped)
  elseif mode == "arena-nopool" then
    -- One options table for every request: no garbage from the harness.
    return setmetatable({ lexrt = lexrt(), opts = { page_size = page_size }, ctx = Ctx.arena(mode) }, Fresh)
  elseif mode == "isolate" then
    return open_isolate(page_size, w)
  end
  error(("unknown mode '%s' (expected %s)"):format(tostring(mode), table.concat(M.NAMES, ", ")), 0)
end

return M
