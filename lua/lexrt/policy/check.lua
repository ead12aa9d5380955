-- lexrt.policy.check: the scope checks a policy makes on a call's
-- argument - a file path (lexically, then at dispatch on the file system,
-- through symbolic links), a URL's host, a command's binary. lexrt.policy
-- runs them from check_call and check_program and words the violation;
-- they live apart because they are the one part of the policy that looks
-- at the file system, and so the part to audit for it.

local argcheck = require("lexrt.argcheck")
local core = require("lexrt.core")
local kinds_ = require("lexrt.policy.kinds")
local lexical = require("lexrt.policy.lexical")

local expected = argcheck.expected
local SCOPE = kinds_.SCOPE

local M = {}

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

M.scope = check_scope

return M
