-- README's lexrt-serve example: a request function that answers a small
-- JSON document built per request. Serve it with
--
--   bin/lexrt-serve examples/http_app.lua --port 8080 --mode isolate
--
-- and the same file runs in every mode: it touches nothing but its request.
local function json_string(s)
  return '"' .. s:gsub('[%c"\\]', function(c) return ("\\u%04x"):format(c:byte()) end) .. '"'
end

return function(req)
  local items = {}
  for i = 1, 20 do
    items[i] = ('{"id":%d,"name":%s,"score":%.2f}'):format(i, json_string(req.path .. "#" .. i), i * 1.5)
  end
  local body = ('{"method":%s,"path":%s,"items":[%s]}\n'):format(json_string(req.method),
    json_string(req.path), table.concat(items, ","))
  return 200, { ["content-type"] = "application/json" }, body
end
