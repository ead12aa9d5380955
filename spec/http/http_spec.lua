-- lexrt.http against real clients (curl, and a socket client of our own),
-- each server started and stopped by the spec, on 127.0.0.1 and an
-- ephemeral port. After every test the server's handler is checked: every
-- scope it entered has exited and no page is live.
local client = require("spec.http.client")
local support = require("spec.support")

local MODES = { "fn", "isolate" }

-- Stops the server (TERM) and checks what it left: exit 0, nothing live.
local function stop_clean(s, expect_served)
  local rc, stats, log, err = client.stop(s)
  assert.are.equal(0, rc, err)
  assert.are.equal(0, stats.pages_live, err)
  assert.are.equal(0, stats.depth, err)
  assert.are.equal(stats.entered, stats.exited, err)
  if expect_served then
    assert.are.equal(expect_served, stats.served, err)
  end
  return stats, log, err
end

local function get(path, extra)
  return ("GET %s HTTP/1.1\r\nHost: t\r\n%s\r\n"):format(path, extra or "")
end

for _, mode in ipairs(MODES) do
  describe("lexrt.http (" .. mode .. " mode)", function()
    after_each(client.cleanup)

    it("gives the function the request table and answers what it returns", function()
      local s = client.start(mode)
      local status, body = client.curl(s.port, "/echo?a=1&b=two", "-H 'X-One: 1' -H 'X-One: 2' -H 'X-Up: Yes'")
      assert.are.equal(200, status)
      local sizes = { #body }
      assert.are.same({ "GET", "/echo", "a=1&b=two", "127.0.0.1", "0", "accept: */*",
        "host: 127.0.0.1:" .. s.port, "user-agent: curl/" .. body:match("curl/([%d.]+)"), "x-one: 1, 2", "x-up: Yes" },
        support.lines(body))
      status, body = client.curl(s.port, "/echo", "--data-binary 'hello body'")
      assert.are.equal(200, status)
      sizes[2] = #body
      local lines = support.lines(body)
      assert.are.same({ "POST", "/echo", "127.0.0.1", "10" }, { lines[1], lines[2], lines[3], lines[4] })
      assert.are.equal("hello body", lines[#lines])
      status, body = client.curl(s.port, "/nowhere")
      assert.are.equal(404, status)
      assert.are.equal("no route for /nowhere\n", body)
      local _, log = stop_clean(s, 3)
      assert.are.same({ "GET /echo 200 " .. sizes[1], "POST /echo 200 " .. sizes[2], "GET /nowhere 404 22" }, log)
    end)

    it("answers 500 for an error, a bad status or bad headers, and goes on", function()
      local s = client.start(mode)
      for _, path in ipairs({ "/error", "/bad", "/badheaders", "/status?s=99", "/status?s=600", "/yield" }) do
        local status, body = client.curl(s.port, path)
        assert.are.equal(500, status, path)
        assert.are.equal("500 Internal Server Error\n", body, path)
      end
      local status, body = client.curl(s.port, "/status?s=201")
      assert.are.equal(201, status)
      assert.are.equal("status\n", body)
      assert.are.equal(200, (client.curl(s.port, "/echo")))
      local _, _, err = stop_clean(s, 8)
      assert.truthy(err:find("GET /error answered 500: [^\n]*boom at /error"), err)
      assert.truthy(err:find("GET /yield answered 500: [^\n]*attempt to yield from outside a coroutine"), err)
    end)

    it("keeps a connection alive, answers pipelined requests in order, and closes on request", function()
      local s = client.start(mode)
      local text = client.exchange(s.port, get("/status?s=202") .. get("/alloc?n=3") .. get("/echo", "Connection: close\r\n"))
      local r = client.responses(text)
      assert.are.equal(3, #r)
      assert.are.same({ 202, 200, 200 }, { r[1].status, r[2].status, r[3].status })
      assert.are.equal("0001,0002,0003", r[2].body)
      assert.are.equal("close", r[3].headers.connection)
      assert.truthy(r[1].headers.date:match("^%u%l%l, %d%d %u%l%l %d%d%d%d %d%d:%d%d:%d%d GMT$"), r[1].headers.date)
      -- One connection, requests one after another, answers read between.
      local c = client.connect(s.port)
      for i = 1, 5 do
        assert(c:send(get("/alloc?n=" .. i)))
        local one = client.response(c)
        assert.are.equal(200, one.status)
        assert.are.equal(i * 5 - 1, #one.body)
      end
      c:close()
      stop_clean(s, 8)
    end)

    it("closes after an HTTP/1.0 request unless asked to keep alive, and answers HEAD without a body", function()
      local s = client.start(mode)
      local text = client.exchange(s.port, "GET /alloc?n=2 HTTP/1.0\r\n\r\n")
      local r = client.responses(text)
      assert.are.equal(1, #r)
      assert.are.equal("0001,0002", r[1].body)
      assert.are.equal("close", r[1].headers.connection)
      local c = client.connect(s.port)
      assert(c:send("GET /alloc?n=1 HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"))
      assert.are.equal("0001", client.response(c).body)
      assert(c:send("HEAD /alloc?n=3 HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n"))
      r = client.responses(client.read_all(c))
      c:close()
      assert.are.equal(1, #r)
      assert.are.equal(200, r[1].status)
      assert.are.equal("14", r[1].headers["content-length"])
      stop_clean(s, 3)
    end)

    it("reads Content-Length and chunked bodies, and answers 100-continue", function()
      local s = client.start(mode)
      local text = client.exchange(s.port, "POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n"
        .. "Connection: close\r\n\r\n5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\nX-Trailer: t\r\n\r\n")
      local r = client.responses(text)[1]
      assert.are.equal(200, r.status)
      assert.are.equal("11", r.headers["x-body-bytes"])
      assert.are.equal("hello world", r.body:sub(-11))
      local c = client.connect(s.port)
      assert(c:send("PUT /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 4\r\nExpect: 100-continue\r\n\r\n"))
      assert.are.equal("HTTP/1.1 100 Continue", c:receive("*l"))
      assert.are.equal("", c:receive("*l"))
      assert(c:send("abcd"))
      r = client.response(c)
      assert.are.equal(200, r.status)
      assert.are.equal("abcd", r.body:sub(-4))
      c:close()
      stop_clean(s, 2)
    end)

    it("answers 400 to malformed requests and conflicting lengths, closes, and serves the next", function()
      local s = client.start(mode)
      local bad = {
        "GARBAGE\r\n\r\n",
        "GET / HTTP/9.9\r\nHost: t\r\n\r\n",
        "GET /\0x HTTP/1.1\r\nHost: t\r\n\r\n",
        "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
        "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd",
        "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: -1\r\n\r\n",
        "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 1x\r\n\r\n",
        "POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: gzip\r\n\r\n",
        "POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
        "GET /echo HTTP/1.1\r\nBad Header: x\r\n\r\n",
      }
      for k, bytes in ipairs(bad) do
        local text = client.exchange(s.port, bytes)
        local r = client.responses(text)
        assert.are.equal(1, #r, "case " .. k .. ": " .. text)
        assert.are.equal(400, r[1].status, "case " .. k)
        assert.are.equal("close", r[1].headers.connection, "case " .. k)
        assert.are.equal(200, (client.curl(s.port, "/alloc?n=2")), "after case " .. k)
      end
      local _, log = stop_clean(s, #bad)
      assert.are.equal(2 * #bad, #log)
    end)

    it("holds the size limits: 431 for headers, 413 for bodies", function()
      local s = client.start(mode, "{ max_header_bytes = 1024, max_headers = 10, max_body_bytes = 100 }")
      local cases = {
        { 431, get("/echo", "X-Big: " .. ("y"):rep(2000) .. "\r\n") },
        { 431, get("/echo", ("X-N: 1\r\n"):rep(11)) },
        { 431, "GET /" .. ("p"):rep(1100) .. " HTTP/1.1\r\nHost: t\r\n\r\n" },
        { 413, "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 101\r\n\r\n" .. ("b"):rep(101) },
        { 413, "POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n" .. ("40\r\n" .. ("c"):rep(64) .. "\r\n"):rep(2) .. "0\r\n\r\n" },
      }
      for k, case in ipairs(cases) do
        local r = client.responses(client.exchange(s.port, case[2]))
        assert.are.equal(1, #r, "case " .. k)
        assert.are.equal(case[1], r[1].status, "case " .. k)
        assert.are.equal("close", r[1].headers.connection, "case " .. k)
        assert.are.equal(200, (client.curl(s.port, "/echo")), "after case " .. k)
      end
      -- At the limits exactly: served.
      local r = client.responses(client.exchange(s.port, "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 100\r\n"
        .. "Connection: close\r\n\r\n" .. ("b"):rep(100)))
      assert.are.equal(200, r[1].status)
      assert.are.equal("100", r[1].headers["x-body-bytes"])
      stop_clean(s)
    end)

    it("answers 408 to a slow client and closes idle connections", function()
      local s = client.start(mode, "{ request_timeout = 0.3, idle_timeout = 0.3 }")
      -- A head that never ends, sent a byte at a time.
      local c = client.connect(s.port)
      local head = "GET /echo HTTP/1.1\r\nHost: t\r\nX-Slow: "
      local answered
      for i = 1, #head do
        assert(c:send(head:sub(i, i)))
      end
      for _ = 1, 200 do
        c:settimeout(0.05)
        local _, err = c:send("z")
        local data = c:receive("*l")
        if data or err == "closed" then
          answered = data
          break
        end
      end
      c:close()
      assert.are.equal("HTTP/1.1 408 Request Timeout", answered)
      -- A body that stops halfway.
      local text = client.exchange(s.port, "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 10\r\n\r\nabc")
      assert.are.equal(408, client.responses(text)[1].status)
      -- An idle keep-alive connection is closed with nothing sent.
      c = client.connect(s.port)
      assert(c:send(get("/echo")))
      assert.are.equal(200, client.response(c).status)
      local rest, err = client.read_all(c)
      assert.are.equal("", rest, err)
      c:close()
      assert.are.equal(200, (client.curl(s.port, "/echo")))
      stop_clean(s)
    end)

    it("serves the next request after clients that vanish mid-request or mid-response", function()
      local s = client.start(mode)
      local cuts = {
        "GET /echo HTT",
        "GET /echo HTTP/1.1\r\nHost: t\r\n",
        "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 100\r\n\r\nhalf",
        "POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n10\r\nabc",
        get("/big?n=4000000") .. get("/big?n=4000000"),
      }
      for k, bytes in ipairs(cuts) do
        local c = client.connect(s.port)
        assert(c:send(bytes))
        c:close()
        assert.are.equal(200, (client.curl(s.port, "/alloc?n=30")), "after cut " .. k)
      end
      -- A client that reads the start of a long answer and goes: the
      -- server's next writes fail (EPIPE), and it must not die of SIGPIPE.
      for k = 1, 3 do
        local c = client.connect(s.port)
        assert(c:send(get("/big?n=16000000")))
        assert(c:receive(1000))
        c:close()
        assert.are.equal(200, (client.curl(s.port, "/alloc?n=3")), "after reading part " .. k)
      end
      stop_clean(s)
    end)

    it("stops on SIGINT as on SIGTERM", function()
      local s = client.start(mode)
      assert.are.equal(200, (client.curl(s.port, "/echo")))
      local rc, stats, _, err = client.stop(s, "INT")
      assert.are.equal(0, rc, err)
      assert.are.equal("SIGINT", stats.why)
      assert.are.equal(1, stats.served)
      assert.are.equal(0, stats.pages_live)
    end)

    it("stops by itself after max_requests", function()
      local s = client.start(mode, "{ max_requests = 3 }")
      for _ = 1, 3 do
        assert.are.equal(200, (client.curl(s.port, "/echo")))
      end
      local rc, stats, _, err = client.finish(s)
      assert.are.equal(0, rc, err)
      assert.are.equal("max_requests", stats.why)
      assert.are.equal(3, stats.served)
      assert.are.equal(0, stats.pages_live)
    end)
  end)
end

describe("lexrt.http with an isolate", function()
  after_each(client.cleanup)

  -- Starts requests on connections of their own, without reading.
  local function send_all(port, paths)
    local conns = {}
    for k, path in ipairs(paths) do
      conns[k] = client.connect(port)
      assert(conns[k]:send(get(path, "Connection: close\r\n")))
    end
    return conns
  end

  local function answers(conns)
    local out = {}
    for k, c in ipairs(conns) do
      local text = client.read_all(c)
      c:close()
      local r = client.responses(text or "")[1]
      out[k] = r and (r.status .. " " .. r.body) or "none"
    end
    return out
  end

  it("keeps up to `instances` requests in flight and answers 503 beyond", function()
    local s = client.start("isolate", "{ instances = 2 }")
    local conns = send_all(s.port, { "/hold?n=a", "/hold?n=b" })
    -- Both wait in flight; a third request finds every instance busy.
    client.held(s, "a", "b")
    local c = client.connect(s.port)
    assert(c:send(get("/echo")))
    local r = client.response(c)
    c:close()
    assert.are.equal(503, r.status)
    assert.are.equal("1", r.headers["retry-after"])
    client.release(s, "b", "a")
    assert.are.same({ "200 held a\n", "200 held b\n" }, answers(conns))
    assert.are.equal(200, (client.curl(s.port, "/echo")))
    stop_clean(s, 4)
  end)

  it("ends a request in flight whose client went away, and gives its instance back", function()
    local s = client.start("isolate", "{ instances = 1 }")
    local conns = send_all(s.port, { "/hold?n=a" })
    client.held(s, "a")
    conns[1]:close()
    client.release(s, "a")
    -- The one instance is free again once the request has ended.
    local status = client.wait_for("the instance to be free", client.WAIT_SECONDS, function()
      local st = client.curl(s.port, "/echo")
      if st ~= 200 then
        assert.are.equal(503, st)
      end
      return st == 200 and st
    end)
    assert.are.equal(200, status)
    local stats, log = stop_clean(s)
    -- The hook hears of it as nginx logs it: 499, nothing sent.
    assert.are.same({ "GET /hold 499 0", "GET /echo 200" }, { log[#log - 1], log[#log]:match("^GET /echo 200") })
    assert.are.equal(0, stats.pages_live)
  end)

  it("finishes the requests in flight on SIGTERM, then stops", function()
    local s = client.start("isolate", "{ instances = 3 }")
    local conns = send_all(s.port, { "/hold?n=a", "/hold?n=b", "/sleep?s=0" })
    -- A kept-alive connection, idle: it must not hold the stop up.
    local idle = client.connect(s.port)
    assert(idle:send(get("/echo")))
    assert.are.equal(200, client.response(idle).status)
    client.held(s, "a", "b")
    os.execute("kill -TERM " .. s.pid)
    client.refusing(s)
    client.release(s, "a", "b")
    assert.are.same({ "200 held a\n", "200 held b\n", "200 slept 0\n" }, answers(conns))
    local rc, stats, _, err = client.finish(s)
    assert.are.equal(0, rc, err)
    assert.are.equal("SIGTERM", stats.why)
    assert.are.equal(4, stats.served)
    assert.are.equal(0, stats.pages_live)
    assert.are.equal("", client.read_all(idle))
    idle:close()
  end)
end)

describe("lexrt.http workers", function()
  after_each(client.cleanup)

  local function children(pid)
    local _, out = support.sh("pgrep -P " .. pid)
    return support.lines(out)
  end

  -- Waits until the server's workers are as `ok` wants them; returns them.
  local function wait_workers(s, what, ok)
    return client.wait_for(what, client.WAIT_SECONDS, function()
      local list = children(s.pid)
      return ok(list) and list
    end)
  end

  it("shares the port among N processes, restarts one that dies, and stops them all on SIGTERM", function()
    local s = client.start("fn", "{ workers = 2 }")
    local first = wait_workers(s, "2 workers", function(list)
      return #list == 2
    end)
    client.serving(s)
    for _ = 1, 6 do
      assert.are.equal(200, (client.curl(s.port, "/echo")))
    end
    os.execute("kill -KILL " .. first[1])
    -- The parent starts another in its place.
    local now = wait_workers(s, "a worker in place of " .. first[1], function(list)
      return #list == 2 and list[1] ~= first[1] and list[2] ~= first[1]
    end)
    assert.are.equal(2, #now)
    assert.is_not.equal(first[1], now[1])
    assert.is_not.equal(first[1], now[2])
    for _ = 1, 6 do
      assert.are.equal(200, (client.curl(s.port, "/echo")))
    end
    local rc, stats, _, err = client.stop(s)
    assert.are.equal(0, rc, err)
    assert.are.equal("signal", stats.why)
    assert.truthy(err:find("ended %(signal 9%): restarted"), err)
    assert.are.same({}, children(s.pid))
  end)
end)

describe("lexrt.http.serve options", function()
  local http = require("lexrt.http")
  local fn = function() return 200 end

  it("refuses bad options with an argument error", function()
    local cases = {
      { nil, "table expected, got nil" },
      { {}, "exactly one of fn and isolate expected" },
      { { fn = fn, nope = 1 }, "unknown option 'nope'" },
      { { fn = 1 }, "fn must be a function, got number" },
      { { fn = fn, port = 70000 }, "port must be an integer in 0..65535, got 70000" },
      { { fn = fn, port = 1.5 }, "port must be an integer in 0..65535, got 1.5" },
      { { fn = fn, workers = 0 }, "workers must be an integer in 1..256, got 0" },
      { { fn = fn, max_body_bytes = -1 }, "max_body_bytes must be an integer" },
      { { fn = fn, request_timeout = 0 }, "request_timeout must be a number of seconds in (0, 86400], got 0" },
      { { fn = fn, idle_timeout = 0 / 0 }, "idle_timeout must be a number of seconds" },
      { { fn = fn, on_request = "x" }, "on_request must be a function, got string" },
      { { fn = fn, on_start = 1 }, "on_start must be a function, got number" },
      { { fn = fn, handler = {} }, "handler must be a lexrt.handler, got table" },
      { { isolate = {} }, "isolate must be a lexrt.isolate, got table" },
      { { fn = fn, host = 1 }, "host must be a string, got number" },
    }
    for _, case in ipairs(cases) do
      local e = support.err_of(http.serve, case[1])
      assert.truthy(e:find("bad argument #1 to 'serve' (" .. case[2], 1, true), e)
    end
  end)

  it("says which address it could not listen on", function()
    local e = support.err_of(http.serve, { fn = fn, host = "not an address" })
    assert.truthy(e:find("not an address", 1, true), e)
  end)
end)
