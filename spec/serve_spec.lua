-- lexrt.serve, custom Lua handlers, and the examples (run so they never rot).
local lexrt = require("lexrt")
local support = require("spec.support")
local err_of = support.err_of

describe("lexrt.serve", function()
  it("runs fn in a scope per request and summarises the results in order", function()
    local h = lexrt.handler()
    local seen = {}
    local summary = lexrt.serve(h, { 10, 20, 30 }, function(r, handler, id)
      assert.are.equal(h, handler)
      assert.are.equal(1, handler:arena_stack_depth())
      seen[#seen + 1] = id
      return r + 1
    end)
    assert.are.same({ 11, 21, 31, n = 3 }, summary.results)
    assert.are.equal(3, summary.requests)
    assert.are.equal(3, summary.ok)
    assert.are.equal(0, summary.failed)
    assert.are.same({}, summary.errors)
    assert.are.same({ 1, 2, 3 }, seen)
    assert.are.equal(0, h:arena_stack_depth())
  end)

  it("exits the scope of a failing request, records the error, and goes on", function()
    local h = lexrt.handler()
    local summary = lexrt.serve(h, { 1, 2, 3 }, function(r)
      if r == 2 then error({ code = r }) end
      return r
    end)
    assert.are.equal(2, summary.ok)
    assert.are.equal(1, summary.failed)
    assert.are.same({ code = 2 }, summary.errors[1])
    assert.are.equal(1, summary.results[1])
    assert.is_nil(summary.results[2])
    assert.are.equal(3, summary.results[3])
    assert.are.equal(0, h:stats().pages_live)
    assert.are.equal(3, h:stats().scopes_exited)
  end)

  it("keeps only the first few errors but counts them all", function()
    local summary = lexrt.serve(lexrt.handler(), { 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12 },
      function() error("no") end)
    assert.are.equal(12, summary.failed)
    assert.are.equal(10, #summary.errors)
    assert.are.same({ 1, 2, 3, 4, 5, 6, 7, 8, 9, 10 }, summary.failed_at)
  end)

  it("gives results one slot per request, nil for a failure, and results.n", function()
    local summary = lexrt.serve(lexrt.handler(), { 1, 2, 3, 4, 5 }, function(r)
      if r % 2 == 0 then error("even " .. r, 0) end
      return r * 10
    end)
    local results = summary.results
    assert.are.equal(5, results.n)
    assert.are.same({ 10, nil, 30, nil, 50, n = 5 }, results)
    local all = table.pack(table.unpack(results, 1, results.n))
    assert.are.equal(5, all.n)
    assert.are.equal(50, all[5])
    assert.are.equal(5, summary.requests)
    assert.are.equal(3, summary.ok)
    assert.are.equal(2, summary.failed)
  end)

  it("records the request index of every kept error in failed_at", function()
    local summary = lexrt.serve(lexrt.handler(), { "a", "b", "c", "d", "e" }, function(r)
      if r == "b" or r == "e" then error("bad " .. r, 0) end
      if r == "d" then error() end -- a nil error value still has its index
      return r
    end)
    assert.are.same({ 2, 4, 5 }, summary.failed_at)
    assert.are.equal("bad b", summary.errors[1])
    assert.is_nil(summary.errors[2])
    assert.are.equal("bad e", summary.errors[3])
    assert.are.equal(3, summary.failed)
  end)

  it("keeps max_errors errors, none with 0, and still counts every failure", function()
    local function fail_odd(r)
      if r % 2 == 1 then error("odd " .. r, 0) end
      return r
    end
    local reqs = {}
    for i = 1, 20 do reqs[i] = i end
    local three = lexrt.serve(lexrt.handler(), reqs, fail_odd, { max_errors = 3 })
    assert.are.same({ "odd 1", "odd 3", "odd 5" }, three.errors)
    assert.are.same({ 1, 3, 5 }, three.failed_at)
    assert.are.equal(10, three.failed)
    assert.are.equal(10, three.ok)
    local none = lexrt.serve(lexrt.handler(), reqs, fail_odd, { max_errors = 0 })
    assert.are.same({}, none.errors)
    assert.are.same({}, none.failed_at)
    assert.are.equal(10, none.failed)
    local all = lexrt.serve(lexrt.handler(), reqs, fail_odd, { max_errors = 100 })
    assert.are.equal(10, #all.errors)
    assert.are.equal(19, all.failed_at[10])
  end)

  it("drops the results with keep_results = false and keeps the counts exact", function()
    local h = lexrt.handler()
    local summary = lexrt.serve(h, { 1, 2, 3 }, function(r)
      if r == 2 then error("two", 0) end
      return r
    end, { keep_results = false })
    assert.is_nil(summary.results)
    assert.are.equal(3, summary.requests)
    assert.are.equal(2, summary.ok)
    assert.are.equal(1, summary.failed)
    assert.are.same({ "two" }, summary.errors)
    assert.are.same({ 2 }, summary.failed_at)
    assert.are.equal(0, h:stats().pages_live)
  end)

  it("holds no more Lua memory after 20 000 requests than after 1 000 with keep_results = false", function()
    local h = lexrt.handler()
    local body = ("x"):rep(1000)
    local n, heap = 0, {}
    local function requests()
      n = n + 1
      if n == 1000 or n == 20000 then
        collectgarbage("collect")
        heap[n] = collectgarbage("count")
      end
      if n <= 20000 then return n end
    end
    local summary = lexrt.serve(h, requests, function(r, _, _)
      -- A fresh 1 KB response per request: a new string each time.
      return body .. r
    end, { keep_results = false })
    assert.are.equal(20000, summary.requests)
    assert.are.equal(20000, summary.ok)
    local grown = heap[20000] - heap[1000]
    assert.is_true(grown < 16, "the Lua heap grew by " .. grown .. " KiB")
  end)

  it("serves an iterator stream until it returns nil, requests of any type", function()
    local stream = { "a", { path = "/x" }, 3, true }
    local i = 0
    local summary = lexrt.serve(lexrt.handler(), function()
      i = i + 1
      return stream[i]
    end, function(r) return type(r) end)
    assert.are.same({ "string", "table", "number", "boolean", n = 4 }, summary.results)
  end)

  it("refuses options that are not a table, unknown options and bad values", function()
    local h = lexrt.handler()
    local function f() end
    local cases = {
      { 5, "table expected, got number" },
      { "x", "table expected, got string" },
      { { keep = false }, "unknown option 'keep' (known: keep_results, max_errors, pack, concurrency)" },
      { { [1] = true }, "unknown option '1' (known: keep_results, max_errors, pack, concurrency)" },
      { { keep_results = 0 }, "keep_results must be a boolean, got number" },
      { { keep_results = "no" }, "keep_results must be a boolean, got string" },
      { { pack = 1 }, "pack must be a boolean, got number" },
      { { pack = "yes", keep_results = false }, "pack must be a boolean, got string" },
      { { max_errors = -1 }, "max_errors must be a non-negative integer, got -1" },
      { { max_errors = 1.5 }, "max_errors must be a non-negative integer, got 1.5" },
      { { max_errors = "3" }, "max_errors must be a non-negative integer, got string" },
      { { max_errors = math.huge }, "max_errors must be a non-negative integer, got inf" },
    }
    for _, c in ipairs(cases) do
      assert.are.equal("bad argument #4 to 'serve' (" .. c[2] .. ")", err_of(lexrt.serve, h, {}, f, c[1]))
    end
    assert.are.equal(2, #lexrt.serve(h, { 1, 2, 3 }, error, { max_errors = 2.0 }).errors)
  end)

  describe("with pack = true", function()
    it("keeps every result of fn, packed as table.pack packs them", function()
      local summary = lexrt.serve(lexrt.handler(), { "a", "b", "c" }, function(r)
        if r == "a" then return 200, "body " .. r end
        if r == "b" then return nil, "missing", nil end
        return -- no results at all
      end, { pack = true })
      assert.are.same({ 200, "body a", n = 2 }, summary.results[1])
      assert.are.same({ nil, "missing", nil, n = 3 }, summary.results[2])
      assert.are.same({ n = 0 }, summary.results[3])
      assert.are.equal(3, summary.results.n)
      local status, body = table.unpack(summary.results[1], 1, summary.results[1].n)
      assert.are.equal(200, status)
      assert.are.equal("body a", body)
    end)

    it("packs a single result too, so every result has one shape", function()
      local summary = lexrt.serve(lexrt.handler(), { 1, 2 }, function(r) return r * 10 end, { pack = true })
      assert.are.same({ { 10, n = 1 }, { 20, n = 1 }, n = 2 }, summary.results)
    end)

    it("leaves a failed request's slot nil and keeps its error value as raised", function()
      local summary = lexrt.serve(lexrt.handler(), { 1, 2 }, function(r)
        if r == 2 then error({ code = 2 }) end
        return r, "one"
      end, { pack = true })
      assert.are.same({ 1, "one", n = 2 }, summary.results[1])
      assert.is_nil(summary.results[2])
      assert.are.same({ code = 2 }, summary.errors[1])
      assert.are.same({ 2 }, summary.failed_at)
    end)

    it("keeps nothing with keep_results = false, and still counts", function()
      local summary = lexrt.serve(lexrt.handler(), { 1, 2, 3 }, function(r)
        if r == 3 then error("three", 0) end
        return 200, r
      end, { pack = true, keep_results = false })
      assert.is_nil(summary.results)
      assert.are.equal(2, summary.ok)
      assert.are.same({ "three" }, summary.errors)
    end)
  end)

  it("keeps only the first result without pack, as before", function()
    local summary = lexrt.serve(lexrt.handler(), { "x" }, function(r) return r:gsub("x", "y") end)
    assert.are.same({ "y", n = 1 }, summary.results)
  end)

  it("points an argument error at the caller's line", function()
    local ok, err = pcall(function()
      local s = lexrt.serve(lexrt.handler(), {}, print, { bogus = true }) -- not a tail call
      return s
    end)
    assert.is_false(ok)
    assert.matches("^.-serve_spec%.lua:%d+: bad argument #4 to 'serve'", err)
  end)

  it("takes an iterator function for the requests", function()
    local n = 0
    local summary = lexrt.serve(lexrt.handler(), function()
      n = n + 1
      if n <= 4 then return n end
    end, function(r) return r * r end)
    assert.are.same({ 1, 4, 9, 16, n = 4 }, summary.results)
  end)

  it("accepts any Lua table with the handler's methods", function()
    local events = {}
    local next_id = 0
    local custom = {
      enter_request_scope = function()
        next_id = next_id + 1
        events[#events + 1] = "enter " .. next_id
        return next_id
      end,
      exit_request_scope = function(_, id)
        events[#events + 1] = "exit " .. id
        return true
      end,
    }
    local summary = lexrt.serve(custom, { "a", "b" }, function(r, handler, id)
      assert.are.equal(custom, handler)
      return r .. id
    end)
    assert.are.same({ "a1", "b2", n = 2 }, summary.results)
    assert.are.same({ "enter 1", "exit 1", "enter 2", "exit 2" }, events)
  end)

  it("works with deny_all, whose effects all fail", function()
    local summary = lexrt.serve(lexrt.deny_all(), { 1 }, function(_, h) return h:dispatch("io", "print") end)
    assert.are.equal("effects not permitted (attempted io.print)", summary.errors[1])
  end)

  it("refuses a handler, requests or fn of the wrong kind", function()
    assert.matches("bad argument #1 to 'serve' %(effect handler expected, got number%)",
      err_of(lexrt.serve, 5, {}, print))
    assert.matches("bad argument #1 to 'serve'", err_of(lexrt.serve, { enter_request_scope = print }, {}, print))
    assert.matches("bad argument #2 to 'serve'", err_of(lexrt.serve, lexrt.handler(), "reqs", print))
    assert.matches("bad argument #3 to 'serve'", err_of(lexrt.serve, lexrt.handler(), {}, nil))
  end)
end)

describe("the examples", function()
  local function run(name)
    local real_print, real_write = _G.print, io.write
    local out = {}
    _G.print = function(...)
      local parts = table.pack(...)
      for i = 1, parts.n do parts[i] = tostring(parts[i]) end
      out[#out + 1] = table.concat(parts, "\t", 1, parts.n)
    end
    io.write = function(...) out[#out + 1] = table.concat({ ... }) end -- luacheck: ignore 122 (restored below)
    local ok, res = pcall(dofile, "examples/" .. name)
    _G.print, io.write = real_print, real_write -- luacheck: ignore 122
    assert(ok, res)
    return res, table.concat(out, "\n")
  end

  it("request_handler.lua builds responses in the scope's arena", function()
    local summary, out = run("request_handler.lua")
    assert.are.equal(2, summary.ok)
    assert.matches("hello, ada\n$", summary.results[1])
    assert.matches("^HTTP/1.1 200 OK\r\n", summary.results[2])
    assert.matches("pages_live=0", out)
  end)

  it("policy_refusal.lua shows a traversal refused at dispatch", function()
    local summary, out = run("policy_refusal.lua")
    assert.are.equal(1, summary.ok)
    assert.are.equal("fs_path_not_allowed", summary.errors[1].kind)
    assert.matches("policy violation: fs_path_not_allowed", out)
  end)

  it("policy_refusal.lua's effect answers a missing file with nil and the reason", function()
    local f = io.open("/srv/data/report.txt", "r")
    if f then
      f:close()
      pending("/srv/data/report.txt exists on this machine")
      return
    end
    local summary = run("policy_refusal.lua")
    assert.are.equal("(no file: /srv/data/report.txt: No such file or directory)", summary.results[1])
  end)

  it("logging_handler.lua logs every scope boundary, failures included", function()
    local res = run("logging_handler.lua")
    assert.are.same({ "enter 1", "exit 1 (dropped)", "enter 2", "exit 2 (dropped)", "enter 3", "exit 3 (dropped)" },
      res.log)
    assert.are.equal(1, res.summary.failed)
  end)

  it("arena_tour.lua runs", function()
    local _, out = run("arena_tour.lua")
    assert.matches("hello, request\tstatus=200", out)
    assert.matches("false\t.*stale or foreign arena handle", out)
  end)
end)
