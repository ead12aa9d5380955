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

-- This process's resident memory in KiB (statm counts 4 KiB pages here).
function M.rss_kib()
  local f = assert(io.open("/proc/self/statm"))
  local _, resident = f:read("*n", "*n")
  f:close()
  return resident * 4
end

return M
