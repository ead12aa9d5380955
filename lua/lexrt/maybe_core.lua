--[[
lexrt.maybe_core: the C module (lexrt.core) when it is built, probed once.

The parts that can work without the binding (lexrt.serve, and the
experiment's gc modes, timers and option checks) ask here instead of
each calling pcall(require, "lexrt.core") with its own idea of failure.
  core   the lexrt.core table, or nil when it cannot be loaded
  why    nil, or the first line of require's message saying why not
]]

local ok, core = pcall(require, "lexrt.core")

return {
  core = ok and type(core) == "table" and core or nil,
  why = not ok and tostring(core):match("^[^\n]*") or nil,
}
