--[[
The ways of managing request memory that an experiment compares, one
entry per mode in M.LIST: its name, the collector mode it runs under,
whether it uses arena pages (so the page size applies), one line saying
what it is, and open(o), which returns a driver. The order of M.LIST is
the order of the rows; adding a mode is adding an entry. Optional:
interleaves = false for a mode whose requests cannot take turns (it runs
only with one request in flight), and accepts(workload), false for a
workload the mode cannot run (it is then left out of the default modes).

open(o) gets o.workload (the workload table), o.page_size and o.slots
(requests in flight at once) and returns a driver:
  d:request(k, req [, probe])   runs one request in slot k (1..slots), from
                                setting up its memory to releasing it, and
                                raises what the handler raises. A handler's
                                ctx:wait() yields (through this call) when
                                slots > 1. With probe, calls probe(k, ctx,
                                ref, arena) once the handler has returned
                                and before the request's memory is
                                released (arena: the request's lexrt arena,
                                or nil).
  d:held()                      bytes of arena memory held now: the open
                                requests' pages and chunks plus the free
                                ones a pool keeps (0 for the gc modes)
  d:pool()                      the page pool's counters, or nil
  d.isolate_stats               optional: function(d) -> the isolate's
                                stats() (image_bytes, restores,
                                restore_seconds), for the isolate row
  d:close()
The runner sets the collector mode; the driver only handles memory.
]]

local Ctx = require("lexrt.experiment.ctx")
local maybe_core = require("lexrt.maybe_core")

local M = {}

-- The mode every other one is compared with.
M.BASELINE = "gc"

-- The counters of d:pool() that a run takes per round: where pages and
-- chunks came from.
M.POOL_KEYS = { "pages_from_system", "pages_reused", "chunks_from_system", "chunks_reused" }

-- The library's parts the arena modes use (not the lexrt module, which
-- loads the experiment), loaded only when such a mode runs, so that the
-- gc modes work before the binding is built.
local function lexrt()
  local core = maybe_core.core
  if not core then
    error("the arena modes need the lexrt C module (lexrt.core): " .. tostring(maybe_core.why), 0)
  end
  return {
    arena = core.arena, handler = require("lexrt.handler").new, isolate = require("lexrt.isolate"),
    policy = require("lexrt.policy").new,
    PAGE_BYTES = core.PAGE_BYTES,
  }
end

local function contexts(make, mode, slots)
  local ctxs = {}
  for k = 1, slots do
    ctxs[k] = make(mode)
    ctxs[k].yields = slots > 1
  end
  return ctxs
end

-- Bytes held by the arenas of the requests open in these contexts.
local function open_capacity(ctxs)
  local bytes = 0
  for _, ctx in ipairs(ctxs) do
    if ctx.a then
      bytes = bytes + ctx.a:stats().capacity
    end
  end
  return bytes
end

---------------------------------------------------------------- gc, gc-gen
-- Plain Lua values; whichever collector is running frees them.
local Plain = {}
Plain.__index = Plain

function Plain:request(k, req, probe)
  local ctx = self.ctxs[k]
  ctx.bytes = 0
  local ref = self.handler(ctx, req)
  if probe then
    probe(k, ctx, ref, nil)
  end
end

function Plain.held()
  return 0
end

function Plain.pool()
  return nil
end

function Plain.close() end

local function open_plain(o, mode)
  return setmetatable({ handler = o.workload.handler, ctxs = contexts(Ctx.gc, mode, o.slots) }, Plain)
end

---------------------------------------------------------------- arena
-- Requests in scopes of one handler; pages go back to its pool. Each slot
-- has a worker of its own (h:spawn_for_worker(): same pool, own scope
-- stack), because exiting a scope also exits every scope entered after
-- it: requests that finish out of order must not share a stack.
local Scoped = {}
Scoped.__index = Scoped

function Scoped:request(k, req, probe)
  local ctx = self.ctxs[k]
  self.workers[k]:with_scope(self.body, ctx, req, probe, k)
  ctx.a = false
end

function Scoped:held()
  local s = self.h:stats()
  return s.pages_pooled * s.page_size + s.chunk_bytes_pooled + open_capacity(self.ctxs)
end

function Scoped:pool()
  return self.h:stats()
end

function Scoped:close()
  for _, worker in ipairs(self.workers) do
    worker:close()
  end
  self.h:close()
end

local function open_scoped(o, mode)
  local h = lexrt().handler({ page_size = o.page_size })
  local workers = { h }
  for k = 2, o.slots do
    workers[k] = h:spawn_for_worker()
  end
  local handler = o.workload.handler
  local function body(a, _, ctx, req, probe, k)
    ctx.a = a
    local ref = handler(ctx, req)
    if probe then
      probe(k, ctx, ref, a)
    end
  end
  return setmetatable({ h = h, workers = workers, body = body, ctxs = contexts(Ctx.arena, mode, o.slots) }, Scoped)
end

---------------------------------------------------------------- arena-nopool
-- A fresh arena per request, closed at its end: every page comes from the
-- system and goes straight back.
local Fresh = {}
Fresh.__index = Fresh

function Fresh:request(k, req, probe)
  local ctx = self.ctxs[k]
  local a <close> = self.new_arena(self.opts)
  ctx.a = a
  local ref = self.handler(ctx, req)
  if probe then
    probe(k, ctx, ref, a)
  end
  ctx.a = false
end

function Fresh:held()
  return open_capacity(self.ctxs)
end

Fresh.pool = Plain.pool
Fresh.close = Plain.close

local function open_fresh(o, mode)
  -- One options table for every request: no garbage from the harness.
  return setmetatable({
    new_arena = lexrt().arena, opts = { page_size = o.page_size }, handler = o.workload.handler,
    ctxs = contexts(Ctx.arena, mode, o.slots),
  }, Fresh)
end

---------------------------------------------------------------- isolate
-- The workload's own code in a lexrt.isolate (lexrt.experiment.bundle
-- carries it in, with a gc ctx): every Lua object a request makes is
-- bump-allocated in the request scope's arena and dropped with it; no
-- collector runs inside. The request is copied in and the body copied
-- out. With requests in flight (slots > 1), the isolate has an instance
-- per slot and ctx:wait() is an effect whose host side yields the slot's
-- coroutine: the call is suspended there, as an OpenResty request waits
-- on a cosocket.
local Isolated = {}
Isolated.__index = Isolated

-- Calls far past any workload's needs still fail cleanly rather than
-- take the machine's memory.
local ISOLATE_MAX_BYTES = 512 * 1024 * 1024

function Isolated:request(k, req, probe)
  local body = self.iso:call(req)
  if probe then
    probe(k, self.ctxs[k], body, self.last_call)
  end
end

-- The image's own pages (not the pool's) and its saved copy are held for
-- as long as the isolate lives; a call's pages are back in the pool when
-- held() is asked.
function Isolated:held()
  local s, i = self.h:stats(), self.iso:stats()
  return (s.pages_live + s.pages_pooled) * s.page_size + s.chunk_bytes_pooled
    + i.image_pages * self.image_page + i.image_bytes
end

function Isolated:pool()
  return self.h:stats()
end

function Isolated:isolate_stats()
  return self.iso:stats()
end

function Isolated:close()
  self.iso:close()
  self.h:close()
end

local function open_isolate(o, mode)
  local lib = lexrt()
  local bundle = require("lexrt.experiment.bundle")
  local slots = o.slots or 1
  local h
  if slots > 1 then
    h = lib.handler({
      page_size = o.page_size,
      policy = lib.policy({ kinds = { "sched" }, allow_effects = { "sched" } }),
      effects = { sched = { wait = function() coroutine.yield() end } },
    })
  else
    h = lib.handler({ page_size = o.page_size })
  end
  local iso = lib.isolate({
    source = bundle.source(o.workload), handler = h, name = "workload " .. tostring(o.workload.name),
    max_bytes = ISOLATE_MAX_BYTES, instances = slots,
  })
  -- What the census reads of the call that just ended, in an arena's terms.
  local last_call = {
    stats = function()
      local s = iso:stats()
      return {
        bytes_allocated = s.last_call_bytes, wasted = s.last_call_wasted, pages = s.last_call_pages, chunks = 0,
        capacity = s.last_call_capacity,
      }
    end,
  }
  return setmetatable({
    h = h, iso = iso, last_call = last_call, image_page = lib.PAGE_BYTES, ctxs = contexts(Ctx.gc, mode, slots),
  }, Isolated)
end

-- Whether this build has isolates (the isolate mode is listed only then).
local function has_isolates()
  return maybe_core.core ~= nil and maybe_core.core.new_isolate ~= nil
end

----------------------------------------------------------------

M.LIST = {
  {
    name = "gc", collector = "incremental", pages = false, open = open_plain,
    about = "plain Lua strings and tables, freed by the incremental collector",
  },
  {
    name = "gc-gen", collector = "generational", pages = false, open = open_plain,
    about = "the same, under Lua 5.4's generational collector",
  },
  {
    name = "arena", collector = "incremental", pages = true, open = open_scoped,
    about = "request scopes of one lexrt.handler, pages recycled through its pool",
  },
  {
    name = "arena-nopool", collector = "incremental", pages = true, open = open_fresh,
    about = "a fresh lexrt.arena per request, every page from the system and back",
  },
}

if has_isolates() then
  M.LIST[#M.LIST + 1] = {
    name = "isolate", collector = "incremental", pages = true, open = open_isolate,
    about = "the workload's code in a lexrt.isolate: every object in the scope's arena, no collector",
    -- Only a workload with source code to carry in (a built-in or a file).
    accepts = function(w)
      return (pcall(require("lexrt.experiment.bundle").source, w))
    end,
  }
end

M.NAMES, M.BY_NAME = {}, {}
for k, entry in ipairs(M.LIST) do
  M.NAMES[k] = entry.name
  M.BY_NAME[entry.name] = entry
end

-- The entry for `name`, or nil and a message naming the known modes.
function M.get(name)
  local entry = M.BY_NAME[name]
  if not entry then
    return nil, ("unknown mode '%s' (expected %s)"):format(tostring(name), table.concat(M.NAMES, ", "))
  end
  return entry
end

-- The modes that run `workload` by default: every one that accepts it.
function M.defaults(workload)
  local out = {}
  for _, entry in ipairs(M.LIST) do
    if not entry.accepts or entry.accepts(workload) then
      out[#out + 1] = entry.name
    end
  end
  return out
end

-- Opens mode `name`'s driver (see the top of this file).
function M.open(name, o)
  local entry = assert(M.get(name))
  return entry.open({ workload = o.workload, page_size = o.page_size, slots = o.slots or 1 }, name)
end

return M
