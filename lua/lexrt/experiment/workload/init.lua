--[[
lexrt.experiment.workload: the workloads an experiment can run, and the
one list of the built-in ones (NAMES; each is the module
lexrt.experiment.workload.<name> beside this file).

A workload is a table { name, handler = function(ctx, req) -> ref,
generate = function(rng, i) -> req (optional), requests = N (optional:
requests per round) } written once against the ctx interface of
lexrt.experiment.ctx, so the same code runs (and must produce the same
response bytes) in every mode.
]]

local Rng = require("lexrt.experiment.rng")

local M = {}

M.NAMES = { "json", "template", "bulk" }
M.PREFIX = "lexrt.experiment.workload."

local BUILTIN = {}
for _, name in ipairs(M.NAMES) do
  BUILTIN[name] = true
end

local function fail(fmt, ...)
  error(fmt:format(...), 0)
end

-- Where a workload loaded from a file came from: the isolate mode's
-- bundle carries that file's source in.
local files = setmetatable({}, { __mode = "k" })

function M.file_of(w)
  return files[w]
end

local function default_generate(rng, i)
  return { index = i, seed = rng:int(0, 0x7fffffff) }
end

local function checked(w, where)
  if type(w) ~= "table" then
    fail("workload %s must return a table, got %s", where, type(w))
  end
  if type(w.handler) ~= "function" then
    fail("workload %s has no handler function", where)
  end
  if w.generate ~= nil and type(w.generate) ~= "function" then
    fail("workload %s: generate must be a function", where)
  end
  if w.name ~= nil and type(w.name) ~= "string" then
    fail("workload %s: name must be a string", where)
  end
  if w.requests ~= nil and (math.type(w.requests) ~= "integer" or w.requests < 1) then
    fail("workload %s: requests must be a positive integer", where)
  end
  return w
end

-- Puts the directory of workload file `path` first on package.path (once),
-- so that the workload can require the modules beside it, as a script
-- run with lua5.4 from its directory would; the isolate mode's bundle
-- finds them there too.
local function add_neighbours(path)
  local dir = path:match("^(.*)/[^/]*$") or "."
  local entries = dir .. "/?.lua;" .. dir .. "/?/init.lua;"
  if package.path:sub(1, #entries) ~= entries then
    package.path = entries .. package.path
  end
end

-- Loads a user workload file: a Lua chunk returning a workload table.
function M.load(path)
  local chunk, err = loadfile(path, "t")
  if not chunk then
    fail("cannot load workload: %s", err)
  end
  add_neighbours(path)
  local ok, w = pcall(chunk)
  if not ok then
    fail("workload %s raised while loading: %s", path, tostring(w))
  end
  checked(w, path)
  w.name = w.name or path:match("([^/]+)%.lua$") or path
  files[w] = path
  return w
end

-- A built-in name, a path to a .lua file, or a workload table.
function M.resolve(spec)
  if type(spec) == "table" then
    checked(spec, spec.name or "table")
    spec.name = spec.name or "custom"
    return spec
  end
  if type(spec) ~= "string" then
    fail("workload must be a name, a file or a table, got %s", type(spec))
  end
  if BUILTIN[spec] then
    return require(M.PREFIX .. spec)
  end
  if spec:match("%.lua$") or spec:find("/", 1, true) then
    return M.load(spec)
  end
  fail("unknown workload '%s' (expected %s, or a .lua file)", spec, table.concat(M.NAMES, ", "))
end

-- Request i depends only on (seed, i): every mode sees the same requests.
function M.generate(workload, n, seed)
  local gen = workload.generate or default_generate
  local reqs = {}
  for i = 1, n do
    local ok, req = pcall(gen, Rng.new(seed, i), i)
    if not ok then
      fail("workload %s, generate, request %d: %s", workload.name, i, tostring(req))
    end
    if req == nil then
      fail("workload %s, generate, request %d: returned nil", workload.name, i)
    end
    reqs[i] = req
  end
  return reqs
end

return M
