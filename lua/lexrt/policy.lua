-- lexrt.policy: the capability policy, in pure Lua.
--
-- A policy says which effects a program may use (`allow_effects`) and,
-- for the four scoped kinds, on what: file path prefixes for fs_read and
-- fs_write, hosts for net, binary basenames for proc. An empty scope list
-- means "any" once the kind is granted, as upstream; `wildcards()` lists
-- those open grants so a tool can warn about them.
--
-- The same rules run in two places:
--   * statically, `p:check_program(declared)` before anything runs;
--   * at each call, `p:check_call(kind, op, arg)` from the handler's
--     dispatch gate, on the actual path, URL or command.
--
-- Invariants a reader must keep:
--   * A policy object is immutable after construction. Its state lives in
--     a private weak table, not in the object, so a script holding `p`
--     cannot widen its own grants (`p.budget = 1e9` raises).
--   * The readers (effect names and grants, paths, URLs, hosts,
--     commands) are lexical, in lexrt.policy.lexical: no DNS, no file
--     system. Anything they cannot read unambiguously is refused, never
--     guessed at; lexrt.policy.compile and lexrt.policy.check decide what
--     a reading may do, and this file words the refusal.
--   * One check looks at the file system: at dispatch (check_call) a
--     file path that is lexically inside a grant must also be inside a
--     grant once symbolic links are resolved (realpath, in
--     lexrt.policy.check), so a link in a granted directory cannot lead
--     out of it. check_program stays lexical: a declaration names no file
--     that exists.
--   * Misuse (wrong argument types) raises a string in the luaL_argerror
--     style (lexrt.argcheck); a refusal is a violation table, returned
--     (check_call, check_program) for the caller to raise or report.

local argcheck = require("lexrt.argcheck")
local check = require("lexrt.policy.check")
local compile = require("lexrt.policy.compile")
local kinds_ = require("lexrt.policy.kinds")
local lexical = require("lexrt.policy.lexical")

local argerror, checktype, expected = argcheck.argerror, argcheck.checktype, argcheck.expected
local parse_effect = lexical.parse_effect
local ALL_KINDS, SCOPED_KINDS = kinds_.ALL_KINDS, kinds_.SCOPED_KINDS
local check_scope, compile_spec = check.scope, compile.spec
local is_list_of_strings = compile.is_list_of_strings

local policy = {}

local VIOLATION_KINDS = {
  effect_not_allowed = true,
  fs_path_not_allowed = true,
  net_host_not_allowed = true,
  proc_not_allowed = true,
  budget_exceeded = true,
}

------------------------------------------------------------------------
-- Violations
------------------------------------------------------------------------

local Violation = { __name = "lexrt.violation" }

function Violation.__tostring(v)
  return ("policy violation: %s %s"):format(v.kind, v.detail)
end

local VIOLATION_FIELDS = { effect = true, path = true, at = true }

-- Build a violation without checking arguments (internal callers are
-- trusted); `policy.violation` is the checked public door.
local function new_violation(kind, detail, fields)
  local v = { kind = kind, detail = detail }
  if fields then
    v.effect, v.path, v.at = fields.effect, fields.path, fields.at
  end
  return setmetatable(v, Violation)
end

function policy.violation(kind, detail, fields)
  checktype(1, "violation", kind, "string")
  if not VIOLATION_KINDS[kind] then
    argerror(1, "violation", ("unknown violation kind '%s'"):format(kind))
  end
  checktype(2, "violation", detail, "string")
  if fields ~= nil then
    if type(fields) ~= "table" then
      argerror(3, "violation", expected("table or nil", fields))
    end
    for k, val in pairs(fields) do
      if not VIOLATION_FIELDS[k] then
        argerror(3, "violation", ("unknown field '%s'"):format(tostring(k)))
      end
      if type(val) ~= "string" then
        argerror(3, "violation", ("field '%s' must be a string"):format(k))
      end
    end
  end
  return new_violation(kind, detail, fields)
end

function policy.is_violation(v)
  return getmetatable(v) == Violation
end

------------------------------------------------------------------------
-- Policy objects
------------------------------------------------------------------------

-- Private state per policy object; weak keys so a dropped policy is
-- collected with its state.
local state = setmetatable({}, { __mode = "k" })
local methods = {}

local Policy = {
  __name = "lexrt.policy",
  __metatable = "lexrt.policy",   -- getmetatable(p) cannot reach the internals
}

function Policy.__index(p, k)
  if k == "budget" then return state[p].budget end
  return methods[k]
end

function Policy.__newindex()
  error("lexrt.policy is read-only", 2)
end

function Policy.__tostring(p)
  local st = state[p]
  local s = ("lexrt.policy(%d effect%s"):format(st.count, st.count == 1 and "" or "s")
  if st.budget then s = s .. ", budget " .. st.budget end
  return s .. ")"
end

local function new_policy(st)
  local p = setmetatable({}, Policy)
  state[p] = st
  return p
end

-- The state of `self`, or an error naming the method, as luaL_checkudata
-- reports a bad self. Level 3: this helper, the method, its caller.
local function self_state(self, fname)
  local st = state[self]
  if not st then
    argcheck.selferror(fname, expected("lexrt.policy", self), 3)
  end
  return st
end

-- Is `effect` (already a string) granted? A bare grant of its kind covers
-- any parameter; a parameterised grant covers only itself.
local function grants_effect(st, effect)
  if effect == "" then return false end
  local kind, param = parse_effect(effect)
  if param then
    return st.grants[kind .. ":" .. param] or st.grants[kind] or false
  end
  return st.grants[kind] or false
end

-- Is any grant (bare or parameterised) of this kind present? A grant
-- "net:x" lets calls through to the host check, so an empty host list is
-- open under it just as under a bare "net".
local function kind_granted(st, kind)
  if st.grants[kind] then return true end
  local prefix = kind .. ":"
  for g in pairs(st.grants) do
    if g:sub(1, #prefix) == prefix then return true end
  end
  return false
end

function methods.allows(self, effect)
  local st = self_state(self, "allows")
  checktype(1, "allows", effect, "string")
  return grants_effect(st, effect)
end

function methods.wildcards(self)
  local st = self_state(self, "wildcards")
  local open = {}
  for _, kind in ipairs(SCOPED_KINDS) do
    if kind_granted(st, kind) and st.open[kind] then
      open[#open + 1] = kind
    end
  end
  return open
end

------------------------------------------------------------------------
-- check_call
------------------------------------------------------------------------

-- The dispatch gate: nil when the call may run, else a violation table.
-- The scope check uses the base kind even for a parameterised kind, so
-- dispatching "net:x" cannot skip the host list.
function methods.check_call(self, kind, op, arg)
  local st = self_state(self, "check_call")
  checktype(1, "check_call", kind, "string")
  checktype(2, "check_call", op, "string")
  local at = kind .. "." .. op
  if not grants_effect(st, kind) then
    return new_violation("effect_not_allowed",
      ("effect '%s' is not granted (at %s)"):format(kind, at),
      { effect = kind, at = at })
  end
  local base = parse_effect(kind)
  local vkind, detail = check_scope(st, base, arg, true)
  if not vkind then return nil end
  return new_violation(vkind, ("%s (at %s)"):format(detail, at), {
    effect = kind,
    at = at,
    path = (vkind == "fs_path_not_allowed" and type(arg) == "string") and arg or nil,
  })
end

------------------------------------------------------------------------
-- check_program
------------------------------------------------------------------------

local budget_amount = lexical.budget_amount

-- Check the shape of `declared`; return its sorted function names or nil
-- and a message for argument #1.
local function validate_declared(declared)
  local names = {}
  for name, effects in pairs(declared) do
    if type(name) ~= "string" then
      return nil, ("function names must be strings, got %s"):format(type(name))
    end
    if not is_list_of_strings(effects) then
      return nil, ("effects of '%s' must be a list of strings"):format(name)
    end
    for _, e in ipairs(effects) do
      local kind, param = parse_effect(e)
      if kind == "budget" and not budget_amount(param) then
        return nil, ("malformed budget effect '%s' in '%s'"):format(e, name)
      end
    end
    names[#names + 1] = name
  end
  table.sort(names)
  return names
end

-- Saturating add: a sum past maxinteger stays there (and so exceeds any
-- ceiling) instead of wrapping negative.
local function add_budget(total, n)
  if total > math.maxinteger - n then return math.maxinteger end
  return total + n
end

function methods.check_program(self, declared)
  local st = self_state(self, "check_program")
  checktype(1, "check_program", declared, "table")
  local names, err = validate_declared(declared)
  if not names then argerror(1, "check_program", err) end

  local violations, copy, total = {}, {}, 0
  local function refuse(vkind, detail, effect, at, path)
    violations[#violations + 1] = new_violation(vkind,
      ("%s (at %s)"):format(detail, at), { effect = effect, at = at, path = path })
  end

  for _, name in ipairs(names) do
    local list = {}
    for i, effect in ipairs(declared[name]) do
      list[i] = effect
      local kind, param = parse_effect(effect)
      if kind == "budget" then
        -- "budget:N" needs the bare grant: N is an amount, not a scope.
        total = add_budget(total, budget_amount(param))
        if not st.grants.budget then
          refuse("effect_not_allowed", ("effect '%s' is not granted"):format(effect),
            effect, name)
        end
      elseif not grants_effect(st, effect) then
        refuse("effect_not_allowed", ("effect '%s' is not granted"):format(effect),
          effect, name)
      elseif param then
        -- A declared scope ("fs_read:/etc/x", "net:host", "proc:ls") must
        -- pass the same check the call will face at dispatch.
        local vkind, detail = check_scope(st, kind, param)
        if vkind then
          refuse(vkind, detail, effect, name,
            vkind == "fs_path_not_allowed" and param or nil)
        end
      end
    end
    copy[name] = list
  end

  if st.budget and total > st.budget then
    violations[#violations + 1] = new_violation("budget_exceeded",
      ("declared budget %d exceeds the ceiling %d"):format(total, st.budget))
  end
  if #violations > 0 then return nil, violations end
  return { declared_effects = copy, total_budget = total }
end

------------------------------------------------------------------------
-- Constructors
------------------------------------------------------------------------

-- policy{...} and policy.new{...} (the same function): the error is
-- reported against the caller, as argument #1 of 'policy'.
local function new(spec)
  if spec == nil then spec = {} end
  checktype(1, "policy", spec, "table")
  local st, err = compile_spec(spec)
  if not st then argerror(1, "policy", err) end
  return new_policy(st)
end

policy.new = new

function policy.pure()
  return new_policy(assert(compile_spec({})))
end

function policy.permissive()
  return new_policy(assert(compile_spec({ allow_effects = ALL_KINDS })))
end

function policy.is_policy(v)
  return state[v] ~= nil
end

-- The kinds a grant may name, in permissive()'s order. A copy: editing
-- it changes nothing the constructor checks.
policy.KINDS = table.move(ALL_KINDS, 1, #ALL_KINDS, 1, {})

-- A fresh copy, so a caller cannot edit the module's list.
function policy.kinds()
  return table.move(ALL_KINDS, 1, #ALL_KINDS, 1, {})
end

-- A tail call: `new`'s frame takes __call's place, so its errors blame
-- the line that called policy{...}, as for policy.new{...}.
return setmetatable(policy, {
  __call = function(_, spec) return new(spec) end,
})
