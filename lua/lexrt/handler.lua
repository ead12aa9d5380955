-- The default effect handler. The request path (scopes, their arenas and
-- with_scope) is C, in csrc/l_handler.c; this file adds what is not hot:
-- the effect gate, the call budget and spawn_for_worker, to the same
-- method table, and validates the constructor's options.
local core = require("lexrt.core")
local policy = require("lexrt.policy")

-- The Lua methods. core._handler_front (at the end) copies them into the
-- method table every handler shares, once, and hands back the C
-- functions below; core exports neither, so no script can reach them.
local methods = {}
local new_handler, env_of, is_handler

local M = {}

local OPTIONS = { policy = true, effects = true, page_size = true, max_bytes = true, pool_pages = true }

-- Raises in luaL_argerror's words, blaming the caller of the function
-- `level` frames up (default: the caller of the function calling this).
local function argerror(n, fname, msg, level)
  error(("bad argument #%d to '%s' (%s)"):format(n, fname, msg), level or 3)
end

local function check_effects(effects)
  if effects == nil then
    return {}
  end
  if type(effects) ~= "table" then
    argerror(1, "handler", "effects must be a table, got " .. type(effects))
  end
  for kind, ops in pairs(effects) do
    if type(kind) ~= "string" or type(ops) ~= "table" then
      argerror(1, "handler", "effects must map a kind to a table of operations")
    end
  end
  return effects
end

local function make(opts, deny)
  if opts ~= nil and type(opts) ~= "table" then
    argerror(1, "handler", "table expected, got " .. type(opts))
  end
  opts = opts or {}
  for k in pairs(opts) do
    if not OPTIONS[k] then
      argerror(1, "handler", "unknown option '" .. tostring(k) .. "'")
    end
  end
  local p = opts.policy
  if p == nil then
    p = policy.pure()
  elseif type(p) ~= "table" or type(p.check_call) ~= "function" then
    argerror(1, "handler", "policy must be a lexrt.policy, got " .. type(p))
  end
  local env = { policy = p, effects = check_effects(opts.effects), spent = 0, deny = deny }
  -- Named `handler` so that C argument errors read "to 'handler'".
  local handler = new_handler
  local h = handler(opts, env)
  return h
end

function M.new(opts)
  return make(opts, false)
end

function M.deny_all()
  return make(nil, true)
end

local function check_open(h, fname)
  if not is_handler(h) then
    argerror(1, fname, "lexrt.handler expected, got " .. type(h), 4)
  end
  if h:is_closed() then
    error("handler is closed", 3)
  end
  return env_of(h)
end

-- The functions for kind.op: effects["mcp:ocpp"] first, then effects.mcp,
-- so a parameterised effect can share its base kind's implementation.
local function lookup(effects, kind, op)
  local ops = effects[kind]
  local f = ops and ops[op]
  if f == nil then
    local base = kind:match("^([^:(]+)[:(]")
    ops = base and effects[base]
    f = ops and ops[op]
  end
  return f
end

function methods:dispatch(kind, op, ...)
  local env = check_open(self, "dispatch")
  if type(kind) ~= "string" then
    argerror(1, "dispatch", "string expected, got " .. type(kind))
  end
  if type(op) ~= "string" then
    argerror(2, "dispatch", "string expected, got " .. type(op))
  end
  if env.deny then
    error(("effects not permitted (attempted %s.%s)"):format(kind, op), 2)
  end
  local violation = env.policy:check_call(kind, op, (...))
  if violation then
    error(violation, 2)
  end
  local f = lookup(env.effects, kind, op)
  if f == nil then
    error(("no effect function for %s.%s"):format(kind, op), 2)
  end
  return f(...)
end

function methods:note_call_budget(cost)
  local env = check_open(self, "note_call_budget")
  local n = type(cost) == "number" and math.tointeger(cost)
  if not n or n < 0 then
    argerror(1, "note_call_budget", "non-negative integer expected, got " .. tostring(cost))
  end
  local ceiling = env.policy.budget
  -- With no ceiling the largest integer is one: past it the total would
  -- wrap negative and let every later spend through. spent never passes
  -- the limit, so `limit - spent` cannot wrap where `spent + n` could.
  local limit = ceiling or math.maxinteger
  if n > limit - env.spent then
    local detail = ceiling ~= nil
      and ("call budget %d would pass the ceiling %d (already spent %d)"):format(n, ceiling, env.spent)
      or ("call budget %d would pass math.maxinteger, the largest total a handler counts (already spent %d)")
        :format(n, env.spent)
    error(policy.violation("budget_exceeded", detail, { effect = "budget:" .. n }), 2)
  end
  env.spent = env.spent + n
  return env.spent
end

function methods:spawn_for_worker()
  local env = check_open(self, "spawn_for_worker")
  local worker_env = { policy = env.policy, effects = env.effects, spent = 0, deny = env.deny }
  return new_handler({}, worker_env, self)
end

-- with_scope is C (l_handler.c): it is on the request path.

local front = core._handler_front(methods)
new_handler, env_of, is_handler = front.new_handler, front.handler_env, front.is_handler

return M
