-- Small helpers shared by the specs: require("spec.support").
local M = {}

-- The error f(...) raises; fails the test if it raises none.
function M.err_of(f, ...)
  local ok, e = pcall(f, ...)
  assert(not ok, "expected an error")
  return e
end

-- Memory checkers (valgrind, ASan) hold freed blocks in quarantine, so
-- resident-memory figures mean nothing under them; make check sets this.
M.UNDER_CHECKER = os.getenv("LEXRT_CHECKER") ~= nil

-- Set by make test-installed (scripts/test-installed.sh): the luarocks
-- tree the rock was installed into, which lexrt must load from; nil when
-- the specs run against the checkout.
M.INSTALLED_TREE = os.getenv("LEXRT_INSTALLED_TREE")

-- The lexrt-experiment command under test: the installed tree's, or the
-- one in the checkout at `root`.
function M.experiment_bin(root)
  if M.INSTALLED_TREE then
    return M.INSTALLED_TREE .. "/bin/lexrt-experiment"
  end
  return root .. "/bin/lexrt-experiment"
end

-- This process's resident memory in KiB (statm counts 4 KiB pages here).
function M.rss_kib()
  local f = assert(io.open("/proc/self/statm"))
  local _, resident = f:read("*n", "*n")
  f:close()
  return resident * 4
end

-- The whole of a file's text; the file is removed afterwards when
-- `remove` is true (the scratch files of sh and run below).
function M.slurp(path, remove)
  local f = assert(io.open(path, "r"))
  local text = f:read("a")
  f:close()
  if remove then
    os.remove(path)
  end
  return text
end

-- The environment a child command starts from: the memory checkers' runs
-- preload sanitizer runtimes into the spec's interpreter, and make passes
-- its flags down; neither is for the command under test.
M.CLEAN_ENV = "env -u LD_PRELOAD -u MAKEFLAGS -u MFLAGS -u MAKELEVEL"

-- Runs a shell command and returns its exit code, stdout and stderr
-- (with `merged`, stdout and stderr together as the second result).
function M.sh(cmd, merged)
  local out, err = os.tmpname(), os.tmpname()
  local redirect = merged and ">%s 2>&1" or ">%s 2>%s"
  local _, _, code = os.execute(("%s sh -c %q " .. redirect .. " </dev/null")
    :format(M.CLEAN_ENV, cmd, out, err))
  local text = M.slurp(out, true)
  if merged then
    os.remove(err)
    return code, text
  end
  return code, text, M.slurp(err, true)
end

-- The non-empty lines of a text.
function M.lines(text)
  local out = {}
  for line in text:gmatch("[^\n]+") do
    out[#out + 1] = line
  end
  return out
end

-- The keys of a table, as a set.
function M.keys(t)
  local out = {}
  for k in pairs(t) do
    out[k] = true
  end
  return out
end

-- Writes `text` to a new temporary file named *.lua and returns its path
-- (a .lua name, so that a workload option reads it as a file).
function M.write_temp_lua(text)
  local base = os.tmpname() -- tmpname creates the file; keep only the .lua one
  os.remove(base)
  local path = base .. ".lua"
  local f = assert(io.open(path, "w"))
  f:write(text)
  f:close()
  return path
end

local function shell_quote(s)
  return "'" .. s:gsub("'", "'\\''") .. "'"
end

-- Runs Lua `code` in a child lua5.4 with this run's module paths, under a
-- timeout of `seconds` (default 120: a hang detector, not a speed test;
-- generous so that the checkers' slower runs pass), keeping the
-- environment (the sanitizer runs need their preload in the child too).
-- Returns true when the child exited 0, then everything it printed and
-- its exit code (124: it ran out of time; 128+N: killed by signal N).
-- `env`, when given, is put in front of the command (e.g. "X=1").
function M.in_child(code, seconds, env)
  local path = M.write_temp_lua(code)
  local cmd = ("%sLUA_PATH=%s LUA_CPATH=%s timeout -k 5 %d lua5.4 %s 2>&1"):format(
    env and (env .. " ") or "", shell_quote(package.path), shell_quote(package.cpath), seconds or 120, shell_quote(path))
  local p = assert(io.popen(cmd))
  local out = p:read("a")
  local _, _, code_ = p:close()
  os.remove(path)
  return code_ == 0, out, code_
end

return M
