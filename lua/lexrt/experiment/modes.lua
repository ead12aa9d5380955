--[[
One driver per memory mode. The runner only ever calls, per request,
  d:start() -> ctx    before the handler (enter a scope / make an arena)
  d:finish()          after it (exit the scope / close the arena)
and, outside the timed pass, d:stats() (this request's sizes, between the
two) and d:pool() (page counters, or nil), then d:close() once.
]]

local Ctx = require("lexrt.experiment.ctx")

local M = {}

M.NAMES = { "gc", "arena", "arena-nopool" }

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

function M.open(mode, page_size)
  if mode == "gc" then
    return setmetatable({ ctx = Ctx.gc() }, Gc)
  elseif mode == "arena" then
    local h = lexrt().handler({ page_size = page_size })
    return setmetatable({ h = h, ctx = Ctx.arena(mode) }, Scoped)
  elseif mode == "arena-nopool" then
    -- One options table for every request: no garbage from the harness.
    return setmetatable({ lexrt = lexrt(), opts = { page_size = page_size }, ctx = Ctx.arena(mode) }, Fresh)
  end
  error(("unknown mode '%s' (expected %s)"):format(tostring(mode), table.concat(M.NAMES, ", ")), 0)
end

return M
