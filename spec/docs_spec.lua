-- What the README and the make targets promise a new user, checked
-- against what the code really does, so the two cannot drift apart.

-- Runs a shell command in the checkout and returns its exit code and
-- output (stdout and stderr together). The memory checkers' runs preload
-- sanitizer runtimes into the spec's interpreter; commands started from
-- here must not inherit them, nor the make running the suite's flags.
local function sh(cmd)
  local out = os.tmpname()
  local _, _, code = os.execute(("env -u LD_PRELOAD -u MAKEFLAGS -u MFLAGS -u MAKELEVEL sh -c %q >%s 2>&1 </dev/null")
    :format(cmd, out))
  local f = assert(io.open(out, "r"))
  local text = f:read("a")
  f:close()
  os.remove(out)
  return code, text
end

local function set_of(text)
  local s = {}
  for word in text:gmatch("%S+") do
    s[word] = true
  end
  return s
end

describe("the make targets' packages", function()
  local function packages(target)
    local code, out = sh("sh scripts/deps.sh --list " .. target)
    assert.are.equal(0, code, out)
    return set_of(out)
  end

  local CHECKERS = { "valgrind", "cppcheck", "clang-tidy", "clang" }
  local ALLOCATORS = { "libapr1-dev", "libtalloc-dev", "libmimalloc-dev", "pkg-config" }

  it("are, for make test and make run, only the compiler, Lua and its modules", function()
    for _, target in ipairs({ "test", "run" }) do
      local p = packages(target)
      for _, name in ipairs({ "gcc", "make", "lua5.4", "liblua5.4-dev", "lua-argparse", "lua-dkjson" }) do
        assert.is_true(p[name], target .. " needs " .. name)
      end
      for _, name in ipairs(CHECKERS) do
        assert.is_nil(p[name], target .. " must not install " .. name)
      end
      for _, name in ipairs(ALLOCATORS) do
        assert.is_nil(p[name], target .. " must not install " .. name)
      end
      assert.is_nil(p.luarocks, target .. " must not install luarocks")
    end
    assert.is_true(packages("test")["lua-busted"])
    assert.is_nil(packages("run")["lua-busted"])
  end)

  it("add the allocator libraries for make bench and the checkers for make check", function()
    local bench, check = packages("bench"), packages("check")
    for _, name in ipairs(ALLOCATORS) do
      assert.is_true(bench[name], "bench needs " .. name)
      assert.is_nil(check[name], "check must not install " .. name)
    end
    for _, name in ipairs(CHECKERS) do
      assert.is_true(check[name], "check needs " .. name)
      assert.is_nil(bench[name], "bench must not install " .. name)
    end
    assert.is_true(check["lua-busted"], "check runs the specs")
    local rt = false
    for name in pairs(check) do
      rt = rt or name:find("^libclang%-rt%-") ~= nil
    end
    assert.is_true(rt, "check needs clang's libFuzzer runtime")
  end)

  it("refuses an unknown target instead of installing everything", function()
    local code, out = sh("sh scripts/deps.sh --list tset")
    assert.are.equal(2, code)
    assert.matches("usage:", out)
  end)

  it("are installed by each make target for that target alone", function()
    for _, target in ipairs({ "test", "run", "bench", "check", "fuzz", "install", "install-local" }) do
      local code, out = sh("make -n " .. target)
      assert.are.equal(0, code, out)
      local first = out:match("^[^\n]*")
      local want = target == "install-local" and "install" or target
      assert.are.equal("sh scripts/deps.sh " .. want, first, "make " .. target)
    end
  end)
end)
