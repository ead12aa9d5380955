-- The default effect handler's Lua half: the constructor's options and
-- the gate, one object per handler that holds what is about effects
-- (policy, effects, call budget). The C handler holds its gate; calling
-- it, gate(kind, op, ...), is the whole effect path, for h:dispatch and
-- for isolates alike. What lives here and what in C, and the one call
-- each method makes into C, is written once, at the top of
-- csrc/l_handler.c.
local argcheck = require("lexrt.argcheck")
local core = require("lexrt.core")
local policy = require("lexrt.policy")

local argerror = argcheck.argerror

-- The Lua methods. core._handler_front (at the end) copies them into the
-- method table every handler shares, once, and hands back the C
-- functions below; core exports neither, so no script can reach them.
local methods = {}
local new_handler, handler_gate

local M = {}

local OPTIONS = { policy = true, effects = true, page_size = true, max_bytes = true, pool_pages = true }

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

-- The gate of the handler a Lua method was called on, in one call into
-- C; else the error, blaming the method's caller.
local function check_open(h, fname)
  local gate, closed = handler_gate(h)
  if gate == nil then
    if closed then
      error("handler is closed", 3)
    end
    argerror(1, fname, argcheck.expected("lexrt.handler", h), 3)
  end
  return gate
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

-- The effect function for kind.op through an open handler's gate, or the
-- error. Called by h:dispatch and the gate's __call, which then call the
-- function: level 3 blames whoever asked them for the effect.
local function resolve(gate, kind, op, ...)
  if type(kind) ~= "string" then
    argerror(1, "dispatch", argcheck.expected("string", kind), 3)
  end
  if type(op) ~= "string" then
    argerror(2, "dispatch", argcheck.expected("string", op), 3)
  end
  if gate.deny then
    error(("effects not permitted (attempted %s.%s)"):format(kind, op), 3)
  end
  local violation = gate.policy:check_call(kind, op, (...))
  if violation then
    error(violation, 3)
  end
  local f = lookup(gate.effects, kind, op)
  if f == nil then
    error(("no effect function for %s.%s"):format(kind, op), 3)
  end
  return f
end

-- The gate. An isolate calls it for each of its effects, as the C handler
-- hands it over (csrc/l_handler.h, lxb_handler_gate), once C has seen
-- that the handler is still open (an effect can close it while an
-- isolate is being built): the effect path never crosses back into C.
local Gate = { __metatable = "lexrt.gate" }
function Gate.__call(gate, kind, op, ...)
  local f = resolve(gate, kind, op, ...)
  return f(...)
end

local function new_gate(p, effects, deny)
  return setmetatable({ policy = p, effects = effects, spent = 0, deny = deny }, Gate)
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
  local gate = new_gate(p, check_effects(opts.effects), deny)
  -- Named `handler` so that C argument errors read "to 'handler'".
  local handler = new_handler
  return handler(opts, gate, gate.effects)
end

function M.new(opts)
  return make(opts, false)
end

function M.deny_all()
  return make(nil, true)
end

function methods:dispatch(kind, op, ...)
  local f = resolve(check_open(self, "dispatch"), kind, op, ...)
  return f(...)
end

function methods:note_call_budget(cost)
  local gate = check_open(self, "note_call_budget")
  local n = argcheck.tocount(cost, "cost")
  if not n then
    argerror(1, "note_call_budget", "non-negative integer expected, got " .. tostring(cost))
  end
  local ceiling = gate.policy.budget
  -- With no ceiling the largest integer is one: past it the total would
  -- wrap negative and let every later spend through. spent never passes
  -- the limit, so `limit - spent` cannot wrap where `spent + n` could.
  local limit = ceiling or math.maxinteger
  if n > limit - gate.spent then
    local detail = ceiling ~= nil
      and ("call budget %d would pass the ceiling %d (already spent %d)"):format(n, ceiling, gate.spent)
      or ("call budget %d would pass math.maxinteger, the largest total a handler counts (already spent %d)")
        :format(n, gate.spent)
    error(policy.violation("budget_exceeded", detail, { effect = "budget:" .. n }), 2)
  end
  gate.spent = gate.spent + n
  return gate.spent
end

function methods:spawn_for_worker()
  local parent = check_open(self, "spawn_for_worker")
  local gate = new_gate(parent.policy, parent.effects, parent.deny)
  return new_handler({}, gate, gate.effects, self)
end

local front = core._handler_front(methods)
new_handler, handler_gate = front.new_handler, front.handler_gate

-- Whether v is a lexrt.handler, open or closed (lexrt.isolate checks its
-- option with it).
function M.is_handler(v)
  local gate, closed = handler_gate(v)
  return gate ~= nil or closed
end

return M
