--[[
Workload "json": a small JSON-API handler. It parses an HTTP request line,
query string and headers, keeps them in a record, builds the resource's
items, and renders a JSON response body. Many short strings per request:
the shape of a typical API endpoint.
]]

local METHODS = { "GET", "GET", "GET", "GET", "POST", "PUT", "DELETE" }
local RESOURCES = { "users", "orders", "products", "sessions", "invoices" }
local AGENTS = {
  "curl/8.5.0",
  "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0",
  "lexrt-bench/1.0",
  "python-requests/2.31.0",
  'odd "quoted" \\ agent',
}
local FIELDS = { "id", "name", "email", "score", "tags", "created" }
local TAGS = { "new", "vip", "trial", "eu", "us", "beta", "legacy", "flagged" }

local function generate(rng, i)
  local method = rng:pick(METHODS)
  local fields = {}
  for k = 1, rng:int(1, #FIELDS) do
    fields[k] = FIELDS[k]
  end
  local target = ("/api/v1/%s/%d?limit=%d&fields=%s&page=%d"):format(
    rng:pick(RESOURCES), rng:int(1, 99999), rng:int(1, 40), table.concat(fields, ","), rng:int(1, 9))
  local lines = {
    ("%s %s HTTP/1.1"):format(method, target),
    "Host: api.example.com",
    "User-Agent: " .. rng:pick(AGENTS),
    "Accept: application/json",
    ("X-Request-Id: %016x"):format(rng:next()),
  }
  if rng:chance(0.6) then
    local cookies = {}
    for k = 1, rng:int(1, 4) do
      cookies[k] = rng:word(3, 8) .. "=" .. rng:word(8, 24, "0123456789abcdef")
    end
    lines[#lines + 1] = "Cookie: " .. table.concat(cookies, "; ")
  end
  for k = 1, rng:int(0, 6) do
    lines[#lines + 1] = ("X-Custom-%d: %s"):format(k, rng:word(4, 40))
  end
  return { raw = table.concat(lines, "\r\n") .. "\r\n\r\n", index = i }
end

local ESC = { ['"'] = '\\"', ["\\"] = "\\\\", ["\n"] = "\\n", ["\r"] = "\\r", ["\t"] = "\\t" }

local function esc(s)
  return (s:gsub('[%c"\\]', function(c)
    return ESC[c] or ("\\u%04x"):format(c:byte())
  end))
end

-- Appends "k":"v" members, comma-separated, for a list of {k, v} refs.
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
  local method, target, version, at = raw:match("^(%u+) (%S+) (HTTP/%d%.%d)\r\n()")
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
      limit = math.tointeger(tonumber(v)) or limit
    end
    rec.params[#rec.params + 1] = { ctx:str(esc(k)), ctx:str(esc(v)) }
  end
  for name, value in raw:gmatch("([%w%-]+): ([^\r]*)\r\n", at) do
    rec.headers[#rec.headers + 1] = { ctx:str(esc(name:lower())), ctx:str(esc(value)) }
  end
  ctx:wait() -- the session would be looked up in a store

  local resource, id = path:match("^/api/v1/(%w+)/(%d+)$")
  id = math.tointeger(tonumber(id)) or 0
  local items = {}
  for k = 1, limit do
    local iid = id * 100 + k
    local tags = {}
    for t = 1, (iid % 4) do
      tags[t] = ctx:str(TAGS[(iid * 31 + t * 7) % #TAGS + 1])
    end
    items[k] = {
      id = ctx:str(tostring(iid)),
      name = ctx:str(("%s-%d"):format(resource or "thing", iid)),
      email = ctx:str(("u%d@example.com"):format(iid)),
      score = ctx:str(("%.1f"):format((id * 7919 + k * 104729) % 1000 / 10)),
      tags = tags,
    }
  end

  ctx:wait() -- an upstream call (prices, say) would go out here
  local out = { '{"request":{"method":"', rec.method, '","path":"', rec.path, '","version":"', rec.version, '","query":{' }
  render_pairs(out, rec.params)
  out[#out + 1] = '},"headers":{'
  render_pairs(out, rec.headers)
  out[#out + 1] = ('}},"data":{"resource":"%s","id":%d,"items":['):format(resource or "", id)
  for k, item in ipairs(items) do
    -- Each item is rendered on its own first, as a serializer that
    -- caches per-object output would.
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
  out[#out + 1] = ("]},\"count\":%d}"):format(limit)
  return ctx:concat(out)
end

-- requests: per round and mode in lexrt-experiment's default run, about
-- a twentieth of a second each on a quiet 2-core machine.
return { name = "json", generate = generate, handler = handler, requests = 400 }
