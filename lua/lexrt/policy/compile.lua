-- lexrt.policy.compile: turning a policy spec into a policy's private
-- state - the spec's fields, the declared kinds, the grants (with the
-- did-you-mean for a mistyped kind) and the scope lists, each read once
-- here so the checks only ever see well-formed, compiled grants. Kept
-- apart from lexrt.policy, which owns the policy object and its checks:
-- what a spec may say is a question of its own.

local argcheck = require("lexrt.argcheck")
local kinds_ = require("lexrt.policy.kinds")
local lexical = require("lexrt.policy.lexical")

local ALL_KINDS, KNOWN_KINDS, KINDS_TEXT = kinds_.ALL_KINDS, kinds_.KNOWN_KINDS, kinds_.KINDS_TEXT
local SCOPED_KINDS, SCOPE = kinds_.SCOPED_KINDS, kinds_.SCOPE

local M = {}

-- The fields a spec table may hold; the lists are checked in this order
-- so the error for a spec with several bad fields is always the same.
local LIST_FIELDS = {
  "kinds", "allow_effects", "allow_fs_read", "allow_fs_write", "allow_net_host", "allow_proc",
}
local SPEC_FIELDS = { budget = true }  -- and LIST_FIELDS
for _, f in ipairs(LIST_FIELDS) do SPEC_FIELDS[f] = true end

------------------------------------------------------------------------
-- Spec validation (constructor)
------------------------------------------------------------------------

local function is_list_of_strings(t)
  if type(t) ~= "table" then return false end
  local n = 0
  for k, v in pairs(t) do
    if math.type(k) ~= "integer" or k < 1 or type(v) ~= "string" then
      return false
    end
    n = n + 1
  end
  return n == #t
end

------------------------------------------------------------------------
-- Kinds of one's own, and typos of known ones
------------------------------------------------------------------------

-- The edit distance of a and b, an adjacent swap counting as one edit
-- (optimal string alignment), for the names of kinds: short strings.
local function distance(a, b)
  local d = {}
  for i = 0, #a do d[i] = { [0] = i } end
  for j = 1, #b do d[0][j] = j end
  for i = 1, #a do
    for j = 1, #b do
      local cost = a:byte(i) == b:byte(j) and 0 or 1
      local v = math.min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost)
      if i > 1 and j > 1 and a:byte(i) == b:byte(j - 1) and a:byte(i - 1) == b:byte(j) then
        v = math.min(v, d[i - 2][j - 2] + 1)
      end
      d[i][j] = v
    end
  end
  return d[#a][#b]
end

-- The kind `kind` is most likely a typo of, among the known kinds and
-- those the policy declares, or nil. One edit for names of up to five
-- letters, two for longer ones: "ioo" is 'io', "fs_raed" is 'fs_read',
-- while "db" (two edits from 'io') is taken as a kind of its own.
local function suggestion(kind, declared)
  local limit = #kind <= 5 and 1 or 2
  local best, best_d
  local function try(k)
    local d = distance(kind, k)
    if d <= limit and (not best_d or d < best_d) then best, best_d = k, d end
  end
  for _, k in ipairs(ALL_KINDS) do try(k) end
  for _, k in ipairs(declared) do try(k) end
  return best
end

-- A kind of one's own (the `kinds` field) is named like the known ones:
-- letters, digits and '_', not starting with a digit, so that it is also
-- the name of its global table in an isolate. Returns the declared kinds
-- that are not known ones, as a set and as a list in the spec's order,
-- or nil and a message.
local function compile_kinds(list)
  local set, order = {}, {}
  for i, k in ipairs(list) do
    if not k:find("^[%a_][%w_]*$") then
      return nil, ("kinds entry %d ('%s') is not a kind name "
        .. "(letters, digits and '_', not starting with a digit)"):format(i, k)
    end
    if not KNOWN_KINDS[k] and not set[k] then
      set[k] = true
      order[#order + 1] = k
    end
  end
  return set, order
end

-- A grant is KIND, KIND:PARAM or KIND(PARAM), with KIND one of
-- ALL_KINDS or of the spec's `kinds`, and PARAM not empty. Anything else
-- is refused here, so that the checks (lexrt.policy.check) only ever see
-- well-formed grants of known kinds: a typo ("ioo") would otherwise grant
-- nothing without a word, and a malformed grant ("fs_read:") would be a
-- literal kind of its own. `kinds` is the one door for a new kind: an unknown
-- name close to a known one is named as the likely typo, any other is
-- pointed at the door.
local function check_grant(i, g, kinds)
  local kind, param = lexical.parse_grant(g)
  if not kind then   -- param is then the reason: "empty" or "malformed"
    if param == "empty" then return ("allow_effects entry %d is empty"):format(i) end
    return ("malformed grant '%s' in allow_effects"):format(g)
  end
  if not KNOWN_KINDS[kind] and not kinds.set[kind] then
    local which = param and ("'%s' (grant '%s')"):format(kind, g) or ("'%s'"):format(kind)
    local known = KINDS_TEXT
    if #kinds.order > 0 then known = known .. "; declared in kinds: " .. table.concat(kinds.order, ", ") end
    local guess = suggestion(kind, kinds.order)
    if guess then
      return ("unknown effect kind %s in allow_effects; did you mean '%s'? known kinds: %s")
        :format(which, guess, known)
    end
    return ("unknown effect kind %s in allow_effects; known kinds: %s; "
      .. "a kind of your own must be declared: kinds = { \"%s\" }"):format(which, known, kind)
  end
  return nil
end

-- Each compile_* returns the compiled list or nil and a message.
local function compile_effects(list, kinds)
  local grants, count = {}, 0
  for i, g in ipairs(list) do
    local bad = check_grant(i, g, kinds)
    if bad then return nil, bad end
    local c = lexical.canonical_effect(g)
    if not grants[c] then count = count + 1 end
    grants[c] = true
  end
  return grants, count
end

-- The refusal of entry i of a scope list, `g`, that is not `what`.
local function bad_entry(field, i, g, what)
  return nil, ("%s entry %d ('%s') is not %s"):format(field, i, g, what)
end

local function compile_paths(field, list)
  local scope = {}
  for i, g in ipairs(list) do
    local grant = lexical.normalise_path(g)
    if not grant then
      return bad_entry(field, i, g, "a usable path")
    end
    scope[#scope + 1] = grant
  end
  return scope
end

local function compile_hosts(field, list)
  local scope = { exact = {}, suffixes = {} }
  for i, g in ipairs(list) do
    local c = lexical.host_grant(g)
    if not c then
      return bad_entry(field, i, g, "a host name or '*.domain'")
    end
    if c.exact then
      scope.exact[c.exact] = true
    else
      scope.suffixes[#scope.suffixes + 1] = c.suffix
    end
  end
  return scope
end

local function compile_procs(field, list)
  local scope = {}
  for i, g in ipairs(list) do
    if not lexical.is_basename(g) then
      return bad_entry(field, i, g, "a binary basename")
    end
    scope[g] = true
  end
  return scope
end

local COMPILE_SCOPE = {
  fs_read = compile_paths, fs_write = compile_paths, net = compile_hosts, proc = compile_procs,
}

-- Turn a spec table into the private state of a policy, or nil and a
-- message for argument #1.
local function compile_spec(spec)
  for k in pairs(spec) do
    if not SPEC_FIELDS[k] then  -- a typo must not silently drop a limit
      return nil, ("unknown field '%s'"):format(tostring(k))
    end
  end
  for _, field in ipairs(LIST_FIELDS) do
    if spec[field] ~= nil and not is_list_of_strings(spec[field]) then
      return nil, field .. " must be a list of strings"
    end
  end
  local st, err = {}
  local set, order = compile_kinds(spec.kinds or {})
  if not set then return nil, order end
  st.kinds = order
  st.grants, st.count = compile_effects(spec.allow_effects or {}, { set = set, order = order })
  if not st.grants then return nil, st.count end
  -- An empty list leaves its kind open ("any"), as upstream.
  st.open = {}
  for _, kind in ipairs(SCOPED_KINDS) do
    local field = SCOPE[kind].field
    local list = spec[field] or {}
    st[kind], err = COMPILE_SCOPE[kind](field, list)
    if not st[kind] then return nil, err end
    st.open[kind] = #list == 0
  end
  if spec.budget ~= nil then
    st.budget, err = argcheck.tocount(spec.budget, "budget")
    if not st.budget then return nil, err end
  end
  return st
end

M.spec = compile_spec
-- check_program reads a declaration's lists of effects as a spec's.
M.is_list_of_strings = is_list_of_strings

return M
