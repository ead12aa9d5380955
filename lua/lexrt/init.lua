-- lexrt: request-scoped arenas for Lua 5.4. The C core (lexrt.core) does
-- the memory work; this front assembles the public module (API.md).
local core = require("lexrt.core")

return {
  arena = core.arena,
  PAGE_BYTES = core.PAGE_BYTES,
  _VERSION = "lexrt " .. core._VERSION,
}
