-- The rock: what the rockspec builds, what make dist packs, and what the
-- README tells a user about installing it. (make test-installed, run by
-- CI, then installs the packed rock and runs this whole suite on it.)
local support = require("spec.support")
local sh, lines = support.sh, support.lines

local function set(list)
  local s = {}
  for _, v in ipairs(list) do
    s[v] = true
  end
  return s
end

local function load_rockspec(path)
  local t = {}
  assert(loadfile(path, "t", t))()
  return t
end

local function tmpdir()
  local dir = os.tmpname()
  os.remove(dir)
  assert(os.execute("mkdir " .. dir))
  return dir
end

local SPEC_NAME = select(2, sh("ls lex-runtime-*.rockspec")):match("^(%S+)\n$")
local SPEC = load_rockspec(SPEC_NAME)
local RELEASE = SPEC.version:match("^(.+)%-%d+$")
local BASE = "lex-runtime-" .. RELEASE

-- make dist works on git's view of the checkout; without git (a source
-- tarball, say) there is nothing to pack.
local in_git = sh("git rev-parse --verify --quiet HEAD") == 0
local it_in_git = in_git and it or pending

describe("the rockspec", function()
  it("lists every Lua file under lua/ as the module its path names, and only files that exist", function()
    local _, out = sh("cd lua && find . -name '*.lua' | sort")
    local want = {}
    for _, path in ipairs(lines(out)) do
      local name = path:gsub("^%./", ""):gsub("%.lua$", ""):gsub("/init$", ""):gsub("/", ".")
      want[name] = "lua/" .. path:gsub("^%./", "")
    end
    local listed = {}
    for name, file in pairs(SPEC.build.modules) do
      if type(file) == "string" then
        local f = io.open(file, "r")
        assert.is_truthy(f, name .. ": no file " .. file)
        f:close()
        if file:find("^lua/") then
          listed[name] = file
        end
      end
    end
    assert.are.same(want, listed)
  end)

  it("builds lexrt.core and lexrt.http_core from every C file under csrc/, as csrc/sources.mk lists them and make builds them", function()
    local _, out = sh("ls csrc/*.c")
    local want = set(lines(out))
    local code, listed = sh("sh scripts/sources.sh all")
    assert.are.equal(0, code, listed)
    local code2, http = sh("sh scripts/sources.sh http")
    assert.are.equal(0, code2, http)
    assert.are.same(set(lines(listed)), set(SPEC.build.modules["lexrt.core"].sources))
    assert.are.same(set(lines(http)), set(SPEC.build.modules["lexrt.http_core"].sources))
    local both = set(lines(listed .. "\n" .. http))
    assert.are.same(want, both)
    local made
    code, made = sh("make -n -B build")
    assert.are.equal(0, code, made)
    local compiled = {}
    for file in made:gmatch("csrc/[%w_]+%.c") do
      compiled[file] = true
    end
    assert.are.same(want, compiled)
  end)

  it("repeats csrc/sources.mk's list, which scripts/sources.sh --check confirms", function()
    local code, out, err = sh("sh scripts/sources.sh --check")
    assert.are.equal(0, code, err)
    assert.matches("agree", out, 1, true)
  end)

  -- A scratch copy whose list, rockspec and csrc/ each disagree with the
  -- others, so that the check has something to name.
  it("names each file the list and the rockspec disagree on (scripts/sources.sh --check)", function()
    local dir = tmpdir()
    local code, _, err = sh(table.concat({
      ("mkdir %s/scripts %s/csrc && cp scripts/sources.sh %s/scripts/ && cp csrc/*.c csrc/sources.mk %s/csrc/"):format(
        dir, dir, dir, dir),
      ("sed 's#\"csrc/sysmem.c\", *##; s#\"csrc/lexrt.c\"#\"csrc/l_gone.c\"#' %s >%s/%s"):format(
        SPEC_NAME, dir, SPEC_NAME),
      ("echo 'LEXRT_BIND += l_new.c' >>%s/csrc/sources.mk && touch %s/csrc/l_new.c %s/csrc/l_stray.c"):format(
        dir, dir, dir),
      ("sh %s/scripts/sources.sh --check"):format(dir),
    }, " && "))
    sh("rm -rf " .. dir)
    assert.are.equal(1, code, err)
    for _, file in ipairs({ "csrc/lexrt.c", "csrc/sysmem.c", "csrc/l_new.c" }) do
      assert.matches(file .. " is in csrc/sources.mk but not in " .. SPEC_NAME, err, 1, true)
    end
    assert.matches("csrc/l_gone.c is in " .. SPEC_NAME .. " but not in csrc/sources.mk", err, 1, true)
    assert.matches("csrc/l_stray.c exists but is not in csrc/sources.mk", err, 1, true)
  end)

  it("installs the lexrt-experiment and lexrt-serve commands and needs Lua 5.4", function()
    assert.are.same({ ["lexrt-experiment"] = "bin/lexrt-experiment", ["lexrt-serve"] = "bin/lexrt-serve" },
      SPEC.build.install.bin)
    assert.are.equal("lua >= 5.4, < 5.5", SPEC.dependencies[1])
  end)
end)

describe("make dist", function()
  it_in_git("packs exactly the files committed at HEAD, under lex-runtime-<release>/", function()
    local dir = tmpdir()
    local code, out, err = sh("sh scripts/dist.sh --source-only " .. dir)
    local _, listing = sh(("tar tzf %s/%s.tar.gz | grep -v '/$'"):format(dir, BASE))
    local _, committed = sh("git ls-tree -r --name-only HEAD")
    sh("rm -rf " .. dir)
    assert.are.equal(0, code, err)
    assert.are.equal(dir .. "/" .. SPEC_NAME .. "\n", out)
    local want = {}
    for _, file in ipairs(lines(committed)) do
      want[#want + 1] = BASE .. "/" .. file
    end
    assert.are.same(set(want), set(lines(listing)))
  end)

  it_in_git("writes HEAD's rockspec with only its source changed, to that archive", function()
    local dir = tmpdir()
    local code, _, err = sh("sh scripts/dist.sh --source-only " .. dir)
    sh(("git show HEAD:%s >%s/head.rockspec"):format(SPEC_NAME, dir))
    local made = code == 0 and load_rockspec(dir .. "/" .. SPEC_NAME)
    local head = load_rockspec(dir .. "/head.rockspec")
    sh("rm -rf " .. dir)
    assert.are.equal(0, code, err)
    assert.are.same({ url = "file://" .. dir .. "/" .. BASE .. ".tar.gz", dir = BASE }, made.source)
    made.source, head.source = nil, nil
    assert.are.same(head, made)
  end)

  -- A scratch repository holding the two scripts and the rockspec, so that
  -- its worktree can be dirtied without touching this checkout's.
  it_in_git("leaves out uncommitted and untracked changes, and says so", function()
    local repo, out = tmpdir(), tmpdir()
    local git = "git -c user.name=spec -c user.email=spec@localhost"
    local code, _, err = sh(table.concat({
      ("mkdir %s/scripts && cp scripts/dist.sh scripts/version.sh %s/scripts/ && cp %s README.md %s/"):format(
        repo, repo, SPEC_NAME, repo),
      "cd " .. repo,
      "git init -q . && git add . && " .. git .. " commit -qm scratch",
      "echo changed >>README.md && echo new >untracked.txt",
      ("sh scripts/dist.sh --source-only %s"):format(out),
    }, " && "))
    local _, readme = sh(("tar xzOf %s/%s.tar.gz %s/README.md"):format(out, BASE, BASE))
    local _, listing = sh(("tar tzf %s/%s.tar.gz"):format(out, BASE))
    local f = assert(io.open("README.md", "r"))
    local committed = f:read("a")
    f:close()
    sh(("rm -rf %s %s"):format(repo, out))
    assert.are.equal(0, code, err)
    assert.matches("uncommitted changes are not in the rock", err, 1, true)
    assert.are.equal(committed, readme)
    assert.is_nil(listing:find("untracked.txt", 1, true))
  end)

  it("refuses to run outside a git checkout, and makes nothing", function()
    local dir = tmpdir()
    local parent = dir:match("^(.*)/[^/]*$")
    local code, _, err = sh(("mkdir %s/scripts && cp scripts/dist.sh scripts/version.sh %s/scripts/ && cp %s %s/"
      .. " && GIT_CEILING_DIRECTORIES=%s sh %s/scripts/dist.sh --source-only %s/out"):format(
      dir, dir, SPEC_NAME, dir, parent, dir, dir))
    local made = sh(("test -e %s/out || test -e %s/build"):format(dir, dir)) == 0
    sh("rm -rf " .. dir)
    assert.are.equal(1, code)
    assert.matches("not a git checkout", err, 1, true)
    assert.is_false(made)
  end)

  it("is a make target that installs git and luarocks only, then runs scripts/dist.sh", function()
    local code, out = sh("make -n dist")
    assert.are.equal(0, code, out)
    assert.are.same({ "sh scripts/deps.sh dist", "sh scripts/dist.sh" }, lines(out))
    local _, pkgs = sh("sh scripts/deps.sh --list dist")
    assert.are.same(set({ "git", "luarocks" }), set(lines(pkgs)))
  end)
end)

describe("make test-installed", function()
  it("runs scripts/test-installed.sh with make test's packages plus git and luarocks", function()
    local code, out = sh("make -n test-installed")
    assert.are.equal(0, code, out)
    assert.are.same({ "sh scripts/deps.sh test-installed", "sh scripts/test-installed.sh" }, lines(out))
    local _, test = sh("sh scripts/deps.sh --list test")
    local _, installed = sh("sh scripts/deps.sh --list test-installed")
    local want = lines(test)
    want[#want + 1] = "git"
    want[#want + 1] = "luarocks"
    assert.are.same(set(want), set(lines(installed)))
  end)
end)

describe("README's Installing section", function()
  local f = assert(io.open("README.md", "r"))
  local readme = f:read("a")
  f:close()
  local section = readme:match("\n## Installing\n(.-)\n## ")

  it("installs the rock file as root and with --local, by the name make dist gives it", function()
    assert.is_string(section)
    local rock = "./lex-runtime-<version>.src.rock"
    assert.matches("make dist   # writes dist/lex-runtime-<version>.src.rock", section, 1, true)
    assert.matches("sudo luarocks --lua-version=5.4 install --deps-mode=none " .. rock, section, 1, true)
    assert.matches("\nluarocks --lua-version=5.4 install --local --deps-mode=none " .. rock, section, 1, true)
  end)

  it("says what luarocks path is for, and where the published source and its tag are", function()
    assert.matches("### Where Lua finds it: `luarocks path`", section, 1, true)
    assert.matches('eval "$(luarocks --lua-version=5.4 path)"', section, 1, true)
    assert.matches(("`%s` at the tag `v<release>`"):format(SPEC.source.url), section:gsub("\n", " "), 1, true)
  end)

  it("names the make targets that exist", function()
    for target in section:gmatch("`make ([%w-]+)`") do
      local code, out = sh("make -n " .. target)
      assert.are.equal(0, code, target .. ": " .. out)
    end
  end)
end)
