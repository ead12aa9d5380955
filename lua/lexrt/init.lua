-- lexrt: request-scoped arenas, effect handlers and a capability policy
-- for Lua 5.4. The C core (lexrt.core) does the memory work; this front
-- assembles the public module described in API.md.
local core = require("lexrt.core")
local handler = require("lexrt.handler")

local lexrt = {
  arena = core.arena,
  handler = handler.new,
  deny_all = handler.deny_all,
  isolate = require("lexrt.isolate"),
  serve = require("lexrt.serve"),
  policy = require("lexrt.policy"),
  PAGE_BYTES = core.PAGE_BYTES,
  _VERSION = "lexrt " .. core._VERSION,
}

-- The experiment tool pulls in argparse-free but heavier code; load it
-- only when a script asks for it.
return setmetatable(lexrt, {
  __index = function(t, k)
    if k == "experiment" then
      local m = require("lexrt.experiment")
      rawset(t, k, m)
      return m
    end
  end,
})
