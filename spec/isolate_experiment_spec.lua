-- Isolate mode of lexrt.experiment: the workloads' own code in an
-- isolate must answer every request exactly as it does in an ordinary
-- Lua state.
local lexrt = require("lexrt")
local experiment = require("lexrt.experiment")
local modes = require("lexrt.experiment.modes")
local Ctx = require("lexrt.experiment.ctx")
local bundle = require("lexrt.experiment.bundle")
local support = require("spec.support")

-- Requests per built-in workload: a few hundred, fewer for bulk (each of
-- its requests is megabytes), and fewer again under the memory checkers.
local COUNTS = support.UNDER_CHECKER and { json = 40, template = 20, bulk = 3 }
  or { json = 300, template = 200, bulk = 25 }

local function write_file(text)
  local path = os.tmpname() .. ".lua"
  local f = assert(io.open(path, "w"))
  f:write(text)
  f:close()
  return path
end

describe("isolate mode", function()
  for _, name in ipairs(experiment.WORKLOADS) do
    it("answers every seeded " .. name .. " request as an ordinary state does", function()
      local w = experiment.workload(name)
      local reqs = experiment.generate(w, COUNTS[name], 7)
      local d = modes.open("isolate", 65536, w)
      for i, req in ipairs(reqs) do
        local ctx = Ctx.gc()
        local want = ctx:read(w.handler(ctx, req))
        local got = d.handler(d:start(), req)
        d:finish()
        assert.are.equal(want, got, name .. " request " .. i)
        assert.are.equal(0, d:pool().pages_live)
      end
      local s = d.iso:stats()
      assert.are.equal(#reqs, s.calls)
      assert.are.equal(0, s.errors)
      d:close()
    end)
  end

  it("runs in experiment.run beside the other modes, with the same bodies", function()
    local r = experiment.run({ workload = "template", requests = 12, warmup = 2, keep_bodies = true,
                               modes = { "gc", "isolate" } })
    local gc, iso = r.by_mode.gc, r.by_mode.isolate
    assert.are.same(gc.bodies, iso.bodies)
    assert.is_true(iso.bytes_mean > 0)    -- every object of a request, in its scope's arena
    assert.is_true(iso.pages_mean >= 1)
    assert.are.equal(0, iso.handler_stats.pages_live)
    assert.is_true(iso.lua_kb_mean < gc.lua_kb_mean) -- the host's heap sees little but the body
  end)

  it("runs a user workload file unchanged, with the modules it requires", function()
    local path = write_file([[
      local Rng = require("lexrt.experiment.rng")
      local rows = require("lexrt.experiment.workload.json")
      return {
        name = "user",
        generate = function(rng, i) return { n = rng:int(1, 20), i = i, seed = rng:int(0, 1000) } end,
        handler = function(ctx, req)
          local rng = Rng.new(req.seed, 0)
          local parts = { "user ", type(rows.handler) }
          for k = 1, req.n do parts[#parts + 1] = ctx:str(" " .. rng:int(1, 99)) end
          return ctx:concat(parts)
        end,
      }
    ]])
    local r = experiment.run({ workload = path, requests = 30, warmup = 0, keep_bodies = true,
                               modes = { "gc", "isolate" } })
    os.remove(path)
    assert.are.same(r.by_mode.gc.bodies, r.by_mode.isolate.bodies)
    assert.matches("^user function", r.by_mode.isolate.bodies[1])
  end)

  it("names the workload, mode and request when a handler raises inside the isolate", function()
    local path = write_file([[
      return { name = "boom", handler = function(ctx, req)
        if req.index == 2 then error("kaput") end
        return ctx:str("ok")
      end }
    ]])
    local ok, err = pcall(experiment.run, { workload = path, requests = 3, warmup = 0, modes = { "isolate" } })
    os.remove(path)
    assert.is_false(ok)
    assert.matches("workload boom, mode isolate, request 2: .*kaput", err)
  end)

  it("refuses a workload given as a table, which has no source to carry", function()
    local w = { name = "inline", handler = function(ctx) return ctx:str("x") end }
    local ok, err = pcall(experiment.run, { workload = w, requests = 1, modes = { "isolate" } })
    assert.is_false(ok)
    assert.matches("isolate mode needs a built%-in workload or one loaded from a file", err)
  end)

  it("says which module an isolate cannot have", function()
    local path = write_file([[
      return { name = "needs", handler = function(ctx) require("no.such.module") return ctx:str("x") end }
    ]])
    local w = experiment.load_workload(path)
    local iso = lexrt.isolate({ source = bundle.source(w) })
    os.remove(path)
    local ok, err = pcall(iso.call, iso, {})
    assert.is_false(ok)
    assert.matches("module 'no.such.module' is not available in an isolate", err)
  end)
end)
