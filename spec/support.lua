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

return M
