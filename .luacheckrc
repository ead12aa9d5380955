-- luacheck's settings for lexrt (make check runs `luacheck .` in scripts/check.sh).
std = "lua54"
-- Build output and packed rocks hold copies of the tree (luarocks trees
-- from make test-installed, make dist's archive), not its files.
exclude_files = { "build/**", "**/build/**", "dist/**" }
-- The command is Lua without the extension.
include_files = { "**/*.lua", "bin/lexrt-experiment" }
-- The specs run under busted, which provides describe, it, assert & co.
files["spec/"] = { std = "+busted" }
-- No line length: the longest lines are one-line isolate chunks and
-- option tables in the specs, which read best whole; the tree has never
-- held to a width.
max_line_length = false
-- The context kinds share one method interface (ctx:write, ctx:size, ...):
-- a kind that keeps no state still takes self.
files["lua/lexrt/experiment/ctx.lua"] = { self = false }
