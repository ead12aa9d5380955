-- A policy that refuses a request's effect. The handler may read files
-- under /srv/data only; a request that tries to climb out with '..' (or
-- through a symbolic link in /srv/data that points elsewhere) is stopped
-- at dispatch with a violation table, before the effect runs. A request
-- for a file that is not there is allowed: the effect answers nil and the
-- reason, as io.open does, and the request decides what to say.
local lexrt = require("lexrt")

-- Returns the file's contents, or nil and io.open's message.
local function read_file(path)
  local f, err = io.open(path, "r")
  if not f then return nil, err end
  local text = f:read("a")
  f:close()
  return text
end

local h <close> = lexrt.handler({
  policy = lexrt.policy({ allow_effects = { "fs_read" }, allow_fs_read = { "/srv/data" } }),
  effects = { fs_read = { open = read_file } },
})

local requests = { "/srv/data/report.txt", "/srv/data/../../etc/passwd" }
local summary = lexrt.serve(h, requests, function(path, handler)
  local text, err = handler:dispatch("fs_read", "open", path)
  return text or ("(no file: " .. err .. ")")
end)

print(summary.results[1])
local v = summary.errors[1]
print(tostring(v))
print(("kind=%s path=%s at=%s"):format(v.kind, v.path, v.at))
return summary
