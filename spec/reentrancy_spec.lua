-- Finalisers that run inside a method call (issue 9, section 2): whatever
-- a __gc does to the object in use (reset, close, scope exit), the call
-- ends in a clean Lua error or correct behaviour, never in memory misuse.
-- Each case runs first in a child interpreter, so that a crash fails that
-- case alone, then in this one, where make check's ASan and valgrind runs
-- watch it. The cases and how they aim the finaliser:
-- spec/reentrancy_cases.lua.
local reentrancy = require("spec.reentrancy_cases")

local function quote(s)
  return "'" .. s:gsub("'", "'\\''") .. "'"
end

-- Runs case i in a fresh lua5.4 with this run's module paths; true if it
-- passed, else false and what it printed.
local function in_child(i)
  local cmd = ("LUA_PATH=%s LUA_CPATH=%s lua5.4 -e %s 2>&1"):format(quote(package.path),
    quote(package.cpath), quote(("require('spec.reentrancy_cases').main(%d)"):format(i)))
  local p = assert(io.popen(cmd))
  local out = p:read("a")
  local ok, how, code = p:close()
  if ok and out:find("case ok\n", 1, true) and not out:find("Lua warning", 1, true) then
    return true
  end
  return false, ("%s (%s %s)"):format(out, tostring(how), tostring(code))
end

describe("a finaliser running inside a method call", function()
  for i, c in ipairs(reentrancy.cases) do
    it(c.name, function()
      local ok, why = in_child(i)
      assert(ok, "in a child interpreter: " .. tostring(why))
      c.run()
    end)
  end
end)
