-- README's isolate example, runnable: a request function in an isolate
-- of its own, whose one way out is the io effect the policy grants.
-- spec/docs_spec.lua checks that README.md quotes it line for line and
-- that it prints what its --> comments say.
--
--   lua5.4 examples/isolate_tour.lua      (after make build; see README)
local lexrt = require("lexrt")

local logged = {}
local h <close> = lexrt.handler{
  policy  = lexrt.policy{ allow_effects = { "io" } },
  effects = { io = { log = function(line) logged[#logged + 1] = line end } },
}

local iso <close> = lexrt.isolate{
  handler = h,                          -- scopes, pages and effects come from it
  max_bytes = 1 << 20, max_instructions = 1e6,   -- per call
  source = [[
    local routes = { ["/hello"] = function(q) return 200, "hello, " .. q.name end }
    return function(req)
      io.log(req.path)                  -- an effect: h:dispatch("io", "log", ...) in the host
      return routes[req.path](req.query)
    end
  ]],
}
print(iso:call{ path = "/hello", query = { name = "ada" } })   --> 200  hello, ada

local requests = { { path = "/hello", query = { name = "lin" } }, { path = "/nope" } }
local summary = lexrt.serve(h, requests, iso)                  -- each request as iso:call(r)
print(summary.ok, summary.failed, h:stats().pages_live)       --> 1  1  0
print(summary.errors[1])                                       --> isolate:4: attempt to call a nil value (field '?')
print(table.concat(logged, " "), iso:stats().calls)           --> /hello /hello /nope  3
