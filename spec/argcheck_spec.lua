-- Spec for lexrt.argcheck: the luaL_argerror wording shared by the Lua
-- modules, and the line each error blames.
local argcheck = require("lexrt.argcheck")

local SRC = debug.getinfo(1, "S").short_src

-- Calls f at a line of this file and returns the error and that line.
local function raised_at(f, ...)
  local args = table.pack(...)
  local line
  local ok, err = pcall(function()
    line = debug.getinfo(1, "l").currentline; f(table.unpack(args, 1, args.n))
  end)
  assert.is_false(ok, "expected an error")
  return err, line
end

-- A public function that checks its argument, as serve or policy do.
local function api(x)
  if x == nil then argcheck.argerror(1, "api", "value expected") end
  argcheck.checktype(1, "api", x, "string")
  return x
end

describe("lexrt.argcheck", function()
  it("words a bad argument as luaL_argerror does", function()
    assert.are.equal("bad argument #3 to 'serve' (function expected, got nil)",
      argcheck.message(3, "serve", "function expected, got nil"))
  end)

  it("words a type mismatch as luaL_typeerror does", function()
    assert.are.equal("string expected, got number", argcheck.expected("string", 1))
    assert.are.equal("table or nil expected, got boolean", argcheck.expected("table or nil", true))
    assert.are.equal("string expected, got nil", argcheck.expected("string", nil))
  end)

  it("blames the line that called the checking function", function()
    local err, line = raised_at(api, nil)
    assert.are.equal(("%s:%d: bad argument #1 to 'api' (value expected)"):format(SRC, line), err)
  end)

  it("checktype passes a value of the right type and blames the caller otherwise", function()
    assert.are.equal("ok", api("ok"))
    local err, line = raised_at(api, 42)
    assert.are.equal(("%s:%d: bad argument #1 to 'api' (string expected, got number)")
      :format(SRC, line), err)
  end)

  it("blames a caller further up when given a higher level", function()
    -- A check inside a helper: level 3 is the helper, the method, its caller.
    local function check(v) argcheck.checktype(2, "method", v, "table", 3) end
    local function method(_, v) check(v) end
    local err, line = raised_at(method, nil, "x")
    assert.are.equal(("%s:%d: bad argument #2 to 'method' (table expected, got string)")
      :format(SRC, line), err)

    local function deep() argcheck.argerror(1, "deep", "nope", 3) end
    local function outer() deep() end
    err, line = raised_at(outer)
    assert.are.equal(("%s:%d: bad argument #1 to 'deep' (nope)"):format(SRC, line), err)
  end)

  it("words a bad self as luaL_argerror does for methods", function()
    local function method(self)
      if type(self) ~= "table" then
        argcheck.selferror("method", argcheck.expected("lexrt.thing", self))
      end
    end
    local err, line = raised_at(method, 7)
    assert.are.equal(("%s:%d: calling 'method' on bad self (lexrt.thing expected, got number)")
      :format(SRC, line), err)
  end)

  it("reads a count: a non-negative integer, an integral float taken as one", function()
    assert.are.equal(0, argcheck.tocount(0, "n"))
    assert.are.equal(5, argcheck.tocount(5, "n"))
    local n = argcheck.tocount(50.0, "n")
    assert.are.equal(50, n)
    assert.are.equal("integer", math.type(n))
  end)

  it("refuses anything else as a count, showing a number as itself and others by type", function()
    local cases = { { -1, "-1" }, { 1.5, "1.5" }, { math.huge, "inf" }, { "10", "string" },
                    { true, "boolean" }, { {}, "table" } }
    for _, case in ipairs(cases) do
      assert.are.same({ nil, "budget must be a non-negative integer, got " .. case[2] },
        { argcheck.tocount(case[1], "budget") })
    end
    assert.is_nil(argcheck.tocount(0 / 0, "budget"))
  end)

  it("adds no position when the blamed caller is C", function()
    local ok, err = pcall(api, 1)
    assert.is_false(ok)
    assert.are.equal("bad argument #1 to 'api' (string expected, got number)", err)
  end)
end)
