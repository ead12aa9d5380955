-- lexrt's version is written once, in the rockspec, and everything that
-- shows it must agree; and the specs must be testing the lexrt they mean
-- to: the checkout's, or under make test-installed the installed rock's.
local support = require("spec.support")
local lexrt = require("lexrt")

local ROOT = assert(io.popen("pwd -P")):read("l")
local TREE = support.INSTALLED_TREE
local sh = support.sh

-- The checkout's rockspec, loaded as luarocks loads one: its assignments
-- into a table. Returns the table and the file's name.
local function rockspec()
  local code, out = sh("ls lex-runtime-*.rockspec")
  assert.are.equal(0, code, "no rockspec at the top of the checkout")
  local name = out:match("^(%S+)\n$")
  assert(name, "more than one rockspec: " .. out)
  local t = {}
  assert(loadfile(name, "t", t))()
  return t, name
end

local spec, spec_name = rockspec()
local RELEASE = spec.version:match("^(.+)%-%d+$")

describe("lexrt's version", function()
  it("is the rockspec's version field, which the file's name repeats", function()
    assert.matches("^%d[%w.]*%-%d+$", spec.version)
    assert.are.equal("lex-runtime", spec.package)
    assert.are.equal(spec.package .. "-" .. spec.version .. ".rockspec", spec_name)
  end)

  it("shows in lexrt._VERSION as 'lexrt <release>', the release being the version without its revision", function()
    assert.are.equal("lexrt " .. RELEASE, lexrt._VERSION)
    assert.are.equal(RELEASE, require("lexrt.core")._VERSION)
  end)

  it("is what lexrt-experiment --version prints, as a separate lua5.4 process that exits 0", function()
    -- The checkout's command runs under lua5.4 explicitly; the installed
    -- one is luarocks' shell wrapper, which starts lua5.4 itself.
    local bin = support.experiment_bin(ROOT)
    local code, out, err = sh((TREE and "%s --version" or "lua5.4 %s --version"):format(bin))
    assert.are.equal("", err)
    assert.are.equal(0, code)
    assert.are.equal("lexrt-experiment " .. RELEASE .. "\n", out)
  end)

  it("is printed by lexrt-experiment --version whatever the other options say, and listed in --help", function()
    local bin = support.experiment_bin(ROOT)
    local code, out = sh(bin .. " --version -m nonsense -w nonsense")
    assert.are.equal(0, code)
    assert.are.equal("lexrt-experiment " .. RELEASE .. "\n", out)
    code, out = sh(bin .. " --help")
    assert.are.equal(0, code)
    assert.matches("\n%s+%-%-version%s+Print the version", out)
  end)

  it("tags the published source v<release>", function()
    assert.are.equal("v" .. RELEASE, spec.source.tag)
    assert.matches("^git%+https://.+/lex%-runtime%.git$", spec.source.url)
  end)

  it("reaches the C module through one define, from the rockspec under luarocks and make alike", function()
    local define = ('LEXRT_VERSION="%s"'):format(RELEASE)
    assert.are.same({ define }, spec.build.modules["lexrt.core"].defines)
    local code, out = sh("make -n -B build")
    assert.are.equal(0, code, out)
    assert.matches("-DLEXRT_VERSION='\"" .. RELEASE:gsub("%p", "%%%0") .. "\"'", out)
  end)

  it("is read by scripts/version.sh: the release, or with --rock the rock's version", function()
    local code, out = sh("sh scripts/version.sh")
    assert.are.equal(0, code)
    assert.are.equal(RELEASE .. "\n", out)
    code, out = sh("sh scripts/version.sh --rock")
    assert.are.equal(0, code)
    assert.are.equal(spec.version .. "\n", out)
  end)

  it("must agree with the rockspec file's name, or scripts/version.sh refuses it", function()
    local dir = os.tmpname()
    os.remove(dir)
    local code, _, err = sh(("mkdir %s && cp %s %s/lex-runtime-99.0-1.rockspec && sh scripts/version.sh %s/lex-runtime-99.0-1.rockspec")
      :format(dir, spec_name, dir, dir))
    sh("rm -rf " .. dir)
    assert.are.equal(1, code)
    assert.matches("must be named " .. spec_name:gsub("%p", "%%%0"), err)
  end)

  it("needs a version = \"<release>-<revision>\" line in the rockspec", function()
    local dir = os.tmpname()
    os.remove(dir)
    local code, _, err = sh(("mkdir %s && sed 's/^version = .*/version = \"1.0\"/' %s >%s/lex-runtime-1.0.rockspec"
      .. " && sh scripts/version.sh %s/lex-runtime-1.0.rockspec"):format(dir, spec_name, dir, dir))
    sh("rm -rf " .. dir)
    assert.are.equal(1, code)
    assert.matches("expected a line version = \"<release>-<revision>\", got '1.0'", err, 1, true)
  end)
end)

-- The files of the shared objects this process has mapped, e.g. core.so.
local function mapped(pattern)
  local files = {}
  for line in io.lines("/proc/self/maps") do
    local file = line:match("%s(/%S+)$")
    if file and file:find(pattern) then
      files[file] = true
    end
  end
  return files
end

-- The rockspec's modules, each with the path Lua's searchers find it at.
local function module_paths()
  local out = {}
  for name, m in pairs(spec.build.modules) do
    local p = type(m) == "table" and package.cpath or package.path
    out[name] = package.searchpath(name, p) or "(not found)"
  end
  return out
end

describe("the lexrt under test", function()
  if TREE then
    it("is the installed rock's: every module the rockspec lists loads from the fresh tree", function()
      for name, path in pairs(module_paths()) do
        assert.are.equal(TREE, path:sub(1, #TREE), name .. " is found at " .. path)
      end
      assert.are.equal("@" .. TREE .. "/share/lua/5.4/lexrt/handler.lua", debug.getinfo(lexrt.handler, "S").source)
      assert.are.same({ [TREE .. "/lib/lua/5.4/lexrt/core.so"] = true }, mapped("/lexrt/core%.so$"))
    end)

    it("is the rock make dist packed, at the rockspec's version", function()
      local installed = ("%s/lib/luarocks/rocks-5.4/lex-runtime/%s/%s"):format(TREE, spec.version, spec_name)
      local t = {}
      assert(loadfile(installed, "t", t))()
      assert.are.equal(spec.version, t.version)
      assert.matches("^file:///.+/lex%-runtime%-" .. RELEASE:gsub("%p", "%%%0") .. "%.tar%.gz$", t.source.url)
    end)
  else
    it("is the checkout's: lexrt from lua/, lexrt.core from build/", function()
      for name, path in pairs(module_paths()) do
        local file = spec.build.modules[name]
        if type(file) == "table" then -- a C module: lexrt.core, lexrt.http_core
          assert.is_truthy(path:find("^build/"), name .. " is found at " .. path)
        elseif file:find("^lua/") then
          assert.are.equal(file, path, name)
        end
      end
      assert.are.equal("@lua/lexrt/handler.lua", debug.getinfo(lexrt.handler, "S").source)
      local so = next(mapped("/lexrt/core%.so$"))
      assert.are.equal(ROOT .. "/build/", so:sub(1, #ROOT + 7))
    end)
  end
end)
