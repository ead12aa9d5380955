-- lexrt.argcheck: argument errors for lexrt's Lua modules, in the words of
-- luaL_argerror and luaL_typeerror, so a bad argument reads the same
-- whether C or Lua refused it:
--   bad argument #1 to 'serve' (function expected, got nil)
--   calling 'allows' on bad self (lexrt.policy expected, got number)
--
-- `level` means what it means to `error`, counted from the function that
-- calls the helper: 1 blames that function's own line, 2 (the default)
-- the line that called it. Call the raising helpers as statements, never
-- as `return argcheck.argerror(...)`: a tail call drops the calling frame
-- and the error would blame one caller too far up.

local M = {}

-- luaL_typeerror's message: "string expected, got nil".
function M.expected(what, v)
  return ("%s expected, got %s"):format(what, type(v))
end

function M.message(n, fname, msg)
  return ("bad argument #%d to '%s' (%s)"):format(n, fname, msg)
end

-- A count: an integer >= 0, an integral float taken as that integer.
-- Returns it, or nil and "<what> must be a non-negative integer, got <v>"
-- (a number shown as itself, anything else by its type).
function M.tocount(v, what)
  local n = math.type(v) and math.tointeger(v)
  if n and n >= 0 then return n end
  local shown = type(v) == "number" and tostring(v) or type(v)
  return nil, ("%s must be a non-negative integer, got %s"):format(what, shown)
end

-- The + 1 skips this function's own frame.
function M.argerror(n, fname, msg, level)
  error(M.message(n, fname, msg), (level or 2) + 1)
end

-- Raises unless type(v) is `tname`.
function M.checktype(n, fname, v, tname, level)
  if type(v) ~= tname then
    error(M.message(n, fname, M.expected(tname, v)), (level or 2) + 1)
  end
end

-- What luaL_argerror says when argument #1 of a method is a bad self.
function M.selferror(fname, msg, level)
  error(("calling '%s' on bad self (%s)"):format(fname, msg), (level or 2) + 1)
end

return M
