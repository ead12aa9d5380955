-- bin/lexrt-serve, run as a user runs it, served to curl.
local client = require("spec.http.client")
local support = require("spec.support")

local APP = "spec/http/app.lua"

-- The command line that runs lexrt-serve: the installed command, or the
-- checkout's script under the suite's checker. The script puts the
-- checkout's build/ first on the C path; the C modules the suite runs
-- against (build/asan, build/vg under make check) are loaded before it.
local function command(args)
  if support.INSTALLED_TREE then
    return support.INSTALLED_TREE .. "/bin/lexrt-serve " .. args
  end
  return ("env LUA_PATH='%s' LUA_CPATH='%s' %s lua5.4 -e \"require('lexrt.core') require('lexrt.http_core')\" "
    .. "bin/lexrt-serve %s"):format(package.path, package.cpath, os.getenv("LEXRT_LUA_PREFIX") or "", args)
end

local function serve(args)
  local s = client.spawn(command(args), "on http://127%.0%.0%.1:(%d+)/ %(mode ([%w-]+), (%d+) workers?%)\n")
  s.port, s.mode, s.workers = tonumber(s.found[1]), s.found[2], tonumber(s.found[3])
  return s
end

local function scratch()
  local path = os.tmpname()
  os.remove(path)
  return path
end

describe("lexrt-serve", function()
  after_each(client.cleanup)

  for _, mode in ipairs({ "gc", "gc-gen", "isolate" }) do
    it("serves FILE's function in " .. mode .. " mode and writes the access log", function()
      local logfile = scratch()
      local s = serve(("%s --port 0 --mode %s --access-log %s --max-requests 3"):format(APP, mode, logfile))
      assert.are.equal(mode, s.mode)
      assert.are.equal(1, s.workers)
      local status, body = client.curl(s.port, "/alloc?n=2")
      assert.are.same({ 200, "0001,0002" }, { status, body })
      assert.are.equal(404, (client.curl(s.port, "/missing")))
      assert.are.equal(500, (client.curl(s.port, "/error")))
      local rc, _, _, err, out = client.finish(s)
      assert.are.equal(0, rc, err)
      assert.truthy(out:find("lexrt-serve: stopped (max_requests)", 1, true), out)
      local lines = support.lines(client.read(logfile))
      os.remove(logfile)
      local pattern = "^%d%d%d%d%-%d%d%-%d%dT%d%d:%d%d:%d%dZ (%u+) (%S+) (%d+) (%d+) %d+%.%d+$"
      assert.are.same({ "GET", "/alloc", "200", "9" }, { lines[1]:match(pattern) })
      assert.are.same({ "GET", "/missing", "404", "22" }, { lines[2]:match(pattern) })
      assert.are.same({ "GET", "/error", "500", "26" }, { lines[3]:match(pattern) })
      assert.are.equal(3, #lines)
    end)
  end

  it("calls the start and finish hooks of --hooks around each request", function()
    local hooks, record = scratch() .. ".lua", scratch()
    local f = assert(io.open(hooks, "w"))
    f:write(([[
      local out = assert(io.open(%q, "w"))
      out:setvbuf("line")
      return {
        start = function(info) out:write("start ", info.method, " ", info.path, " ", info.remote, "\n") end,
        finish = function(info)
          out:write(("finish %%s %%s %%d %%d %%s\n"):format(info.method, info.path, info.status, info.bytes,
            type(info.seconds)))
        end,
      }
    ]]):format(record))
    f:close()
    local s = serve(("%s --port 0 --mode isolate --instances 2 --hooks %s --max-requests 2"):format(APP, hooks))
    assert.are.equal(200, (client.curl(s.port, "/echo?x")))
    assert.are.equal(201, (client.curl(s.port, "/status?s=201")))
    local rc, _, _, err = client.finish(s)
    assert.are.equal(0, rc, err)
    local lines = support.lines(client.read(record))
    assert.are.equal(4, #lines)
    assert.are.equal("start GET /echo 127.0.0.1", lines[1])
    assert.truthy(lines[2]:match("^finish GET /echo 200 %d+ number$"), lines[2])
    assert.are.equal("start GET /status 127.0.0.1", lines[3])
    assert.are.equal("finish GET /status 201 7 number", lines[4])
    os.remove(hooks)
    os.remove(record)
  end)

  it("runs workers and stops them on SIGTERM", function()
    local s = serve(APP .. " --port 0 --workers 2")
    assert.are.equal(2, s.workers)
    client.serving(s)
    for _ = 1, 4 do
      assert.are.equal(200, (client.curl(s.port, "/echo")))
    end
    local rc, _, _, err, out = client.stop(s)
    assert.are.equal(0, rc, err)
    assert.truthy(out:find("lexrt-serve: stopped (signal)", 1, true), out)
  end)

  it("refuses bad arguments and files with a message and status 2", function()
    local bad_file = scratch() .. ".lua"
    local f = assert(io.open(bad_file, "w"))
    f:write("return 42\n")
    f:close()
    local cases = {
      { "", "missing argument 'file'" },
      { APP .. " --mode fast", "argument for option '--mode' must be one of 'gc', 'gc-gen', 'isolate'" },
      { APP .. " --port x", "--port: expected an integer >= 0, got 'x'" },
      { APP .. " --workers 0", "--workers: expected an integer >= 1, got '0'" },
      { APP .. " --port 70000", "port must be an integer in 0..65535, got 70000" },
      { "/nonexistent/app.lua", "cannot open /nonexistent/app.lua" },
      { bad_file, bad_file .. " must return a function, got number" },
      { bad_file .. " --mode isolate", "the isolate's chunk must return the request function, got number" },
      { APP .. " --hooks /nonexistent/h.lua", "--hooks: cannot open /nonexistent/h.lua" },
    }
    for _, case in ipairs(cases) do
      local code, out = support.sh(command(case[1] .. " --max-requests 1"), true)
      assert.are.equal(2, code, case[1] .. ": " .. out)
      assert.truthy(out:find(case[2], 1, true), case[1] .. ": " .. out)
      assert.are.equal(1, #support.lines(out), out)
    end
    os.remove(bad_file)
  end)
end)
