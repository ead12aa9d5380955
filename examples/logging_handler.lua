-- A custom effect handler written in Lua: any table with the handler's
-- method names works with lexrt.serve. This one logs scope boundaries and
-- delegates the memory to a default handler.
local lexrt = require("lexrt")

local inner = lexrt.handler()
local log = {}

local logging = {}
function logging.enter_request_scope(_)
  local id = inner:enter_request_scope()
  log[#log + 1] = ("enter %d"):format(id)
  return id
end
function logging.exit_request_scope(_, id)
  local dropped = inner:exit_request_scope(id)
  log[#log + 1] = ("exit %d (%s)"):format(id, dropped and "dropped" or "unknown")
  return dropped
end
function logging.active_arena(_) return inner:active_arena() end
function logging.arena_stack_depth(_) return inner:arena_stack_depth() end
function logging.dispatch(_, kind, op, ...) return inner:dispatch(kind, op, ...) end

local summary = lexrt.serve(logging, { "a", "b", "c" }, function(r, handler)
  if r == "b" then error("request b failed") end
  return handler:active_arena():read(handler:active_arena():put(r:upper()))
end)

for _, line in ipairs(log) do print(line) end
print(("ok=%d failed=%d first error: %s"):format(summary.ok, summary.failed, summary.errors[1]))
inner:close()
return { summary = summary, log = log }
