-- lexrt.isolate(opts): a request function in a Lua state of its own whose
-- every allocation lives in the handler's request scope (see
-- csrc/l_isolate.c). This front checks the options and reads the chunk;
-- the state, its image and every call are C.
local argcheck = require("lexrt.argcheck")
local core = require("lexrt.core")
local handler = require("lexrt.handler")

local OPTIONS = {
  source = true, file = true, handler = true, libs = true,
  max_bytes = true, max_instructions = true, max_copy_bytes = true, name = true, instances = true,
}
-- The libraries an isolate may have, all of them by default: C's list
-- (csrc/l_isolib.c), a fresh copy.
local DEFAULT_LIBS = core._isolate_libs()
local LIBS = {}
for _, lib in ipairs(DEFAULT_LIBS) do
  LIBS[lib] = true
end
local NOT_ALLOWED = "library '%s' is not allowed in an isolate (allowed: "
  .. table.concat(DEFAULT_LIBS, ", ") .. ")"

-- csrc/l_isolate_impl.h's LXB_MAX_INSTANCES: an instance list stays small.
local MAX_INSTANCES = 4096

-- Every argument error blames the caller of lexrt.isolate: argcheck's
-- level 2 (its default) from the constructor itself, 3 from a helper.
local argerror = argcheck.argerror

-- An integer, or a float with an integer value (max_instructions = 1e7).
local function count(opts, key, least)
  local v = rawget(opts, key)
  if v == nil then
    return nil
  end
  local n = type(v) == "number" and math.tointeger(v)
  if not n or n < least then
    argerror(1, "isolate", ("%s must be an integer >= %d, got %s"):format(key, least, tostring(v)), 3)
  end
  return n
end

-- io.open succeeds on a directory (and on files that cannot be read, such
-- as /proc/self/mem): the read is checked too.
local function read_file(path)
  local f, err = io.open(path, "rb")
  if not f then
    argerror(1, "isolate", "cannot read file: " .. tostring(err), 3)
  end
  local text, rerr = f:read("a")
  f:close()
  if not text then
    argerror(1, "isolate", ("cannot read file: %s: %s"):format(path, tostring(rerr)), 3)
  end
  return text
end

local function libs_of(list)
  if list == nil then
    return DEFAULT_LIBS
  end
  if type(list) ~= "table" then
    argerror(1, "isolate", "libs must be a list of library names, got " .. type(list), 3)
  end
  local out = {}
  for i = 1, rawlen(list) do
    local name = rawget(list, i)
    if not LIBS[name] then
      argerror(1, "isolate", NOT_ALLOWED:format(tostring(name)), 3)
    end
    out[i] = name
  end
  return out
end

return function(opts)
  if type(opts) ~= "table" then
    argerror(1, "isolate", "table expected, got " .. type(opts))
  end
  -- Raw access throughout: no metamethod of the caller's table runs.
  for k in next, opts do
    if not OPTIONS[k] then
      argerror(1, "isolate", "unknown option '" .. tostring(k) .. "'")
    end
  end
  local source, file, name = rawget(opts, "source"), rawget(opts, "file"), rawget(opts, "name")
  if (source == nil) == (file == nil) then
    argerror(1, "isolate", "exactly one of source and file expected")
  end
  if source ~= nil and type(source) ~= "string" then
    argerror(1, "isolate", "source must be a string, got " .. type(source))
  end
  if file ~= nil and type(file) ~= "string" then
    argerror(1, "isolate", "file must be a string, got " .. type(file))
  end
  if name ~= nil and type(name) ~= "string" then
    argerror(1, "isolate", "name must be a string, got " .. type(name))
  end
  local chunkname
  if file then
    source = read_file(file)
    chunkname = "@" .. file
    name = name or file:match("([^/]+)%.lua$") or file
  else
    name = name or "isolate"
    chunkname = "=" .. name
  end
  local max_bytes = count(opts, "max_bytes", 0)
  local max_instructions = count(opts, "max_instructions", 1)
  local max_copy_bytes = count(opts, "max_copy_bytes", 0)
  local instances = count(opts, "instances", 1)
  if instances and instances > MAX_INSTANCES then
    argerror(1, "isolate", ("instances must be an integer in 1..%d, got %d"):format(MAX_INSTANCES, instances))
  end
  local libs = libs_of(rawget(opts, "libs"))
  local h = rawget(opts, "handler")
  if h == nil then
    h = handler.new()
  elseif not handler.is_handler(h) then
    argerror(1, "isolate", "handler must be a lexrt.handler, got " .. type(h))
  elseif h:is_closed() then
    error("handler is closed", 2)
  end
  -- Named so that C argument errors (a handler that is not one) read
  -- "to 'isolate'"; not a tail call, which would lose the name.
  local isolate = core.new_isolate
  local iso = isolate(h, source, chunkname, libs, max_bytes, max_instructions, name, max_copy_bytes, instances)
  return iso
end
