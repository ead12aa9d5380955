-- lexrt.policy.kinds: the effect kinds and, for the scoped ones, what
-- their scope lists are called and how a refusal is worded. Both
-- lexrt.policy.compile (building a policy) and lexrt.policy.check (its
-- checks at dispatch) read these, and lexrt.policy lists them; a file of
-- their own lets each require them without a cycle, and defines them once.

local M = {}

-- Every kind `permissive()` grants, in the order upstream lists them.
local ALL_KINDS = {
  "io", "net", "time", "rand", "llm", "proc", "panic", "fs_read",
  "fs_write", "budget", "llm_local", "llm_cloud", "a2a", "mcp", "env",
}

local KNOWN_KINDS = {}
for _, k in ipairs(ALL_KINDS) do KNOWN_KINDS[k] = true end
local KINDS_TEXT = table.concat(ALL_KINDS, ", ")

-- The kinds whose calls carry a scope (path, host, command), sorted so
-- `wildcards()` comes out in a stable order; for each, the spec field
-- that lists its grants, the violation a refusal is, and what its
-- argument should be.
local SCOPED_KINDS = { "fs_read", "fs_write", "net", "proc" }
local SCOPE = {
  fs_read = { field = "allow_fs_read", violation = "fs_path_not_allowed", arg = "path" },
  fs_write = { field = "allow_fs_write", violation = "fs_path_not_allowed", arg = "path" },
  net = { field = "allow_net_host", violation = "net_host_not_allowed", arg = "URL or host" },
  proc = { field = "allow_proc", violation = "proc_not_allowed", arg = "command" },
}


M.ALL_KINDS, M.KNOWN_KINDS, M.KINDS_TEXT = ALL_KINDS, KNOWN_KINDS, KINDS_TEXT
M.SCOPED_KINDS, M.SCOPE = SCOPED_KINDS, SCOPE

return M
