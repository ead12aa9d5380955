--[[
The json workload's handler (lua/lexrt/experiment/workload/json.lua) for
nginx's Lua module, which runs LuaJIT (Lua 5.1): the same code, line for
line, against the same ctx interface as lexrt's gc mode (a fresh ctx per
request whose str() keeps the string and counts its bytes, and whose
concat() is table.concat), with only what 5.1 lacks rewritten:
math.tointeger, and gmatch's start position (see below). bench/http_bench.lua
checks, before measuring, that nginx answers each path with the same bytes
as lexrt.http does.
]]

local concat, type, format = table.concat, type, string.format

local Ctx = {}
Ctx.__index = Ctx

local function new_ctx()
  return setmetatable({ mode = "gc", bytes = 0, yields = false }, Ctx)
end

function Ctx:str(s)
  if type(s) ~= "string" then
    error("bad argument to 'ctx:str' (string expected)", 2)
  end
  self.bytes = self.bytes + #s
  return s
end

-- As lexrt's gc ctx: each piece checked and counted, then one concat
-- (a gc ref is a plain string, so there are no buffers to unfold).
function Ctx:concat(pieces)
  local parts, np, total = {}, 0, 0
  for k = 1, #pieces do
    local p = pieces[k]
    if type(p) ~= "string" then
      error(format("bad argument to 'ctx:concat' (piece %d is not a ref or string)", k), 2)
    end
    np = np + 1
    parts[np] = p
    total = total + #p
  end
  self.bytes = self.bytes + total
  return concat(parts, "", 1, np)
end

function Ctx.wait() end

-- math.tointeger(tonumber(v)): an integral number, else nil.
local function tointeger(v)
  local n = tonumber(v)
  if n and n == math.floor(n) then
    return n
  end
  return nil
end

local TAGS = { "new", "vip", "trial", "eu", "us", "beta", "legacy", "flagged" }
local ESC = { ['"'] = '\\"', ["\\"] = "\\\\", ["\n"] = "\\n", ["\r"] = "\\r", ["\t"] = "\\t" }

local function esc(s)
  return (s:gsub('[%c"\\]', function(c)
    return ESC[c] or format("\\u%04x", c:byte())
  end))
end

local function render_pairs(out, list)
  for k, kv in ipairs(list) do
    out[#out + 1] = k > 1 and ',"' or '"'
    out[#out + 1] = kv[1]
    out[#out + 1] = '":"'
    out[#out + 1] = kv[2]
    out[#out + 1] = '"'
  end
end

local function handler(ctx, req)
  local raw = req.raw
  local method, target, version = raw:match("^(%u+) (%S+) (HTTP/%d%.%d)\r\n()")
  if not method then
    return ctx:concat({ '{"error":"bad request line"}' })
  end
  local path, query = target:match("^([^?]*)%??(.*)$")
  local rec = {
    method = ctx:str(method),
    path = ctx:str(esc(path)),
    version = ctx:str(version),
    headers = {},
    params = {},
  }
  local limit = 10
  for k, v in query:gmatch("([^&=]+)=([^&]*)") do
    if k == "limit" then
      limit = tointeger(v) or limit
    end
    rec.params[#rec.params + 1] = { ctx:str(esc(k)), ctx:str(esc(v)) }
  end
  -- 5.1's gmatch has no start position: it starts at the request line,
  -- which cannot match (its target has no ": "), so the same headers come.
  for name, value in raw:gmatch("([%w%-]+): ([^\r]*)\r\n") do
    rec.headers[#rec.headers + 1] = { ctx:str(esc(name:lower())), ctx:str(esc(value)) }
  end
  ctx:wait()

  local resource, id = path:match("^/api/v1/(%w+)/(%d+)$")
  id = tointeger(id) or 0
  local items = {}
  for k = 1, limit do
    local iid = id * 100 + k
    local tags = {}
    for t = 1, (iid % 4) do
      tags[t] = ctx:str(TAGS[(iid * 31 + t * 7) % #TAGS + 1])
    end
    items[k] = {
      id = ctx:str(tostring(iid)),
      name = ctx:str(format("%s-%d", resource or "thing", iid)),
      email = ctx:str(format("u%d@example.com", iid)),
      score = ctx:str(format("%.1f", (id * 7919 + k * 104729) % 1000 / 10)),
      tags = tags,
    }
  end

  ctx:wait()
  local out = { '{"request":{"method":"', rec.method, '","path":"', rec.path, '","version":"', rec.version, '","query":{' }
  render_pairs(out, rec.params)
  out[#out + 1] = '},"headers":{'
  render_pairs(out, rec.headers)
  out[#out + 1] = format('}},"data":{"resource":"%s","id":%d,"items":[', resource or "", id)
  for k, item in ipairs(items) do
    local piece = { k > 1 and ',{"id":' or '{"id":', item.id, ',"name":"', item.name,
      '","email":"', item.email, '","score":', item.score, ',"tags":[' }
    for t, tag in ipairs(item.tags) do
      piece[#piece + 1] = t > 1 and ',"' or '"'
      piece[#piece + 1] = tag
      piece[#piece + 1] = '"'
    end
    piece[#piece + 1] = "]}"
    out[#out + 1] = ctx:concat(piece)
  end
  out[#out + 1] = format("]},\"count\":%d}", limit)
  return ctx:concat(out)
end

-- The body for request req, as lexrt's server turns a ref into one.
return function(req)
  return handler(new_ctx(), req)
end
