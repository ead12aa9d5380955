-- A policy that refuses a request's effect. The handler may read files
-- under /srv/data only; a request that tries to climb out with '..' is
-- stopped at dispatch with a violation table, before the effect runs.
local lexrt = require("lexrt")

local h <close> = lexrt.handler({
  policy = lexrt.policy({ allow_effects = { "fs_read" }, allow_fs_read = { "/srv/data" } }),
  effects = { fs_read = { open = function(path) return "(pretend contents of " .. path .. ")" end } },
})

local requests = { "/srv/data/report.txt", "/srv/data/../../etc/passwd" }
local summary = lexrt.serve(h, requests, function(path, handler)
  return handler:dispatch("fs_read", "open", path)
end)

print(summary.results[1])
local v = summary.errors[1]
print(tostring(v))
print(("kind=%s path=%s at=%s"):format(v.kind, v.path, v.at))
return summary
