-- What the README and the make targets promise a new user, checked
-- against what the code really does, so the two cannot drift apart.
local support = require("spec.support")

-- stdout and stderr together: what a user would see.
local function sh(cmd)
  return support.sh(cmd, true)
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

  local CHECKERS = { "valgrind", "cppcheck", "clang-tidy", "clang", "lua-check" }
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
    -- lexrt.http_core links h2o's event loop; the HTTP specs' clients are
    -- for make test alone.
    assert.is_true(packages("run")["libh2o-evloop-dev"])
    for _, name in ipairs({ "libh2o-evloop-dev", "curl", "lua-socket", "wrk" }) do
      assert.is_true(packages("test")[name], "test needs " .. name)
    end
    assert.is_nil(packages("run")["lua-socket"])
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
    for _, target in ipairs({ "test", "test-installed", "run", "bench", "check", "fuzz", "install", "install-local" }) do
      local code, out = sh("make -n " .. target)
      assert.are.equal(0, code, out)
      local first = out:match("^[^\n]*")
      local want = target == "install-local" and "install" or target
      assert.are.equal("sh scripts/deps.sh " .. want, first, "make " .. target)
    end
  end)

  -- argcheck_spec.lua does not itself run make spec, so this cannot recurse.
  it("include make spec, which runs one spec file with make test's set-up", function()
    local code, out = sh("make -n spec FILE=spec/argcheck_spec.lua")
    assert.are.equal(0, code, out)
    assert.are.equal("sh scripts/deps.sh test", out:match("^[^\n]*"))
    code, out = sh("make -s spec FILE=spec/argcheck_spec.lua")
    assert.are.equal(0, code, out)
    local passed = tonumber(out:match("\ntests: (%d+) passed, 0 failed\n?$"))
    assert.is_true(passed ~= nil and passed > 0, out)
    code, out = sh("make -s spec")
    assert.are.equal(2, code, out)
    assert.matches("usage: make spec FILE=", out, 1, true)
  end)

  it("include a per-user install that needs no root", function()
    local code, out = sh("make -n install-local")
    assert.are.equal(0, code, out)
    assert.matches("luarocks --lua-version=5.4 make --local --deps-mode=none", out, 1, true)
  end)
end)

-- make install-local from a checkout its user cannot write (a shared or
-- packaged tree): luarocks make builds where it runs, so the Makefile must
-- run it elsewhere. luarocks itself is replaced by a stub that does what
-- it does to its working directory (objects in csrc/, a lexrt/ directory)
-- and records where it ran and with which arguments, so this needs
-- neither luarocks nor a network, and tests the Makefile alone. Root
-- ignores permissions, so as root the make runs as nobody (setpriv).
describe("make install-local", function()
  local is_root = support.sh("test \"$(id -u)\" = 0") == 0
  local has_setpriv = support.sh("command -v setpriv >/dev/null") == 0
  local it_can = (not is_root or has_setpriv) and it or pending

  it_can("works from a read-only checkout, and leaves it as it was", function()
    local script = [=[
set -e
src=$(mktemp -d); home=$(mktemp -d)
cp -R Makefile csrc lua bin examples scripts lex-runtime-*.rockspec "$src"
mkdir "$home/bin"
cat >"$home/bin/luarocks" <<'STUB'
#!/bin/sh
echo "$PWD luarocks $*" >"$HOME/where"
touch csrc/arena.o && mkdir -p lexrt
STUB
chmod 755 "$home/bin/luarocks" "$src" "$home"
chmod -R a-w "$src"
as=""
if [ "$(id -u)" = 0 ]; then chown -R nobody "$home"; as="setpriv --reuid=nobody --regid=nogroup --clear-groups"; fi
set +e
$as env HOME="$home" PATH="$home/bin:$PATH" make -C "$src" DEPS=true install-local >/dev/null 2>"$home/err"
code=$?
set -e
echo "code $code"
echo "src $src"
cat "$home/where" 2>/dev/null || echo "no luarocks run"
cat "$home/err"
ls "$src/csrc" | grep -c '\.o$' || true
test -e "$src/lexrt" && echo "lexrt/ left in the checkout" || true
chmod -R u+w "$src"; rm -rf "$src" "$home"
]=]
    -- A file: sh -c with %q would join the lines.
    local path = os.tmpname()
    local f = assert(io.open(path, "w"))
    f:write(script)
    f:close()
    local _, out = sh("sh " .. path)
    os.remove(path)
    local code = out:match("code (%d+)")
    local src = out:match("\nsrc (%S+)")
    local where, args = out:match("\n(/%S+) (luarocks[^\n]*)")
    assert.are.equal("0", code, out)
    assert.is_string(where, out)
    assert.are_not.equal(src, where, "luarocks ran in the checkout")
    assert.matches("^luarocks %-%-lua%-version=5%.4 make %-%-local %-%-deps%-mode=none ", args)
    assert.matches("\n0\n", out, nil, false, "objects left in the checkout's csrc/")
    assert.is_nil(out:find("lexrt/ left", 1, true), out)
    assert.is_nil(io.open(where .. "/csrc", "r"), "the temporary copy was not removed")
  end)
end)

-- README.md's ```lua blocks, each with the heading it sits under.
local function readme_blocks()
  local f = assert(io.open("README.md", "r"))
  local text = f:read("a")
  f:close()
  local blocks, heading = {}, nil
  local in_block, lines = false, nil
  for line in (text .. "\n"):gmatch("([^\n]*)\n") do
    if in_block then
      if line == "```" then
        blocks[#blocks + 1] = { heading = heading, code = table.concat(lines, "\n") .. "\n" }
        in_block = false
      else
        lines[#lines + 1] = line
      end
    elseif line == "```lua" then
      in_block, lines = true, {}
    else
      heading = line:match("^#+%s+(.*)") or heading
    end
  end
  return blocks
end

local function block_under(heading)
  for _, b in ipairs(readme_blocks()) do
    if b.heading == heading then
      return b.code
    end
  end
  error("README.md has no lua block under '" .. heading .. "'")
end

-- The `--> ` comments of a chunk, in order: what its lines print.
local function promised(code)
  local out = {}
  for line in code:gmatch("[^\n]+") do
    local said = line:match("%-%->%s?(.*)$")
    if said then
      out[#out + 1] = said
    end
  end
  return out
end

-- Tabs and runs of spaces are one space; `...` in a promise stands for
-- any text.
local function squash(s)
  return (s:gsub("%s+", " "):gsub("^ ", ""):gsub(" $", ""))
end

local MAGIC = "[%^%$%(%)%%%.%[%]%*%+%-%?]"

local function fits(promise, line)
  local p, parts, from = squash(promise), {}, 1
  repeat
    local i, j = p:find("...", from, true)
    parts[#parts + 1] = p:sub(from, (i or 0) - 1):gsub(MAGIC, "%%%0")
    from = (j or #p) + 1
  until not i
  return squash(line):find("^" .. table.concat(parts, ".-") .. "$") ~= nil
end

-- Runs a chunk in a child lua5.4 that loads this checkout's lexrt (or an
-- installed one, when the checkout has no build), with page recycling
-- on, as a user's would be. Returns its output lines, and when it fails,
-- a last line "error: <message>" as the tour's comments write it.
local function run_chunk(path)
  local out, err = os.tmpname(), os.tmpname()
  local _, _, code = os.execute(("env -u LD_PRELOAD -u LEXRT_NO_RECYCLE"
    .. " LUA_PATH='lua/?.lua;lua/?/init.lua;;' LUA_CPATH='build/?.so;;' lua5.4 %s >%s 2>%s </dev/null")
    :format(path, out, err))
  local lines = {}
  for line in io.lines(out) do
    lines[#lines + 1] = line
  end
  local f = assert(io.open(err, "r"))
  local stderr = f:read("a")
  f:close()
  os.remove(out)
  os.remove(err)
  if code ~= 0 then
    lines[#lines + 1] = "error: " .. (stderr:match("^lua5%.4: ([^\n]*)") or stderr)
  end
  return lines, code
end

local function run_code(code)
  local path = os.tmpname()
  local f = assert(io.open(path, "w"))
  f:write(code)
  f:close()
  local lines, status = run_chunk(path)
  os.remove(path)
  return lines, status
end

-- README's Layout tables: the paths each row names. A name without a
-- slash is relative to the directory of the row's first path; `x.[ch]`
-- names x.c and x.h. Returns a set of files and a list of directories.
local function layout_paths()
  local f = assert(io.open("README.md", "r"))
  local text = f:read("a")
  f:close()
  local section = assert(text:match("\n## Layout\n(.-)\n## "), "README.md has no Layout section")
  local EXT = { c = true, h = true, lua = true, sh = true, py = true, awk = true, txt = true, md = true }
  local files, dirs = {}, {}
  for row in section:gmatch("\n(| `[^\n]*)") do
    local base
    for name in row:gmatch("`([^`]+)`") do
      local ext = name:match("%.(%a+)$")
      if base == nil then
        base = name:match("^(.*/)") or ""
      elseif not name:find("/", 1, true) and (EXT[ext] or name:match("%.%[ch%]$")) then
        name = base .. name
      end
      -- A module, a function, a variable, a placeholder: not a path.
      local is_path = name:find("/", 1, true) and not name:find("[<%s(*]")
      if is_path and name:sub(-1) == "/" then
        dirs[#dirs + 1] = name
      elseif is_path and name:match("%.%[ch%]$") then
        files[name:gsub("%[ch%]$", "c")] = true
        files[name:gsub("%[ch%]$", "h")] = true
      elseif is_path then
        files[name] = true
      end
    end
  end
  return files, dirs
end

describe("README's layout", function()
  -- Only a checkout knows which files are the project's (not build output).
  local code, tracked = sh("git ls-files csrc lua spec bench scripts bin examples fuzz ctest docs")
  local it_in_git = code == 0 and tracked ~= "" and it or pending

  it_in_git("names every file of the tree, or the directory it lies in", function()
    local files, dirs = layout_paths()
    for path in tracked:gmatch("[^\n]+") do
      local covered = files[path] or path:match("/%.[^/]+$") ~= nil -- dot files: git's, not ours
      for _, dir in ipairs(dirs) do
        covered = covered or path:sub(1, #dir) == dir
      end
      assert.is_true(covered, "README.md's Layout does not name " .. path)
    end
  end)

  it_in_git("names only files that exist", function()
    local files = layout_paths()
    local n = 0
    for path in pairs(files) do
      local f = io.open(path, "r")
      assert.is_not_nil(f, "README.md's Layout names " .. path .. ", which does not exist")
      f:close()
      n = n + 1
    end
    assert.is_true(n > 40)
  end)
end)

describe("README's tour", function()
  local tour = block_under("A short tour")

  it("is examples/arena_tour.lua, line for line", function()
    local f = assert(io.open("examples/arena_tour.lua", "r"))
    local file = f:read("a")
    f:close()
    -- The file's opening comment says how to run it; the rest is the tour.
    assert.are.equal(tour, file:sub((assert(file:find("local lexrt", 1, true)))))
  end)

  it("prints exactly what its --> comments say, line by line", function()
    local lines, status = run_chunk("examples/arena_tour.lua")
    assert.are.equal(0, status, table.concat(lines, "\n"))
    local want = promised(tour)
    assert.is_true(#want > 0)
    assert.are.equal(#want, #lines, "printed:\n" .. table.concat(lines, "\n"))
    for k, promise in ipairs(want) do
      assert.is_true(fits(promise, lines[k]),
        ("line %d: README says %q, the tour prints %q"):format(k, promise, lines[k]))
    end
  end)
end)

-- README's runnable examples beyond the tour: each is a file in
-- examples/ that README quotes line for line (from `local lexrt` on) and
-- that prints exactly what its --> comments say.
local QUOTED = {
  { heading = "Isolates", file = "examples/isolate_tour.lua" },
  { heading = "Requests in flight", file = "examples/sleep_scheduler.lua" },
}

for _, q in ipairs(QUOTED) do
  describe("README's example under '" .. q.heading .. "'", function()
    local block = block_under(q.heading)

    it("is " .. q.file .. ", line for line", function()
      local f = assert(io.open(q.file, "r"))
      local file = f:read("a")
      f:close()
      assert.are.equal(block, file:sub((assert(file:find("local lexrt", 1, true)))))
    end)

    it("prints exactly what its --> comments say, line by line", function()
      local lines, status = run_chunk(q.file)
      assert.are.equal(0, status, table.concat(lines, "\n"))
      local want = promised(block)
      assert.is_true(#want > 0)
      assert.are.equal(#want, #lines, "printed:\n" .. table.concat(lines, "\n"))
      for k, promise in ipairs(want) do
        assert.is_true(fits(promise, lines[k]),
          ("line %d: README says %q, %s prints %q"):format(k, promise, q.file, lines[k]))
      end
    end)

    it("calls only the effects its handler has", function()
      -- The isolate's effect tables are the handler's `effects`: every
      -- io.<op>( the source calls must be one the example defines.
      for op in block:gmatch("io%.([%a_]+)%(") do
        assert.matches("io = { [^\n]*" .. op .. " = function", block, nil, false, "io." .. op .. " is not defined")
      end
    end)
  end)
end

describe("README's handler example", function()
  it("prints what its --> comments say, in that order", function()
    local code = block_under("Handlers, scopes and policies")
    local lines = run_code(code)
    local want = promised(code)
    assert.is_true(#want > 0)
    local k = 1
    for _, line in ipairs(lines) do
      if want[k] and fits(want[k], line) then
        k = k + 1
      end
    end
    assert.is_true(k > #want, ("README's %q is not printed; the example printed:\n%s")
      :format(tostring(want[k]), table.concat(lines, "\n")))
  end)
end)

describe("the promise matcher", function()
  it("treats tabs as spaces and ... as any text", function()
    assert.is_true(fits("false  bad argument #2 to ... (stale)", "false\tbad argument #2 to 'read' (stale)"))
    assert.is_true(fits("lexrt.arena(1 pages, 48 bytes)", "lexrt.arena(1 pages, 48 bytes)"))
    assert.is_false(fits("lexrt.arena(1 pages, 54 bytes)", "lexrt.arena(1 pages, 48 bytes)"))
    assert.is_false(fits("2  0", "2\t0\t1"))
  end)
end)

-- docs/API.md, the user's reference: its lists of fields, kinds and
-- methods are checked against the objects themselves.
describe("docs/API.md", function()
  local lexrt = require("lexrt")
  local f = assert(io.open("docs/API.md", "r"))
  local api = f:read("a")
  f:close()

  -- The text of the section under `heading`, up to the next heading.
  local function section(heading)
    local start = api:find("\n" .. heading .. "\n", 1, true)
    assert(start, "docs/API.md has no section " .. heading)
    local body = api:sub(start + #heading + 2)
    return body:sub(1, (body:find("\n#") or #body + 1) - 1)
  end

  -- The first-column names of a section's table: | `name` | ... |
  local function table_names(heading)
    local names = {}
    for name in section(heading):gmatch("\n| `([%w_]+)` |") do
      names[name] = true
    end
    return names
  end

  local keys = require("spec.support").keys

  it("documents every field of an arena's stats(), and no other", function()
    local a <close> = lexrt.arena({ max_bytes = 1 << 20 })
    a:put("x")
    assert.are.same(keys(a:stats()), table_names("### Arena statistics"))
  end)

  it("documents every field of a handler's stats(), and no other", function()
    local h <close> = lexrt.handler()
    h:with_scope(function(a)
      a:put("x")
    end)
    assert.are.same(keys(h:stats()), table_names("### Handler statistics"))
  end)

  it("lists exactly the effect kinds a policy knows", function()
    local kinds = lexrt.policy.KINDS or lexrt.policy.kinds()
    local listed = section("### Grants"):match("```\n(.-)\n```")
    assert.are.equal(table.concat(kinds, " "), listed)
  end)

  it("names only methods the objects have", function()
    local a <close> = lexrt.arena()
    local h <close> = lexrt.handler()
    local p = lexrt.policy({})
    local objects = { a = a, h = h, p = p }
    local seen = 0
    for var, name in api:gmatch("`(%a):([%a_]+)%(") do
      local obj = objects[var]
      if obj then
        assert.are.equal("function", type(obj[name]), ("%s:%s"):format(var, name))
        seen = seen + 1
      end
    end
    assert.is_true(seen > 20)
  end)

  it("gives the default pool bound the handler really has", function()
    for _, ps in ipairs({ 4096, 65536, 16 * 1024 * 1024 }) do
      local h <close> = lexrt.handler({ page_size = ps })
      local want = require("lexrt.core").RECYCLING and require("lexrt.core").POOL_BYTES // ps or 0
      assert.are.equal(want, h:stats().pool_pages)
    end
    -- The documented figure is the one C exports (and summary.lua quotes).
    assert.matches(("`%d // page_size`"):format(require("lexrt.core").POOL_BYTES), api, 1, true)
  end)
end)
