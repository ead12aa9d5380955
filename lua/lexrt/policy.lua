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
--     guessed at; this file decides what a reading may do.
--   * One check looks at the file system: at dispatch (check_call) a
--     file path that is lexically inside a grant must also be inside a
--     grant once symbolic links are resolved (realpath, below), so a link
--     in a granted directory cannot lead out of it. check_program stays
--     lexical: a declaration names no file that exists.
--   * Misuse (wrong argument types) raises a string in the luaL_argerror
--     style (lexrt.argcheck); a refusal is a violation table, returned
--     (check_call, check_program) for the caller to raise or report.

local argcheck = require("lexrt.argcheck")
local core = require("lexrt.core")
local lexical = require("lexrt.policy.lexical")

local argerror, checktype, expected = argcheck.argerror, argcheck.checktype, argcheck.expected
local parse_effect = lexical.parse_effect

local policy = {}

local VIOLATION_KINDS = {
  effect_not_allowed = true,
  fs_path_not_allowed = true,
  net_host_not_allowed = true,
  proc_not_allowed = true,
  budget_exceeded = true,
}

-- Every kind `permissive()` grants, in the order upstream lists them.
local ALL_KINDS = {
  "io", "net", "time", "rand", "llm", "proc", "panic", "fs_read",
  "fs_write", "budget", "llm_local", "llm_cloud", "a2a", "mcp", "env",
}

local KNOWN_KINDS = {}
for _, k in ipairs(ALL_KINDS) do KNOWN_KINDS[k] = true end
local KINDS_TEXT = table.concat(ALL_KINDS, ", ")

-- The kinds whose calls carry a scope (path, host, command), sorted so
-- `wildcards()` comes out in a stable order; for each, the spec field
-- that lists its grants, the violation a refusal is, and what its
-- argument should be.
local SCOPED_KINDS = { "fs_read", "fs_write", "net", "proc" }
local SCOPE = {
  fs_read = { field = "allow_fs_read", violation = "fs_path_not_allowed", arg = "path" },
  fs_write = { field = "allow_fs_write", violation = "fs_path_not_allowed", arg = "path" },
  net = { field = "allow_net_host", violation = "net_host_not_allowed", arg = "URL or host" },
  proc = { field = "allow_proc", violation = "proc_not_allowed", arg = "command" },
}

-- The fields a spec table may hold; the lists are checked in this order
-- so the error for a spec with several bad fields is always the same.
local LIST_FIELDS = {
  "kinds", "allow_effects", "allow_fs_read", "allow_fs_write", "allow_net_host", "allow_proc",
}
local SPEC_FIELDS = { budget = true }  -- and LIST_FIELDS
for _, f in ipairs(LIST_FIELDS) do SPEC_FIELDS[f] = true end

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
-- is refused here, so that the checks below only ever see well-formed
-- grants of known kinds: a typo ("ioo") would otherwise grant nothing
-- without a word, and a malformed grant ("fs_read:") would be a literal
-- kind of its own. `kinds` is the one door for a new kind: an unknown
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
-- The scope checks, shared by check_call and check_program. Each takes
-- the compiled scope, the call's argument (a string) and the spec field's
-- name, and returns nil when the argument is allowed, or why not.
------------------------------------------------------------------------

------------------------------------------------------------------------
-- Paths on the file system: what the kernel will open
------------------------------------------------------------------------

-- The path the kernel reaches for `path` (a string as given, without NUL
-- bytes): absolute, every symbolic link, '.' and '..' resolved, as a
-- normalised path (lexical.normalise_path's form). A path that does not
-- exist yet (a file to be written) resolves through its deepest existing
-- parent: realpath of that parent, then the missing rest, read lexically
-- (the missing directories an effect might create are real directories,
-- so '..' after one of them is its lexical parent). When that rest holds
-- a '..' it may climb back into existing directories and links
-- ("new/../link/x"), so the result is resolved once more; it then holds
-- no '..' and its own missing rest is exact. Returns nil and why when
-- the path cannot be placed: a dangling symbolic link (the kernel would
-- create its target, wherever it points), a loop of links, a directory
-- the process may not search.
local function resolve_path(path, again)
  local absolute = path:sub(1, 1) == "/"
  local parts = {}
  for part in path:gmatch("[^/]+") do parts[#parts + 1] = part end
  local root = absolute and "/" or ""
  local missing -- the first component that did not resolve, as a path
  for k = #parts, 0, -1 do
    local candidate = k == 0 and (absolute and "/" or ".")
      or root .. table.concat(parts, "/", 1, k)
    local real, err, code = core.realpath(candidate)
    if real then
      if k == #parts then return lexical.normalise_path(real) end
      if core.is_symlink(missing) then
        return nil, ("'%s' is a symbolic link to nothing"):format(missing)
      end
      local rest = table.concat(parts, "/", k + 1)
      local normal = lexical.normalise_path(real .. "/" .. rest)
      if not again and ("/" .. rest .. "/"):find("/../", 1, true) then
        return resolve_path(lexical.path_string(normal), true)
      end
      return normal
    end
    if code ~= core.ENOENT and code ~= core.ENOTDIR then
      return nil, err
    end
    missing = candidate
  end
  return nil, "no part of it exists" -- even "/" or "." failed
end

-- nil when the resolved path of `path` is inside one of the grants,
-- themselves resolved (a grant may be, or run through, a link), else why
-- not. Grants are resolved at each check, not once when the policy is
-- built: links may change in between, and the check must see the file
-- system the effect will see. A grant that cannot be resolved covers
-- nothing here.
local function check_resolved(scope, path, field)
  local real, why = resolve_path(path)
  if not real then
    return ("'%s' cannot be resolved: %s"):format(path, why)
  end
  for _, grant in ipairs(scope) do
    local real_grant = resolve_path(lexical.path_string(grant))
    if real_grant and lexical.path_inside(real, real_grant) then return nil end
  end
  return ("'%s' leads to '%s' through a symbolic link, outside %s")
    :format(path, lexical.path_string(real), field)
end

-- `resolve` is set at dispatch only: check_program's paths are
-- declarations, checked lexically.
local function check_path(scope, path, field, resolve)
  local normal = lexical.normalise_path(path)
  if not normal then
    return ("'%s' is not a usable path"):format(path)
  end
  for _, grant in ipairs(scope) do
    if lexical.path_inside(normal, grant) then
      if resolve then return check_resolved(scope, path, field) end
      return nil
    end
  end
  local resolved = lexical.path_string(normal)
  if resolved ~= path then
    return ("'%s' (resolves to '%s') is outside %s"):format(path, resolved, field)
  end
  return ("'%s' is outside %s"):format(path, field)
end

-- An exact grant, or a subdomain of a "*.domain" grant.
local function host_allowed(scope, host)
  if scope.exact[host] then return true end
  for _, suffix in ipairs(scope.suffixes) do
    if lexical.subdomain_of(host, suffix) then return true end
  end
  return false
end

local function check_host(scope, url, field)
  local host, why = lexical.parse_host(url)
  if not host then
    return ("cannot read a host from '%s': %s"):format(url, why)
  end
  if host_allowed(scope, host) then return nil end
  if host ~= url then
    return ("host '%s' (from '%s') is not in %s"):format(host, url, field)
  end
  return ("host '%s' is not in %s"):format(host, field)
end

local function check_command(scope, cmd, field)
  if lexical.has_shell_special(cmd) then
    return ("command '%s' holds shell control characters"):format(cmd)
  end
  local base = lexical.command_basename(cmd)
  if not base then
    return ("no binary in command '%s'"):format(cmd)
  end
  if scope[base] then return nil end
  return ("'%s' is not in %s"):format(base, field)
end

local SCOPE_CHECK = {
  fs_read = check_path, fs_write = check_path, net = check_host, proc = check_command,
}

-- nil when `arg` may be used, else a violation kind and detail. Kinds
-- without a scope, and scoped kinds whose list is empty, pass.
-- `resolve`: check file paths on the file system too (dispatch only).
local function check_scope(st, kind, arg, resolve)
  local scope = SCOPE[kind]
  if not scope or st.open[kind] then return nil end
  if type(arg) ~= "string" then
    return scope.violation, expected(scope.arg, arg)
  end
  local why = SCOPE_CHECK[kind](st[kind], arg, scope.field, resolve)
  if why then return scope.violation, why end
  return nil
end

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
