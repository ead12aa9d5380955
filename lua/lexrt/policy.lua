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
--   * Every check is lexical (no file system or DNS access): paths are
--     normalised as strings, symlinks are not resolved. Anything the
--     parsers cannot read unambiguously is refused, never guessed at.
--   * Misuse (wrong argument types) raises a string in the luaL_argerror
--     style; a refusal is a violation table, returned (check_call,
--     check_program) for the caller to raise or report.

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
-- `wildcards()` comes out in a stable order.
local SCOPED_KINDS = { "fs_read", "fs_write", "net", "proc" }
local SCOPE_FIELD = {
  fs_read = "allow_fs_read", fs_write = "allow_fs_write",
  net = "allow_net_host", proc = "allow_proc",
}

-- The fields a spec table may hold; the lists are checked in this order
-- so the error for a spec with several bad fields is always the same.
local LIST_FIELDS = {
  "allow_effects", "allow_fs_read", "allow_fs_write", "allow_net_host", "allow_proc",
}
local SPEC_FIELDS = { budget = true }
for _, f in ipairs(LIST_FIELDS) do SPEC_FIELDS[f] = true end

------------------------------------------------------------------------
-- Error helpers (luaL_argerror style)
------------------------------------------------------------------------

local function argmsg(fname, n, msg)
  return ("bad argument #%d to '%s' (%s)"):format(n, fname, msg)
end

local function expected(what, v)
  return ("%s expected, got %s"):format(what, type(v))
end

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
  if type(kind) ~= "string" then
    error(argmsg("violation", 1, expected("string", kind)), 2)
  end
  if not VIOLATION_KINDS[kind] then
    error(argmsg("violation", 1, ("unknown violation kind '%s'"):format(kind)), 2)
  end
  if type(detail) ~= "string" then
    error(argmsg("violation", 2, expected("string", detail)), 2)
  end
  if fields ~= nil then
    if type(fields) ~= "table" then
      error(argmsg("violation", 3, expected("table or nil", fields)), 2)
    end
    for k, val in pairs(fields) do
      if not VIOLATION_FIELDS[k] then
        error(argmsg("violation", 3, ("unknown field '%s'"):format(tostring(k))), 2)
      end
      if type(val) ~= "string" then
        error(argmsg("violation", 3, ("field '%s' must be a string"):format(k)), 2)
      end
    end
  end
  return new_violation(kind, detail, fields)
end

function policy.is_violation(v)
  return getmetatable(v) == Violation
end

------------------------------------------------------------------------
-- Effect names: "mcp", "mcp:ocpp", "mcp(ocpp)"
------------------------------------------------------------------------

-- Split an effect into its kind and optional parameter. The kind cannot
-- contain ':' '(' or ')', so the first ':' is the split point and a
-- parameter may itself hold colons ("fs_read:/a:b"). A string that fits
-- neither form ("mcp:", "mcp(") is taken whole as a literal kind. The
-- constructor refuses such grants, so a literal like that (at dispatch,
-- in check_program) matches no grant and is refused: it can never reach
-- a kind while skipping that kind's path, host or command list.
local function parse_effect(s)
  local kind, param = s:match("^([^:()]+):(.+)$")
  if not kind then kind, param = s:match("^([^:()]+)%((.+)%)$") end
  if not kind then return s, nil end
  return kind, param
end

-- "mcp(ocpp)" and "mcp:ocpp" are one grant; store and look up one form.
local function canonical_effect(s)
  local kind, param = parse_effect(s)
  if param then return kind .. ":" .. param end
  return kind
end

------------------------------------------------------------------------
-- Paths
------------------------------------------------------------------------

-- Normalise a path lexically: collapse repeated '/', drop '.', resolve
-- '..'. Returns `absolute, components`, or nil when the path cannot be
-- placed: it holds a NUL byte (the C side would cut it there, seeing a
-- different path than we checked) or it is relative and climbs above its
-- start ("../x"), which no grant can contain. For absolute paths '/..'
-- is '/', as in POSIX.
local function normalise_path(s)
  if s == "" or s:find("\0", 1, true) then return nil end
  local absolute = s:sub(1, 1) == "/"
  local parts = {}
  for part in s:gmatch("[^/]+") do
    if part == ".." then
      if #parts > 0 then
        parts[#parts] = nil
      elseif not absolute then
        return nil
      end
    elseif part ~= "." then
      parts[#parts + 1] = part
    end
  end
  return absolute, parts
end

local function path_string(absolute, parts)
  local s = table.concat(parts, "/")
  if absolute then return "/" .. s end
  return s == "" and "." or s
end

-- A path is inside a grant when both are absolute (or both relative) and
-- the grant's components are a prefix of the path's, compared whole, so
-- "/srv/data2" is not inside "/srv/data". A relative path is checked only
-- against relative grants; we do not guess the working directory.
local function path_inside(absolute, parts, grant)
  if absolute ~= grant.absolute or #grant.parts > #parts then return false end
  for i, c in ipairs(grant.parts) do
    if parts[i] ~= c then return false end
  end
  return true
end

------------------------------------------------------------------------
-- Hosts
------------------------------------------------------------------------

-- A DNS name: labels of letters, digits, '-' and '_' separated by single
-- dots. Anything else (percent escapes, non-ASCII, ';') is refused rather
-- than decoded, because a URL library might decode it differently.
local function valid_hostname(h)
  return h ~= "" and h:find("^[%w_%-%.]+$") ~= nil
    and h:sub(1, 1) ~= "." and h:sub(-1) ~= "." and not h:find("..", 1, true)
end

local function looks_ipv6(h)
  return h:find("^[%x:.]+$") ~= nil and select(2, h:gsub(":", "")) >= 2
end

-- Lowercase and drop one trailing dot ("Api.Example.COM." is
-- "api.example.com"); the result must still be a valid name.
local function clean_hostname(h)
  h = h:lower()
  if h:sub(-1) == "." then h = h:sub(1, -2) end
  if valid_hostname(h) then return h end
  return nil
end

-- Parse the host out of a URL or a bare host. Returns the host, lowercased,
-- or nil and a reason. The steps follow the WHATWG URL reading for the
-- cases that matter here: the authority ends at the first '/', '?' or '#'
-- (so "http://evil.com/?x=api.example.com" is evil.com), userinfo ends at
-- the '@' (so "http://api.example.com@evil.com/" is evil.com). Inputs that
-- URL parsers disagree on (backslashes, whitespace, control bytes, two
-- '@') are refused outright.
local function parse_host(s)
  if s == "" then return nil, "empty URL or host" end
  if s:find("[%c%s\\]") then
    return nil, "URL holds whitespace, control bytes or a backslash"
  end
  local rest = s
  local scheme = rest:match("^(%a[%w+.%-]*)://")
  if scheme then
    rest = rest:sub(#scheme + 4)
  elseif rest:sub(1, 2) == "//" then
    rest = rest:sub(3)
  end
  local authority = rest:match("^[^/?#]*")
  local ats = select(2, authority:gsub("@", ""))
  if ats > 1 then return nil, "ambiguous userinfo (more than one '@')" end
  if ats == 1 then authority = authority:match("@(.*)$") end

  local host, port
  if authority:sub(1, 1) == "[" then
    host, port = authority:match("^%[([^%]]*)%](.*)$")
    if not host or not looks_ipv6(host) then return nil, "bad IPv6 literal" end
    host = host:lower()
  elseif not scheme and looks_ipv6(authority) then
    -- A bare IPv6 address such as "::1", given without brackets.
    host, port = authority:lower(), ""
  else
    host, port = authority:match("^([^:]*)(.*)$")
    host = clean_hostname(host)
    if not host then return nil, "no valid host name" end
  end
  if port ~= "" then
    local digits = port:match("^:(%d*)$")
    if not digits or #digits > 5 or (tonumber(digits) or 0) > 65535 then
      return nil, "bad port"
    end
  end
  return host
end

-- Compile a host grant: an exact host, "*.domain", or an IPv6 literal with
-- or without brackets. Returns the compiled form or nil.
local function compile_host_grant(g)
  local v6 = g:match("^%[(.*)%]$") or g
  if looks_ipv6(v6) then return { exact = v6:lower() } end
  if g:sub(1, 2) == "*." then
    local suffix = clean_hostname(g:sub(3))
    return suffix and { suffix = suffix }
  end
  local host = clean_hostname(g)
  return host and { exact = host }
end

-- Exact match, or a subdomain of a "*.domain" grant on a dot boundary:
-- the host must end in "." .. suffix and have at least one label before
-- it, so "cdn.example.com" itself and "evilcdn.example.com" do not match.
-- Plain string comparison, no patterns, so no character is magic.
local function host_allowed(scope, host)
  if scope.exact[host] then return true end
  for _, suffix in ipairs(scope.suffixes) do
    local tail = "." .. suffix
    if #host > #tail and host:sub(-#tail) == tail then return true end
  end
  return false
end

------------------------------------------------------------------------
-- Commands
------------------------------------------------------------------------

-- Characters that let a shell run, or redirect to, more than the first
-- word: separators, pipes, substitutions, redirections, escapes, control
-- bytes other than tab (newline runs a second command; NUL cuts the
-- string short in C). An effect may well hand the string to io.popen, so
-- a command holding any of them is refused whatever its first word is:
-- otherwise "ls && rm -rf /" would pass a grant of "ls", and "ls > f"
-- would write a file without fs_write.
local SHELL_SPECIAL = "[\0-\8\10-\31\127;&|`$<>()\\]"

-- The binary a command runs: the basename of its first word.
local function command_basename(cmd)
  local word = cmd:match("^%s*(%S+)")
  if not word then return nil end
  local base = word:match("([^/]*)$")
  if base == "" then return nil end
  return base
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

-- A grant is KIND, KIND:PARAM or KIND(PARAM), with KIND one of
-- ALL_KINDS and PARAM not empty. Anything else is refused here, so that
-- the checks below only ever see well-formed grants of known kinds: a
-- typo ("ioo") would otherwise grant nothing without a word, and a
-- malformed grant ("fs_read:") would be a literal kind of its own.
local function check_grant(i, g)
  if g == "" then return ("allow_effects entry %d is empty"):format(i) end
  local kind, param = parse_effect(g)
  if not param and g:find("[:()]") then
    return ("malformed grant '%s' in allow_effects"):format(g)
  end
  if not KNOWN_KINDS[kind] then
    local which = param and ("'%s' (grant '%s')"):format(kind, g) or ("'%s'"):format(kind)
    return ("unknown effect kind %s in allow_effects; known kinds: %s"):format(which, KINDS_TEXT)
  end
  return nil
end

-- Each compile_* returns the compiled scope or nil and a message.
local function compile_effects(list)
  local grants, count = {}, 0
  for i, g in ipairs(list) do
    local bad = check_grant(i, g)
    if bad then return nil, bad end
    local c = canonical_effect(g)
    if not grants[c] then count = count + 1 end
    grants[c] = true
  end
  return grants, count
end

local function compile_paths(field, list)
  local scope = {}
  for i, g in ipairs(list) do
    local absolute, parts = normalise_path(g)
    if not absolute and not parts then
      return nil, ("%s entry %d ('%s') is not a usable path"):format(field, i, g)
    end
    scope[#scope + 1] = { absolute = absolute, parts = parts }
  end
  return scope
end

local function compile_hosts(list)
  local scope = { exact = {}, suffixes = {}, size = #list }
  for i, g in ipairs(list) do
    local c = compile_host_grant(g)
    if not c then
      return nil, ("allow_net_host entry %d ('%s') is not a host name or '*.domain'")
        :format(i, g)
    end
    if c.exact then
      scope.exact[c.exact] = true
    else
      scope.suffixes[#scope.suffixes + 1] = c.suffix
    end
  end
  return scope
end

local function compile_procs(list)
  local scope = {}
  for i, g in ipairs(list) do
    if g == "" or g:find("[/%s%c]") then
      return nil, ("allow_proc entry %d ('%s') is not a binary basename"):format(i, g)
    end
    scope[g] = true
  end
  return scope
end

local function check_budget(b)
  if b == nil then return true end
  local n = math.type(b) and math.tointeger(b)
  if not n or n < 0 then
    return nil, ("budget must be a non-negative integer, got %s")
      :format(type(b) == "number" and tostring(b) or type(b))
  end
  return n
end

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
  local st, err = {}, nil
  st.grants, st.count = compile_effects(spec.allow_effects or {})
  if not st.grants then return nil, st.count end
  st.fs_read, err = compile_paths("allow_fs_read", spec.allow_fs_read or {})
  if not st.fs_read then return nil, err end
  st.fs_write, err = compile_paths("allow_fs_write", spec.allow_fs_write or {})
  if not st.fs_write then return nil, err end
  st.net, err = compile_hosts(spec.allow_net_host or {})
  if not st.net then return nil, err end
  st.proc, err = compile_procs(spec.allow_proc or {})
  if not st.proc then return nil, err end
  st.proc_count = #(spec.allow_proc or {})
  local budget
  budget, err = check_budget(spec.budget)
  if not budget then return nil, err end
  if budget ~= true then st.budget = budget end
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
    error(("calling '%s' on bad self (lexrt.policy expected, got %s)")
      :format(fname, type(self)), 3)
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

local function scope_is_open(st, kind)
  if kind == "net" then return st.net.size == 0 end
  if kind == "proc" then return st.proc_count == 0 end
  return #st[kind] == 0
end

function methods.allows(self, effect)
  local st = self_state(self, "allows")
  if type(effect) ~= "string" then
    error(argmsg("allows", 1, expected("string", effect)), 2)
  end
  return grants_effect(st, effect)
end

function methods.wildcards(self)
  local st = self_state(self, "wildcards")
  local open = {}
  for _, kind in ipairs(SCOPED_KINDS) do
    if kind_granted(st, kind) and scope_is_open(st, kind) then
      open[#open + 1] = kind
    end
  end
  return open
end

------------------------------------------------------------------------
-- The scope checks, shared by check_call and check_program. Each takes
-- the scope argument (possibly not a string) and returns nil when it is
-- allowed, or a violation kind and detail.
------------------------------------------------------------------------

local function check_path(st, kind, path)
  local scope = st[kind]
  if #scope == 0 then return nil end
  local field = SCOPE_FIELD[kind]
  if type(path) ~= "string" then
    return "fs_path_not_allowed", ("path expected, got %s"):format(type(path))
  end
  local absolute, parts = normalise_path(path)
  if not absolute and not parts then
    return "fs_path_not_allowed", ("'%s' is not a usable path"):format(path)
  end
  for _, grant in ipairs(scope) do
    if path_inside(absolute, parts, grant) then return nil end
  end
  local resolved = path_string(absolute, parts)
  if resolved ~= path then
    return "fs_path_not_allowed",
      ("'%s' (resolves to '%s') is outside %s"):format(path, resolved, field)
  end
  return "fs_path_not_allowed", ("'%s' is outside %s"):format(path, field)
end

local function check_host(st, url)
  if st.net.size == 0 then return nil end
  if type(url) ~= "string" then
    return "net_host_not_allowed", ("URL or host expected, got %s"):format(type(url))
  end
  local host, why = parse_host(url)
  if not host then
    return "net_host_not_allowed", ("cannot read a host from '%s': %s"):format(url, why)
  end
  if host_allowed(st.net, host) then return nil end
  if host ~= url then
    return "net_host_not_allowed",
      ("host '%s' (from '%s') is not in allow_net_host"):format(host, url)
  end
  return "net_host_not_allowed", ("host '%s' is not in allow_net_host"):format(host)
end

local function check_command(st, cmd)
  if st.proc_count == 0 then return nil end
  if type(cmd) ~= "string" then
    return "proc_not_allowed", ("command expected, got %s"):format(type(cmd))
  end
  if cmd:find(SHELL_SPECIAL) then
    return "proc_not_allowed", ("command '%s' holds shell control characters"):format(cmd)
  end
  local base = command_basename(cmd)
  if not base then
    return "proc_not_allowed", ("no binary in command '%s'"):format(cmd)
  end
  if st.proc[base] then return nil end
  return "proc_not_allowed", ("'%s' is not in allow_proc"):format(base)
end

local function check_scope(st, kind, arg)
  if kind == "fs_read" or kind == "fs_write" then return check_path(st, kind, arg) end
  if kind == "net" then return check_host(st, arg) end
  if kind == "proc" then return check_command(st, arg) end
  return nil
end

-- The dispatch gate: nil when the call may run, else a violation table.
-- The scope check uses the base kind even for a parameterised kind, so
-- dispatching "net:x" cannot skip the host list.
function methods.check_call(self, kind, op, arg)
  local st = self_state(self, "check_call")
  if type(kind) ~= "string" then
    error(argmsg("check_call", 1, expected("string", kind)), 2)
  end
  if type(op) ~= "string" then
    error(argmsg("check_call", 2, expected("string", op)), 2)
  end
  local at = kind .. "." .. op
  if not grants_effect(st, kind) then
    return new_violation("effect_not_allowed",
      ("effect '%s' is not granted (at %s)"):format(kind, at),
      { effect = kind, at = at })
  end
  local base = parse_effect(kind)
  local vkind, detail = check_scope(st, base, arg)
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

-- Read the amount of "budget:N". nil for a malformed amount; 0 for a bare
-- "budget" (it spends nothing the program declares).
local function budget_amount(param)
  if param == nil then return 0 end
  if not param:find("^%d+$") then return nil end
  return math.tointeger(tonumber(param))   -- nil when it overflows
end

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
  if type(declared) ~= "table" then
    error(argmsg("check_program", 1, expected("table", declared)), 2)
  end
  local names, err = validate_declared(declared)
  if not names then error(argmsg("check_program", 1, err), 2) end

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

local function construct(spec)
  if spec == nil then spec = {} end
  if type(spec) ~= "table" then
    return nil, expected("table", spec)
  end
  return compile_spec(spec)
end

-- policy{...} and policy.new{...}: the error is reported against the
-- caller, as argument #1 of 'policy'.
local function new(spec)
  local st, err = construct(spec)
  if not st then error(argmsg("policy", 1, err), 2) end
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

return setmetatable(policy, {
  __call = function(_, spec)
    local st, err = construct(spec)
    if not st then error(argmsg("policy", 1, err), 2) end
    return new_policy(st)
  end,
})
