--[[
Turns a workload into the source of an isolate chunk (isolate mode).

An isolate has no require and no file access, so the workload's code and
every module it requires (found on package.path by scanning the source
for require("...") calls, transitively) are carried in the chunk as text,
behind a small require shim inside the isolate. The chunk returns the
request function: a fresh gc-style ctx (lexrt.experiment.ctx) per
request, the workload's own handler, and the response body as a string,
which iso:call copies out. The workload runs unchanged.
]]

local workload = require("lexrt.experiment.workload")

local M = {}

local function read(path)
  local f, err = io.open(path, "rb")
  if not f then
    error(("cannot read %s: %s"):format(path, err), 0)
  end
  local text = f:read("a")
  f:close()
  -- load() does not skip a "#!" line as loadfile does; keep the numbering.
  return (text:gsub("^#[^\n]*", "--"))
end

-- A long-bracket literal holding text exactly (its first newline is
-- dropped by the lexer, so one is added).
local function literal(text)
  local eq = ""
  while text:find("]" .. eq .. "]", 1, true) do
    eq = eq .. "="
  end
  return "[" .. eq .. "[\n" .. text .. "]" .. eq .. "]"
end

local function requires(text)
  local out = {}
  for name in text:gmatch("require%s*%(?%s*[\"']([%w_%.%-]+)[\"']") do
    out[#out + 1] = name
  end
  return out
end

-- Adds `name` (a module on package.path) and what it requires to `mods`.
local function collect(name, mods, order)
  if mods[name] ~= nil then
    return
  end
  local path = package.searchpath(name, package.path)
  if not path then
    mods[name] = false -- not Lua source: the shim will say so if it is required
    return
  end
  local text = read(path)
  mods[name] = { text = text, path = path }
  order[#order + 1] = name
  for _, dep in ipairs(requires(text)) do
    collect(dep, mods, order)
  end
end

--[[
The chunk for workload w: a built-in (found as a module) or one loaded
from a file (remembered by workload.load). A workload given as
a Lua table has no source to carry and is refused.
]]
function M.source(w)
  local mods, order = {}, {}
  local entry, entry_text, entry_path
  local file = workload.file_of(w)
  if file then
    entry_text, entry_path = read(file), file
    for _, dep in ipairs(requires(entry_text)) do
      collect(dep, mods, order)
    end
  elseif w.name and package.searchpath(workload.PREFIX .. w.name, package.path) then
    entry = workload.PREFIX .. w.name
    collect(entry, mods, order)
  else
    error(("workload %s: isolate mode needs a built-in workload or one loaded from a file")
      :format(tostring(w.name)), 0)
  end
  collect("lexrt.experiment.ctx", mods, order)

  local out = { "local SOURCES = {" }
  for _, name in ipairs(order) do
    local m = mods[name]
    out[#out + 1] = ("  [%q] = { %s, %q },"):format(name, literal(m.text), "@" .. m.path)
  end
  out[#out + 1] = "}"
  out[#out + 1] = [[
local loaded = {}
function require(name)
  local m = loaded[name]
  if m ~= nil then
    return m
  end
  local src = SOURCES[name]
  if not src then
    error(("module '%s' is not available in an isolate"):format(tostring(name)), 2)
  end
  m = assert(load(src[1], src[2], "t"))(name)
  if m == nil then
    m = true
  end
  loaded[name] = m
  return m
end
local Ctx = require("lexrt.experiment.ctx")]]
  if entry then
    out[#out + 1] = ("local w = require(%q)"):format(entry)
  else
    out[#out + 1] = ("local w = assert(load(%s, %q, \"t\"))()"):format(literal(entry_text), "@" .. entry_path)
  end
  out[#out + 1] = [[
local handler = w.handler
-- With requests in flight, ctx:wait() is the host's sched.wait effect,
-- which yields the host coroutine running this call (and so suspends it).
local wait = sched and function() sched.wait() end
return function(req)
  local ctx = Ctx.gc()
  if wait then
    ctx.yields, ctx.wait = true, wait
  end
  local ref = handler(ctx, req)
  if type(ref) == "string" then
    return ref
  end
  return ctx:read(ref)
end]]
  return table.concat(out, "\n")
end

return M
