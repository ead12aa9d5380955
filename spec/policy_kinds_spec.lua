-- Effect kinds of one's own: lexrt.policy{ kinds = { "db" } } makes "db"
-- grantable, while a typo of a known kind is still refused with a
-- suggestion; how a handler and an isolate reach such kinds, and
-- parameterised ones ("mcp:ocpp").
local lexrt = require("lexrt")
local policy = lexrt.policy

local err_of = require("spec.support").err_of

-- The message of the error fn(...) raises, which must be a string.
local function error_of(fn, ...)
  local err = err_of(fn, ...)
  assert.is_string(err)
  return err
end

local KNOWN = "known kinds: io, net, time, rand, llm, proc, panic, fs_read, fs_write, budget, "
  .. "llm_local, llm_cloud, a2a, mcp, env"

describe("lexrt.policy kinds", function()
  it("makes a declared kind grantable, bare or with a parameter", function()
    local p = policy{ kinds = { "db", "queue" }, allow_effects = { "db", "queue:jobs", "io" } }
    assert.is_true(p:allows("db"))
    assert.is_true(p:allows("db:users"))
    assert.is_true(p:allows("queue:jobs"))
    assert.is_true(p:allows("queue(jobs)"))
    assert.is_false(p:allows("queue"))
    assert.is_false(p:allows("queue:mail"))
    assert.is_nil(p:check_call("db", "query", "select 1"))
    assert.are.equal("effect_not_allowed", p:check_call("queue:mail", "push").kind)
  end)

  it("declares without granting: a declared kind is refused until allowed", function()
    local p = policy{ kinds = { "db" } }
    assert.is_false(p:allows("db"))
    local v = p:check_call("db", "query")
    assert.are.equal("effect_not_allowed", v.kind)
    assert.are.equal("db.query", v.at)
  end)

  it("refuses an undeclared kind with a hint about the kinds option", function()
    assert.are.equal("bad argument #1 to 'policy' (unknown effect kind 'db' in allow_effects; "
      .. KNOWN .. "; a kind of your own must be declared: kinds = { \"db\" })",
      error_of(policy, { allow_effects = { "db" } }))
    assert.matches("unknown effect kind 'cache' in allow_effects; " .. KNOWN
      .. "; declared in kinds: db; a kind of your own must be declared: kinds = { \"cache\" })",
      error_of(policy, { kinds = { "db" }, allow_effects = { "cache" } }), 1, true)
  end)

  it("still refuses a typo of a known kind, suggesting the kind meant", function()
    local cases = { ioo = "io", nett = "net", fs_raed = "fs_read", mpc = "mcp", llm_cloude = "llm_cloud",
                    tme = "time", ["fs_write2"] = "fs_write" }
    for typo, meant in pairs(cases) do
      assert.are.equal(("bad argument #1 to 'policy' (unknown effect kind '%s' in allow_effects; "
        .. "did you mean '%s'? %s)"):format(typo, meant, KNOWN),
        error_of(policy, { allow_effects = { typo } }), typo)
    end
    -- with other kinds declared, and in a parameterised grant
    assert.matches("unknown effect kind 'ioo' (grant 'ioo:x') in allow_effects; did you mean 'io'?",
      error_of(policy, { kinds = { "db" }, allow_effects = { "ioo:x" } }), 1, true)
  end)

  it("suggests a declared kind for a typo of it", function()
    assert.matches("unknown effect kind 'dbb' in allow_effects; did you mean 'db'? " .. KNOWN
      .. "; declared in kinds: db)",
      error_of(policy, { kinds = { "db" }, allow_effects = { "dbb" } }), 1, true)
  end)

  it("lets a name close to a known kind through once it is declared", function()
    local p = policy{ kinds = { "ioo" }, allow_effects = { "ioo" } }
    assert.is_true(p:allows("ioo"))
    assert.is_false(p:allows("io"))
  end)

  it("accepts known kinds in kinds, which changes nothing", function()
    local p = policy{ kinds = { "io", "db", "db" }, allow_effects = { "io", "db" } }
    assert.is_true(p:allows("io"))
    assert.is_true(p:allows("db"))
  end)

  it("refuses kinds that are not a list of kind names", function()
    assert.are.equal("bad argument #1 to 'policy' (kinds must be a list of strings)",
      error_of(policy, { kinds = "db" }))
    assert.are.equal("bad argument #1 to 'policy' (kinds must be a list of strings)",
      error_of(policy, { kinds = { db = true } }))
    for i, name in ipairs{ "", "mcp:ocpp", "db(x)", "1db", "my db", "my-db", "db.main" } do
      assert.are.equal(("bad argument #1 to 'policy' (kinds entry 2 ('%s') is not a kind name "
        .. "(letters, digits and '_', not starting with a digit))"):format(name),
        error_of(policy, { kinds = { "ok", name } }), i)
    end
  end)

  it("keeps policy.KINDS the list of known kinds, and permissive() to those", function()
    policy{ kinds = { "db" }, allow_effects = { "db" } }
    for _, k in ipairs(policy.KINDS) do
      assert.are_not.equal("db", k)
    end
    assert.is_false(policy.permissive():allows("db"))
  end)

  it("checks declared custom effects in check_program", function()
    local p = policy{ kinds = { "db" }, allow_effects = { "db:users" } }
    local report = p:check_program{ entry = { "db:users" } }
    assert.are.same({ entry = { "db:users" } }, report.declared_effects)
    local _, violations = p:check_program{ entry = { "db:orders" } }
    assert.are.equal("effect_not_allowed", violations[1].kind)
  end)
end)

describe("a handler with a kind of its own", function()
  it("dispatches the declared kind through the policy", function()
    local h <close> = lexrt.handler{
      policy = policy{ kinds = { "db" }, allow_effects = { "db" } },
      effects = { db = { query = function(sql) return "rows for " .. sql end } },
    }
    assert.are.equal("rows for select 1", h:dispatch("db", "query", "select 1"))
    assert.are.equal("rows for x", h:dispatch("db:main", "query", "x")) -- effects.db serves db:main
  end)

  it("refuses the kind, effect table or not, when the policy does not grant it", function()
    local ran = false
    local h <close> = lexrt.handler{
      policy = policy{ kinds = { "db" }, allow_effects = { "db:users" } },
      effects = { db = { query = function() ran = true end } },
    }
    local ok, v = pcall(h.dispatch, h, "db", "query")
    assert.is_false(ok)
    assert.are.equal("effect_not_allowed", v.kind)
    ok, v = pcall(h.dispatch, h, "db:orders", "query")
    assert.is_false(ok)
    assert.are.equal("effect_not_allowed", v.kind)
    assert.is_false(ran)
  end)
end)

describe("an isolate reaching declared and parameterised kinds", function()
  local function handler()
    return lexrt.handler{
      policy = policy{ kinds = { "db" }, allow_effects = { "db", "mcp:ocpp" } },
      effects = {
        db = { query = function(sql) return "rows for " .. sql end },
        ["mcp:ocpp"] = { call = function(x) return "ocpp " .. x end },
        mcp = { call = function(x) return "mcp " .. x end },
      },
    }
  end

  it("names the global of a kind after it: db is a plain global", function()
    local h <close> = handler()
    local iso <close> = lexrt.isolate{ handler = h, source = [[
      return function(sql) return db.query(sql) end
    ]] }
    assert.are.equal("rows for select 1", iso:call("select 1"))
  end)

  it("reaches a parameterised kind through _ENV[\"mcp:ocpp\"], dispatching that kind", function()
    local h <close> = handler()
    local iso <close> = lexrt.isolate{ handler = h, source = [[
      local ocpp = _ENV["mcp:ocpp"]   -- not a Lua name: index the globals
      return function(x) return ocpp.call(x), _G["mcp:ocpp"] == ocpp end
    ]] }
    local out, same = iso:call("boot")
    assert.are.equal("ocpp boot", out)
    assert.is_true(same)
  end)

  it("dispatches the bare kind through the global of the bare name, which the grant refuses", function()
    local h <close> = handler()
    local iso <close> = lexrt.isolate{ handler = h, source = [[
      return function(x) return mcp.call(x) end
    ]] }
    local ok, v = pcall(iso.call, iso, "boot")
    assert.is_false(ok)
    assert.are.equal("effect_not_allowed", v.kind)
    assert.are.equal("mcp.call", v.at)
  end)
end)
