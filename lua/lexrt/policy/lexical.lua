-- lexrt.policy.lexical: how the policy reads strings - effect names and
-- grants, paths, URLs and hosts, commands - kept apart so the part an
-- attacker's input meets first can be audited and tested alone.
--
-- Everything here is pure text work: no file system, no DNS, no state.
-- Every reader either returns an unambiguous reading or nil; a string the
-- rules below cannot place is refused, never guessed at. lexrt.policy
-- decides what a reading is allowed to do and words the refusals.

local M = {}

------------------------------------------------------------------------
-- Effect names and grants: "mcp", "mcp:ocpp", "mcp(ocpp)"
------------------------------------------------------------------------

-- Split an effect into its kind and optional parameter. The kind cannot
-- contain ':' '(' or ')', so the first ':' is the split point and a
-- parameter may itself hold colons ("fs_read:/a:b"). A string that fits
-- neither form ("mcp:", "mcp(") is taken whole as a literal kind. The
-- policy refuses such grants (parse_grant), so a literal like that (at
-- dispatch, in check_program) matches no grant and is refused: it can
-- never reach a kind while skipping that kind's path, host or command
-- list.
function M.parse_effect(s)
  local kind, param = s:match("^([^:()]+):(.+)$")
  if not kind then kind, param = s:match("^([^:()]+)%((.+)%)$") end
  if not kind then return s, nil end
  return kind, param
end

-- "mcp(ocpp)" and "mcp:ocpp" are one grant; store and look up one form.
function M.canonical_effect(s)
  local kind, param = M.parse_effect(s)
  if param then return kind .. ":" .. param end
  return kind
end

-- A grant must be KIND, KIND:PARAM or KIND(PARAM) with PARAM not empty.
-- Returns kind and param (nil for a bare grant), or nil and "empty" or
-- "malformed". Whether the kind is known is the policy's question.
function M.parse_grant(g)
  if g == "" then return nil, "empty" end
  local kind, param = M.parse_effect(g)
  if not param and g:find("[:()]") then return nil, "malformed" end
  return kind, param
end

-- The amount of a declared "budget:N": nil for a malformed amount or one
-- past maxinteger; 0 for a bare "budget" (it spends nothing).
function M.budget_amount(param)
  if param == nil then return 0 end
  if not param:find("^%d+$") then return nil end
  return math.tointeger(tonumber(param))   -- nil when it overflows
end

------------------------------------------------------------------------
-- Paths
------------------------------------------------------------------------

-- Normalise a path lexically: collapse repeated '/', drop '.', resolve
-- '..'. Returns { absolute = boolean, parts = components }, or nil when
-- the path cannot be placed: it is empty, holds a NUL byte (the C side
-- would cut it there, seeing a different path than we checked) or is
-- relative and climbs above its start ("../x"), which no grant can
-- contain. For absolute paths '/..' is '/', as in POSIX. Path grants and
-- checked paths are read the same way.
function M.normalise_path(s)
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
  return { absolute = absolute, parts = parts }
end

-- A normalised path as text: "/" for the root, "." for an empty relative.
function M.path_string(path)
  local s = table.concat(path.parts, "/")
  if path.absolute then return "/" .. s end
  return s == "" and "." or s
end

-- A path is inside a grant when both are absolute (or both relative) and
-- the grant's components are a prefix of the path's, compared whole, so
-- "/srv/data2" is not inside "/srv/data". A relative path is checked only
-- against relative grants; we do not guess the working directory.
function M.path_inside(path, grant)
  if path.absolute ~= grant.absolute or #grant.parts > #path.parts then return false end
  for i, c in ipairs(grant.parts) do
    if path.parts[i] ~= c then return false end
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
function M.parse_host(s)
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

-- Read a host grant: an exact host, "*.domain", or an IPv6 literal with
-- or without brackets. Returns { exact = host } or { suffix = domain },
-- or nil.
function M.host_grant(g)
  local v6 = g:match("^%[(.*)%]$") or g
  if looks_ipv6(v6) then return { exact = v6:lower() } end
  if g:sub(1, 2) == "*." then
    local suffix = clean_hostname(g:sub(3))
    return suffix and { suffix = suffix }
  end
  local host = clean_hostname(g)
  return host and { exact = host }
end

-- Does `host` fall under a "*.suffix" grant? Only as a subdomain on a dot
-- boundary: the host must end in "." .. suffix and have at least one
-- label before it, so "cdn.example.com" itself and "evilcdn.example.com"
-- do not match. Plain string comparison, no patterns, so no character is
-- magic.
function M.subdomain_of(host, suffix)
  local tail = "." .. suffix
  return #host > #tail and host:sub(-#tail) == tail
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

function M.has_shell_special(cmd)
  return cmd:find(SHELL_SPECIAL) ~= nil
end

-- The binary a command runs: the basename of its first word, or nil.
function M.command_basename(cmd)
  local word = cmd:match("^%s*(%S+)")
  if not word then return nil end
  local base = word:match("([^/]*)$")
  if base == "" then return nil end
  return base
end

-- A proc grant names a binary by its basename: not empty, no '/', no
-- whitespace or control bytes.
function M.is_basename(g)
  return g ~= "" and not g:find("[/%s%c]")
end

return M
