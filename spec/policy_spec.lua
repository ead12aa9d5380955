-- Spec for lexrt.policy: the capability policy (API.md, "Capability policy").
local policy = require("lexrt.policy")

-- The policy of API.md's example, used by most groups below.
local function example()
  return policy{
    allow_effects  = { "io", "time", "fs_read", "fs_write", "net", "proc", "budget", "mcp:ocpp" },
    allow_fs_read  = { "/srv/data" },
    allow_fs_write = { "/srv/out", "tmp" },
    allow_net_host = { "api.example.com", "*.cdn.example.com" },
    allow_proc     = { "ls" },
    budget         = 1000,
  }
end

-- The message of an error raised by fn(...), which must be a string.
local function error_of(fn, ...)
  local ok, err = pcall(fn, ...)
  assert.is_false(ok, "expected an error")
  assert.is_string(err)
  return err
end

-- Assert that a check_call result is a violation of the given kind.
local function assert_violation(v, kind)
  assert.is_true(policy.is_violation(v), "expected a violation, got " .. tostring(v))
  assert.are.equal(kind, v.kind)
  assert.is_string(v.detail)
  assert.are.equal("policy violation: " .. kind .. " " .. v.detail, tostring(v))
end

local NON_STRINGS = { { nil }, { 42 }, { 1.5 }, { true }, { {} }, { print } }

describe("lexrt.policy construction", function()
  it("is a callable module that builds a policy from a spec table", function()
    local p = policy{ allow_effects = { "io" } }
    assert.is_true(policy.is_policy(p))
    assert.is_true(p:allows("io"))
    assert.is_false(p:allows("net"))
  end)

  it("also builds through policy.new", function()
    local p = policy.new{ allow_effects = { "time" } }
    assert.is_true(p:allows("time"))
  end)

  it("treats every field as optional, and no spec at all as a pure policy", function()
    for _, p in ipairs{ policy{}, policy(), policy.new() } do
      assert.is_false(p:allows("io"))
      assert.is_nil(p.budget)
      assert.are.same({}, p:wildcards())
    end
  end)

  it("exposes the budget ceiling as p.budget", function()
    assert.are.equal(1000, example().budget)
    assert.are.equal(0, policy{ budget = 0 }.budget)
    assert.is_nil(policy{}.budget)
  end)

  it("accepts an integral float budget and stores it as an integer", function()
    local b = policy{ budget = 50.0 }.budget
    assert.are.equal(50, b)
    assert.are.equal("integer", math.type(b))
  end)

  it("refuses a spec that is not a table", function()
    for _, v in ipairs{ 1, "io", true, print } do
      assert.are.equal("bad argument #1 to 'policy' (table expected, got " .. type(v) .. ")",
        error_of(policy, v))
    end
  end)

  it("refuses unknown fields, so a typo cannot silently drop a limit", function()
    assert.are.equal("bad argument #1 to 'policy' (unknown field 'allow_effect')",
      error_of(policy, { allow_effect = { "io" } }))
    assert.are.equal("bad argument #1 to 'policy' (unknown field '1')",
      error_of(policy, { "io" }))
  end)

  it("refuses every list field that is not a list of strings", function()
    for _, field in ipairs{ "allow_effects", "allow_fs_read", "allow_fs_write",
                            "allow_net_host", "allow_proc" } do
      for _, bad in ipairs{ "io", 3, true, { 1 }, { "a", 2 }, { x = "a" },
                            { [1] = "a", [3] = "b" }, { "a", {} } } do
        assert.are.equal(("bad argument #1 to 'policy' (%s must be a list of strings)"):format(field),
          error_of(policy, { [field] = bad }))
      end
    end
  end)

  it("refuses an empty effect name", function()
    assert.matches("allow_effects entry 2 is empty", error_of(policy, { allow_effects = { "io", "" } }), 1, true)
  end)

  it("refuses a budget that is not a non-negative integer", function()
    local cases = { [-1] = "-1", [1.5] = "1.5", [math.huge] = "inf" }
    for v, shown in pairs(cases) do
      assert.are.equal(("bad argument #1 to 'policy' (budget must be a non-negative integer, got %s)"):format(shown),
        error_of(policy, { budget = v }))
    end
    assert.are.equal("bad argument #1 to 'policy' (budget must be a non-negative integer, got string)",
      error_of(policy, { budget = "10" }))
    assert.matches("budget must be a non%-negative integer", error_of(policy, { budget = 0/0 }))
    assert.matches("budget must be a non%-negative integer", error_of(policy, { budget = true }))
  end)

  it("refuses paths no grant can use: empty, NUL bytes, or relative and climbing out", function()
    for _, g in ipairs{ "", "/srv/\0data", "../etc", "a/../../b" } do
      assert.matches("allow_fs_read entry 1 .* is not a usable path",
        error_of(policy, { allow_fs_read = { g } }))
    end
    assert.matches("allow_fs_write entry 2", error_of(policy, { allow_fs_write = { "/ok", "" } }), 1, true)
  end)

  it("refuses host grants that are not host names or '*.domain'", function()
    for _, g in ipairs{ "", "*", "*.", "http://api.example.com", "api.example.com:443",
                        "api.example.com/x", "a..b", ".example.com", "a*.example.com",
                        "*.*.example.com", "exa mple.com", "ex%41mple.com", "user@host" } do
      assert.matches("allow_net_host entry 1 .* is not a host name or '%*%.domain'",
        error_of(policy, { allow_net_host = { g } }))
    end
  end)

  it("refuses proc grants that are paths or hold whitespace", function()
    for _, g in ipairs{ "", "/bin/ls", "ls -l", "bin/ls", "l\ns" } do
      assert.matches("allow_proc entry 1 .* is not a binary basename",
        error_of(policy, { allow_proc = { g } }))
    end
  end)

  it("points a construction error at the caller's line", function()
    local ok, err = pcall(function()
      local p = policy{ bogus = 1 }   -- not a tail call, so the caller's frame is kept
      return p
    end)
    assert.is_false(ok)
    assert.matches("^.-policy_spec%.lua:%d+: bad argument #1 to 'policy'", err)
  end)

  it("points errors of policy.new and of the methods at the caller's line", function()
    local p = example()
    local calls = {
      { function() local _ = policy(1) end, "bad argument #1 to 'policy' %(table expected" },
      { function() local _ = policy.new(1) end, "bad argument #1 to 'policy' %(table expected" },
      { function() local _ = p:allows(1) end, "bad argument #1 to 'allows' %(string expected" },
      { function() local _ = p:check_call("io", 2) end, "bad argument #2 to 'check_call'" },
      { function() local _ = p:check_program({ f = 1 }) end, "bad argument #1 to 'check_program'" },
      { function() local _ = p.wildcards(1) end, "calling 'wildcards' on bad self" },
      { function() local _ = policy.violation("nope", "x") end, "bad argument #1 to 'violation'" },
    }
    for i, c in ipairs(calls) do
      -- Not tail calls, so each function's frame stays and the error
      -- blames its one line, which debug.getinfo reads back.
      local line = debug.getinfo(c[1], "S").linedefined
      local ok, err = pcall(c[1])
      assert.is_false(ok)
      assert.matches("^.-policy_spec%.lua:" .. line .. ": " .. c[2], err, nil, false, "call " .. i)
    end
  end)

  it("makes policies read-only", function()
    local p = example()
    assert.matches("read%-only", error_of(function() p.budget = 1e9 end))
    assert.matches("read%-only", error_of(function() p.allows = function() return true end end))
    assert.are.equal(1000, p.budget)
    assert.is_false(p:allows("env"))
  end)

  it("hides its metatable and its grants from the script holding it", function()
    local p = example()
    assert.are.equal("lexrt.policy", getmetatable(p))
    assert.is_nil(next(p))
  end)

  it("is not affected by later edits to the spec table", function()
    local effects = { "io" }
    local spec = { allow_effects = effects, budget = 5 }
    local p = policy(spec)
    effects[2] = "net"
    spec.budget = 500
    assert.is_false(p:allows("net"))
    assert.are.equal(5, p.budget)
  end)

  it("prints as lexrt.policy with its effect count and budget", function()
    assert.are.equal("lexrt.policy(8 effects, budget 1000)", tostring(example()))
    assert.are.equal("lexrt.policy(1 effect)", tostring(policy{ allow_effects = { "io" } }))
    assert.are.equal("lexrt.policy(0 effects)", tostring(policy.pure()))
    assert.are.equal("lexrt.policy(15 effects)", tostring(policy.permissive()))
  end)

  it("counts mcp:ocpp and mcp(ocpp) as one grant", function()
    assert.are.equal("lexrt.policy(1 effect)",
      tostring(policy{ allow_effects = { "mcp:ocpp", "mcp(ocpp)" } }))
  end)

  it("is_policy is false for everything that is not a policy", function()
    for _, v in ipairs{ 1, "p", true, {}, print, policy } do
      assert.is_false(policy.is_policy(v))
    end
    assert.is_false(policy.is_policy(nil))
  end)
end)

describe("lexrt.policy grants", function()
  local KNOWN = "known kinds: io, net, time, rand, llm, proc, panic, fs_read, fs_write, budget, "
    .. "llm_local, llm_cloud, a2a, mcp, env"

  it("exports the known kinds as policy.KINDS, in permissive()'s order", function()
    assert.are.same({ "io", "net", "time", "rand", "llm", "proc", "panic", "fs_read",
      "fs_write", "budget", "llm_local", "llm_cloud", "a2a", "mcp", "env" }, policy.KINDS)
    assert.are.same(policy.kinds(), policy.KINDS)
    for _, k in ipairs(policy.KINDS) do
      assert.is_true(policy.permissive():allows(k), k)
    end
  end)

  it("cannot be widened by editing policy.KINDS", function()
    local saved = policy.KINDS[1]
    policy.KINDS[1] = "db"
    local ok = pcall(policy, { allow_effects = { "db" } })
    policy.KINDS[1] = saved
    assert.is_false(ok)
  end)

  it("refuses a malformed grant, naming it", function()
    for _, g in ipairs{ "fs_read:", "fs_read()", "net()", "proc(", "mcp(ocpp", "mcp()x",
                        "mcp(x):y", ":ocpp", "(ocpp)", ":", "()" } do
      assert.are.equal(("bad argument #1 to 'policy' (malformed grant '%s' in allow_effects)"):format(g),
        error_of(policy, { allow_effects = { "io", g } }))
    end
  end)

  it("refuses an unknown kind, naming it and listing the known kinds", function()
    assert.are.equal("bad argument #1 to 'policy' (unknown effect kind 'ioo' in allow_effects; "
      .. "did you mean 'io'? " .. KNOWN .. ")", error_of(policy, { allow_effects = { "ioo" } }))
    assert.are.equal("bad argument #1 to 'policy' (unknown effect kind 'db' (grant 'db:main') in "
      .. "allow_effects; " .. KNOWN .. "; a kind of your own must be declared: kinds = { \"db\" })",
      error_of(policy, { allow_effects = { "io", "db:main" } }))
    for _, g in ipairs{ "IO", " io", "io ", "fs", "llm-cloud", "fs_read/x" } do
      assert.matches("unknown effect kind '" .. g:gsub("%p", "%%%0") .. "'",
        error_of(policy, { allow_effects = { g } }))
    end
  end)

  it("keeps parameterised grants of known kinds with a non-empty parameter", function()
    for _, g in ipairs{ "mcp:ocpp", "mcp(ocpp)", "fs_read:/srv", "fs_read(/a:b)", "net:api.example.com",
                        "proc(ls)", "budget:5", "mcp:a:b", "fs_read:/a(b)" } do
      assert.is_true(policy.is_policy(policy{ allow_effects = { g } }), g)
    end
  end)

  it("never lets a malformed kind through at dispatch, whatever is granted", function()
    local p = policy{ allow_effects = { "fs_read", "net", "proc" }, allow_fs_read = { "/srv" },
      allow_net_host = { "api.example.com" }, allow_proc = { "ls" } }
    for _, kind in ipairs{ "fs_read:", "fs_read()", "fs_read(", "net()", "net:", "proc(", "proc()" } do
      local v = p:check_call(kind, "open", "/etc/passwd")
      assert_violation(v, "effect_not_allowed")
      assert.are.equal(kind, v.effect)
    end
  end)

  it("refuses dispatch(\"fs_read:\", \"open\", \"/etc/passwd\") through a handler", function()
    local lexrt = require("lexrt")
    local opened = {}
    local h = lexrt.handler{
      policy = policy{ allow_effects = { "fs_read" }, allow_fs_read = { "/srv" } },
      effects = { ["fs_read:"] = { open = function(path) opened[#opened + 1] = path end },
                  fs_read = { open = function(path) opened[#opened + 1] = path end } },
    }
    for _, kind in ipairs{ "fs_read:", "fs_read()", "fs_read:/srv" } do
      local ok, v = pcall(h.dispatch, h, kind, "open", "/etc/passwd")
      assert.is_false(ok)
      assert.is_true(policy.is_violation(v))
    end
    assert.are.same({}, opened)
    h:dispatch("fs_read:/srv", "open", "/srv/x")
    assert.are.same({ "/srv/x" }, opened)
  end)

  it("checks the path, host and command lists under a parameterised grant of a scoped kind", function()
    local p = policy{
      allow_effects = { "fs_read:/etc/passwd", "fs_write(/srv)", "net:evil.example", "proc:rm" },
      allow_fs_read = { "/srv" }, allow_fs_write = { "/srv" },
      allow_net_host = { "api.example.com" }, allow_proc = { "ls" },
    }
    assert_violation(p:check_call("fs_read:/etc/passwd", "open", "/etc/passwd"), "fs_path_not_allowed")
    assert_violation(p:check_call("fs_write:/srv", "open", "/etc/passwd"), "fs_path_not_allowed")
    assert_violation(p:check_call("net:evil.example", "get", "http://evil.example/"), "net_host_not_allowed")
    assert_violation(p:check_call("proc:rm", "run", "rm -rf /"), "proc_not_allowed")
    assert.is_nil(p:check_call("fs_write(/srv)", "open", "/srv/x"))
    -- The bare kinds were not granted: a parameterised grant covers only itself.
    assert_violation(p:check_call("fs_read", "open", "/srv/x"), "effect_not_allowed")

    local _, v = p:check_program{ f = { "fs_read:/etc/passwd", "net:evil.example", "proc:rm" } }
    assert.are.equal(3, #v)
    assert_violation(v[1], "fs_path_not_allowed")
    assert_violation(v[2], "net_host_not_allowed")
    assert_violation(v[3], "proc_not_allowed")
  end)

  it("refuses a malformed effect a program declares, even under the bare grant", function()
    local p = policy{ allow_effects = { "fs_read" }, allow_fs_read = { "/srv" } }
    local report, v = p:check_program{ f = { "fs_read:", "fs_read()", "fs_read:/srv/x" } }
    assert.is_nil(report)
    assert.are.equal(2, #v)
    assert_violation(v[1], "effect_not_allowed")
    assert.are.equal("fs_read:", v[1].effect)
    assert_violation(v[2], "effect_not_allowed")
  end)

  it("reports a scoped kind open under a parameterised grant only when its list is empty", function()
    assert.are.same({ "fs_read", "net" },
      policy{ allow_effects = { "fs_read(/srv)", "net:api" } }:wildcards())
    assert.are.same({}, policy{ allow_effects = { "fs_read(/srv)", "proc:ls" },
      allow_fs_read = { "/srv" }, allow_proc = { "ls" } }:wildcards())
    assert.are.same({ "proc" }, policy{ allow_effects = { "fs_read:/srv", "proc(ls)" },
      allow_fs_read = { "/srv" } }:wildcards())
  end)
end)

describe("lexrt.policy.pure and permissive", function()
  local KINDS = { "io", "net", "time", "rand", "llm", "proc", "panic", "fs_read",
                  "fs_write", "budget", "llm_local", "llm_cloud", "a2a", "mcp", "env" }

  it("pure() allows nothing", function()
    local p = policy.pure()
    for _, k in ipairs(KINDS) do assert.is_false(p:allows(k)) end
    assert.is_false(p:allows("mcp:ocpp"))
    assert.is_nil(p.budget)
  end)

  it("permissive() allows every kind and every parameter of them", function()
    local p = policy.permissive()
    for _, k in ipairs(KINDS) do assert.is_true(p:allows(k), k) end
    assert.is_true(p:allows("mcp:ocpp"))
    assert.is_true(p:allows("fs_read(/etc/passwd)"))
    assert.is_nil(p.budget)
  end)

  it("permissive() does not allow kinds outside the list", function()
    assert.is_false(policy.permissive():allows("db"))
  end)

  it("permissive() leaves all four scoped kinds open, and says so", function()
    local p = policy.permissive()
    assert.are.same({ "fs_read", "fs_write", "net", "proc" }, p:wildcards())
    assert.is_nil(p:check_call("fs_write", "open", "/etc/passwd"))
    assert.is_nil(p:check_call("net", "get", "http://anything.example/"))
    assert.is_nil(p:check_call("proc", "run", "rm -rf /tmp/x"))
  end)

  it("kinds() lists the permissive kinds as a fresh table", function()
    local k = policy.kinds()
    assert.are.same(KINDS, k)
    k[1] = "changed"
    assert.are.equal("io", policy.kinds()[1])
  end)
end)

describe("p:allows", function()
  it("allows a granted bare kind and refuses an ungranted one", function()
    local p = example()
    assert.is_true(p:allows("io"))
    assert.is_false(p:allows("env"))
  end)

  it("lets a bare grant cover every parameter of its kind", function()
    local p = policy{ allow_effects = { "mcp" } }
    assert.is_true(p:allows("mcp"))
    assert.is_true(p:allows("mcp:ocpp"))
    assert.is_true(p:allows("mcp(ocpp)"))
    assert.is_true(p:allows("mcp:other"))
  end)

  it("treats mcp:ocpp and mcp(ocpp) as the same grant covering only that parameter", function()
    for _, grant in ipairs{ "mcp:ocpp", "mcp(ocpp)" } do
      local p = policy{ allow_effects = { grant } }
      assert.is_true(p:allows("mcp:ocpp"))
      assert.is_true(p:allows("mcp(ocpp)"))
      assert.is_false(p:allows("mcp"))
      assert.is_false(p:allows("mcp:other"))
      assert.is_false(p:allows("mcp(ocppx)"))
      assert.is_false(p:allows("mcp:ocpp:x"))
    end
  end)

  it("does not let a kind's name prefix stand for another kind", function()
    local p = policy{ allow_effects = { "llm", "fs_read" } }
    assert.is_false(p:allows("llm_cloud"))
    assert.is_false(p:allows("llm_local"))
    assert.is_false(p:allows("fs_read_x"))
    assert.is_false(p:allows("fs"))
  end)

  it("returns false for empty and malformed effect names", function()
    local p = policy{ allow_effects = { "mcp" } }
    assert.is_false(p:allows(""))
    assert.is_false(p:allows("mcp:"))
    assert.is_false(p:allows("mcp("))
    assert.is_false(p:allows("MCP"))
    assert.is_false(p:allows(" mcp"))
  end)

  it("raises an argument error for a non-string effect", function()
    local p = example()
    for _, v in ipairs(NON_STRINGS) do
      assert.are.equal("bad argument #1 to 'allows' (string expected, got " .. type(v[1]) .. ")",
        error_of(p.allows, p, v[1]))
    end
  end)

  it("raises a bad-self error when not called on a policy", function()
    assert.are.equal("calling 'allows' on bad self (lexrt.policy expected, got string)",
      error_of(example().allows, "io"))
    assert.are.equal("calling 'allows' on bad self (lexrt.policy expected, got table)",
      error_of(example().allows, {}, "io"))
  end)
end)

describe("p:wildcards", function()
  it("lists granted scoped kinds whose lists are empty, in sorted order", function()
    local p = policy{ allow_effects = { "proc", "net", "fs_write", "fs_read", "io" } }
    assert.are.same({ "fs_read", "fs_write", "net", "proc" }, p:wildcards())
  end)

  it("leaves out kinds that are not granted or whose lists are non-empty", function()
    assert.are.same({ "fs_write" }, policy{
      allow_effects = { "fs_read", "fs_write", "io" },
      allow_fs_read = { "/srv" },
      allow_proc = {},        -- empty but proc not granted
    }:wildcards())
    assert.are.same({}, example():wildcards())
  end)

  it("counts a parameterised grant, since it reaches the open list at dispatch", function()
    assert.are.same({ "net" }, policy{ allow_effects = { "net:api" } }:wildcards())
  end)

  it("returns a fresh list each time", function()
    local p = policy{ allow_effects = { "net" } }
    p:wildcards()[1] = "x"
    assert.are.same({ "net" }, p:wildcards())
  end)

  it("raises a bad-self error when not called on a policy", function()
    assert.matches("calling 'wildcards' on bad self", error_of(example().wildcards, 5))
  end)
end)

describe("p:check_program", function()
  it("returns a report with each function's declared effects and the total budget", function()
    local p = example()
    local report, violations = p:check_program{
      entry = { "io", "fs_read:/srv/data/x", "budget:5" },
      helper = { "time", "budget(7)", "mcp:ocpp" },
      leaf = {},
    }
    assert.is_nil(violations)
    assert.are.same({
      declared_effects = {
        entry = { "io", "fs_read:/srv/data/x", "budget:5" },
        helper = { "time", "budget(7)", "mcp:ocpp" },
        leaf = {},
      },
      total_budget = 12,
    }, report)
  end)

  it("copies the declared lists rather than handing them back", function()
    local declared = { entry = { "io" } }
    local report = example():check_program(declared)
    assert.are_not.equal(declared.entry, report.declared_effects.entry)
    assert.are_not.equal(declared, report.declared_effects)
  end)

  it("reports a zero total budget when nothing declares one", function()
    assert.are.same({ declared_effects = {}, total_budget = 0 }, policy.pure():check_program{})
  end)

  it("reports an ungranted effect with its effect and function name", function()
    local report, v = example():check_program{ entry = { "io", "env" } }
    assert.is_nil(report)
    assert.are.equal(1, #v)
    assert_violation(v[1], "effect_not_allowed")
    assert.are.equal("env", v[1].effect)
    assert.are.equal("entry", v[1].at)
    assert.is_nil(v[1].path)
    assert.matches("'env'", v[1].detail)
  end)

  it("needs the bare grant for a budget effect", function()
    local _, v = policy{ allow_effects = { "io" } }:check_program{ f = { "budget:5" } }
    assert_violation(v[1], "effect_not_allowed")
    assert.are.equal("budget:5", v[1].effect)
    assert.are.equal("f", v[1].at)
    -- a parameterised grant is not the budget grant: N is an amount, not a scope
    local _, v2 = policy{ allow_effects = { "budget:5" } }:check_program{ f = { "budget:5" } }
    assert_violation(v2[1], "effect_not_allowed")
  end)

  it("needs an fs path to lie inside the path list as well as the grant", function()
    local _, v = example():check_program{ entry = { "fs_read:/etc/x", "fs_write:/srv/out/ok" } }
    assert.are.equal(1, #v)
    assert_violation(v[1], "fs_path_not_allowed")
    assert.are.equal("/etc/x", v[1].path)
    assert.are.equal("fs_read:/etc/x", v[1].effect)
    assert.are.equal("entry", v[1].at)
  end)

  it("keeps a declared path as given, before normalisation", function()
    local _, v = example():check_program{ f = { "fs_read(/srv/data/../../etc/passwd)" } }
    assert_violation(v[1], "fs_path_not_allowed")
    assert.are.equal("/srv/data/../../etc/passwd", v[1].path)
    assert.matches("resolves to '/etc/passwd'", v[1].detail, 1, true)
  end)

  it("reports an fs effect without the grant as not allowed, not as a path problem", function()
    local _, v = policy{ allow_fs_read = { "/srv" } }:check_program{ f = { "fs_read:/srv/x" } }
    assert_violation(v[1], "effect_not_allowed")
  end)

  it("accepts any declared path when the path list is empty", function()
    local report = policy{ allow_effects = { "fs_read" } }:check_program{ f = { "fs_read:/etc/shadow" } }
    assert.are.equal(0, report.total_budget)
  end)

  it("checks declared hosts and commands the way dispatch will", function()
    local _, v = example():check_program{ f = { "net:api.example.com", "net:evil.com",
                                                "proc:ls", "proc(rm)" } }
    assert.are.equal(2, #v)
    assert_violation(v[1], "net_host_not_allowed")
    assert.are.equal("net:evil.com", v[1].effect)
    assert_violation(v[2], "proc_not_allowed")
    assert.are.equal("proc(rm)", v[2].effect)
  end)

  it("sums budget effects over all functions and refuses a sum past the ceiling", function()
    local p = policy{ allow_effects = { "budget" }, budget = 10 }
    assert.are.equal(10, p:check_program{ a = { "budget:4" }, b = { "budget:6" } }.total_budget)
    local report, v = p:check_program{ a = { "budget:4" }, b = { "budget:7" } }
    assert.is_nil(report)
    assert.are.equal(1, #v)
    assert_violation(v[1], "budget_exceeded")
    assert.matches("11", v[1].detail)
    assert.matches("10", v[1].detail)
  end)

  it("allows any budget sum when there is no ceiling", function()
    local p = policy{ allow_effects = { "budget" } }
    assert.are.equal(2000000, p:check_program{ a = { "budget:1000000", "budget:1000000" } }.total_budget)
  end)

  it("saturates an overflowing budget sum so it still exceeds the ceiling", function()
    local p = policy{ allow_effects = { "budget" }, budget = 1000 }
    local big = "budget:" .. math.tointeger(math.maxinteger)
    local _, v = p:check_program{ a = { big, big } }
    assert_violation(v[1], "budget_exceeded")
    local q = policy{ allow_effects = { "budget" } }
    assert.are.equal(math.maxinteger, q:check_program{ a = { big, "budget:1" } }.total_budget)
  end)

  it("counts a bare budget effect as zero", function()
    assert.are.equal(3, example():check_program{ a = { "budget", "budget:3" } }.total_budget)
  end)

  it("collects every violation, in sorted function order, budget last", function()
    local p = policy{ allow_effects = { "io", "fs_read", "budget" },
                      allow_fs_read = { "/srv/data" }, budget = 5 }
    local _, v = p:check_program{
      zeta = { "net", "budget:3" },
      alpha = { "fs_read:/etc/x", "env", "budget:3" },
      mid = { "io" },
    }
    local got = {}
    for i, x in ipairs(v) do got[i] = { x.kind, x.at, x.effect } end
    assert.are.same({
      { "fs_path_not_allowed", "alpha", "fs_read:/etc/x" },
      { "effect_not_allowed", "alpha", "env" },
      { "effect_not_allowed", "zeta", "net" },
      { "budget_exceeded", nil, nil },
    }, got)
  end)

  it("raises an argument error for a declared table of the wrong shape", function()
    local p = example()
    for _, v in ipairs(NON_STRINGS) do
      if type(v[1]) ~= "table" then
        assert.are.equal("bad argument #1 to 'check_program' (table expected, got " .. type(v[1]) .. ")",
          error_of(p.check_program, p, v[1]))
      end
    end
    assert.are.equal("bad argument #1 to 'check_program' (function names must be strings, got number)",
      error_of(p.check_program, p, { { "io" } }))
    assert.are.equal("bad argument #1 to 'check_program' (effects of 'f' must be a list of strings)",
      error_of(p.check_program, p, { f = "io" }))
    assert.are.equal("bad argument #1 to 'check_program' (effects of 'f' must be a list of strings)",
      error_of(p.check_program, p, { f = { "io", 7 } }))
  end)

  it("raises an argument error for a malformed budget amount", function()
    local p = example()
    for _, e in ipairs{ "budget:x", "budget:-1", "budget:1.5", "budget(1e3)",
                        "budget:99999999999999999999" } do
      assert.are.equal(("bad argument #1 to 'check_program' (malformed budget effect '%s' in 'f')"):format(e),
        error_of(p.check_program, p, { f = { e } }))
    end
  end)

  it("raises a bad-self error when not called on a policy", function()
    assert.matches("calling 'check_program' on bad self", error_of(example().check_program, {}, {}))
  end)
end)

describe("p:check_call, the dispatch gate", function()
  it("returns nil for an allowed call of an unscoped kind", function()
    assert.is_nil(example():check_call("io", "print", "hello"))
  end)

  it("returns an effect_not_allowed violation, without raising, for an ungranted kind", function()
    local v = example():check_call("env", "get", "HOME")
    assert_violation(v, "effect_not_allowed")
    assert.are.equal("env", v.effect)
    assert.are.equal("env.get", v.at)
    assert.are.equal("policy violation: effect_not_allowed effect 'env' is not granted (at env.get)",
      tostring(v))
  end)

  it("applies the grant rules to a parameterised kind", function()
    local p = example()
    assert.is_nil(p:check_call("mcp:ocpp", "call"))
    assert.is_nil(p:check_call("mcp(ocpp)", "call"))
    local v = p:check_call("mcp:other", "call")
    assert_violation(v, "effect_not_allowed")
    assert.are.equal("mcp:other.call", v.at)
    assert_violation(p:check_call("mcp", "call"), "effect_not_allowed")
  end)

  it("still checks the scope of a parameterised scoped kind", function()
    local p = policy{ allow_effects = { "fs_read" }, allow_fs_read = { "/srv" } }
    assert_violation(p:check_call("fs_read:x", "open", "/etc/passwd"), "fs_path_not_allowed")
    assert.is_nil(p:check_call("fs_read:x", "open", "/srv/x"))
  end)

  it("raises an argument error for a non-string kind or op", function()
    local p = example()
    for _, v in ipairs(NON_STRINGS) do
      assert.are.equal("bad argument #1 to 'check_call' (string expected, got " .. type(v[1]) .. ")",
        error_of(p.check_call, p, v[1], "op"))
      assert.are.equal("bad argument #2 to 'check_call' (string expected, got " .. type(v[1]) .. ")",
        error_of(p.check_call, p, "io", v[1]))
    end
  end)

  it("refuses an empty kind as not allowed", function()
    assert_violation(example():check_call("", "x"), "effect_not_allowed")
  end)

  it("raises a bad-self error when not called on a policy", function()
    assert.matches("calling 'check_call' on bad self", error_of(example().check_call, nil, "io", "x"))
  end)

  describe("for fs_read and fs_write paths", function()
    local p = example()

    it("allows a path inside a granted prefix, and the prefix itself", function()
      for _, path in ipairs{ "/srv/data", "/srv/data/", "/srv/data/x", "/srv/data/a/b/c.txt" } do
        assert.is_nil(p:check_call("fs_read", "open", path), path)
      end
    end)

    it("normalises '.', repeated slashes and harmless '..' before comparing", function()
      for _, path in ipairs{ "/srv/data/./x", "/srv//data/x", "//srv///data//x",
                             "/srv/data/a/../x", "/srv/other/../data/x", "/../srv/data/x" } do
        assert.is_nil(p:check_call("fs_read", "open", path), path)
      end
    end)

    it("refuses traversal out of the prefix and keeps the path as given", function()
      local v = p:check_call("fs_read", "open", "/srv/data/../../etc/passwd")
      assert_violation(v, "fs_path_not_allowed")
      assert.are.equal("/srv/data/../../etc/passwd", v.path)
      assert.are.equal("fs_read", v.effect)
      assert.are.equal("fs_read.open", v.at)
      assert.matches("resolves to '/etc/passwd'", v.detail, 1, true)
      assert_violation(p:check_call("fs_read", "open", "/srv/data/.."), "fs_path_not_allowed")
    end)

    it("compares whole components, so /srv/data2 is not inside /srv/data", function()
      for _, path in ipairs{ "/srv/data2/x", "/srv/data2", "/srv/dat", "/srv/data.bak/x", "/srv" } do
        local v = p:check_call("fs_read", "open", path)
        assert_violation(v, "fs_path_not_allowed")
        assert.are.equal(path, v.path)
      end
    end)

    it("is case-sensitive, as POSIX paths are", function()
      assert_violation(p:check_call("fs_read", "open", "/SRV/data/x"), "fs_path_not_allowed")
    end)

    it("refuses a relative path against absolute grants", function()
      for _, path in ipairs{ "srv/data/x", "./srv/data/x", "x", "." } do
        assert_violation(p:check_call("fs_read", "open", path), "fs_path_not_allowed")
      end
    end)

    it("allows a relative path only inside a relative grant, never climbing out", function()
      assert.is_nil(p:check_call("fs_write", "open", "tmp/a"))
      assert.is_nil(p:check_call("fs_write", "open", "./tmp//a"))
      assert_violation(p:check_call("fs_write", "open", "tmp/../../tmp/a"), "fs_path_not_allowed")
      assert_violation(p:check_call("fs_write", "open", "/tmp/a"), "fs_path_not_allowed")
      assert_violation(p:check_call("fs_write", "open", "tmpx/a"), "fs_path_not_allowed")
    end)

    it("checks fs_write against its own list, not fs_read's", function()
      assert.is_nil(p:check_call("fs_write", "open", "/srv/out/x"))
      assert_violation(p:check_call("fs_write", "open", "/srv/data/x"), "fs_path_not_allowed")
      assert_violation(p:check_call("fs_read", "open", "/srv/out/x"), "fs_path_not_allowed")
    end)

    it("refuses an empty path and a path with a NUL byte", function()
      assert_violation(p:check_call("fs_read", "open", ""), "fs_path_not_allowed")
      -- the C side would stop at the NUL and open /etc, while the string resolves inside
      local v = p:check_call("fs_read", "open", "/srv/data/../../etc\0/../../srv/data/x")
      assert_violation(v, "fs_path_not_allowed")
    end)

    it("refuses a missing or non-string path with a violation, not a crash", function()
      for _, a in ipairs(NON_STRINGS) do
        local v = p:check_call("fs_read", "open", a[1])
        assert_violation(v, "fs_path_not_allowed")
        assert.is_nil(v.path)
        assert.matches("got " .. type(a[1]), v.detail)
      end
    end)

    it("allows every path, even a missing one, when the list is empty", function()
      local q = policy{ allow_effects = { "fs_read" } }
      assert.is_nil(q:check_call("fs_read", "open", "/etc/shadow"))
      assert.is_nil(q:check_call("fs_read", "open", "../../x"))
      assert.is_nil(q:check_call("fs_read", "open"))
    end)

    it("lets a grant of / cover every absolute path", function()
      local q = policy{ allow_effects = { "fs_read" }, allow_fs_read = { "/" } }
      assert.is_nil(q:check_call("fs_read", "open", "/etc/passwd"))
      assert_violation(q:check_call("fs_read", "open", "etc/passwd"), "fs_path_not_allowed")
    end)

    it("normalises the grants too", function()
      local q = policy{ allow_effects = { "fs_read" }, allow_fs_read = { "/srv//data/./sub/../" } }
      assert.is_nil(q:check_call("fs_read", "open", "/srv/data/x"))
      assert_violation(q:check_call("fs_read", "open", "/srv/x"), "fs_path_not_allowed")
    end)
  end)

  describe("for net hosts", function()
    local p = example()

    it("allows a granted host given bare, with a port, or as a URL", function()
      for _, u in ipairs{ "api.example.com", "api.example.com:8443", "https://api.example.com",
                          "https://api.example.com/v1/x?q=1#frag", "http://user:pw@api.example.com:80/",
                          "//api.example.com/x", "redis://api.example.com:6379/0",
                          "api.example.com/path" } do
        assert.is_nil(p:check_call("net", "get", u), u)
      end
    end)

    it("compares hosts case-insensitively and ignores one trailing dot", function()
      for _, u in ipairs{ "API.EXAMPLE.COM", "HTTPS://Api.Example.Com/X", "api.example.com.",
                          "http://api.example.com.:443/" } do
        assert.is_nil(p:check_call("net", "get", u), u)
      end
    end)

    it("refuses a host that is not granted, reporting the parsed host", function()
      local v = p:check_call("net", "get", "https://evil.com/x")
      assert_violation(v, "net_host_not_allowed")
      assert.are.equal("net.get", v.at)
      assert.are.equal("net", v.effect)
      assert.is_nil(v.path)
      assert.matches("host 'evil.com'", v.detail, 1, true)
    end)

    it("refuses look-alike hosts", function()
      for _, u in ipairs{ "api.example.com.evil.net", "api-example.com", "xapi.example.com",
                          "api.example.co", "api.example.com..", "sub.api.example.com",
                          "api.example.comx" } do
        assert_violation(p:check_call("net", "get", u), "net_host_not_allowed")
      end
    end)

    it("finds the real host behind userinfo", function()
      local v = p:check_call("net", "get", "http://api.example.com@evil.com/")
      assert_violation(v, "net_host_not_allowed")
      assert.matches("host 'evil.com'", v.detail, 1, true)
      assert_violation(p:check_call("net", "get", "http://api.example.com:443@evil.com/"),
        "net_host_not_allowed")
    end)

    it("does not read a host out of the path, query or fragment", function()
      for _, u in ipairs{ "http://evil.com/?x=api.example.com", "http://evil.com/api.example.com",
                          "http://evil.com#api.example.com", "http://evil.com?@api.example.com",
                          "http://evil.com/@api.example.com", "http://evil.com#@api.example.com" } do
        local v = p:check_call("net", "get", u)
        assert_violation(v, "net_host_not_allowed")
        assert.matches("host 'evil.com'", v.detail, 1, true)
      end
    end)

    it("refuses URLs that URL parsers read differently", function()
      for _, u in ipairs{ "http://a@api.example.com@evil.com/", "http://evil.com\\@api.example.com",
                          "http://api.example.com\\.evil.com", "http://api.example.com%2eevil.com",
                          "http://api.example.com evil.com", "http://api.example.com\tx",
                          "http://api.example.com\0.evil.com", "http://api.exa\nmple.com" } do
        assert_violation(p:check_call("net", "get", u), "net_host_not_allowed")
      end
    end)

    it("refuses bad ports and empty hosts", function()
      for _, u in ipairs{ "api.example.com:http", "api.example.com:99999", "api.example.com:1:2",
                          "http://", "http://:80/", "", ":80", "http://@/", "." } do
        assert_violation(p:check_call("net", "get", u), "net_host_not_allowed")
      end
    end)

    it("lets *.domain cover subdomains on a dot boundary only", function()
      for _, u in ipairs{ "a.cdn.example.com", "https://x.y.cdn.example.com/img.png", "A.CDN.Example.com." } do
        assert.is_nil(p:check_call("net", "get", u), u)
      end
      for _, u in ipairs{ "cdn.example.com", "evilcdn.example.com", "cdn.example.com.attacker.net",
                          "a.cdn.example.com.attacker.net", ".cdn.example.com", "a..cdn.example.com",
                          "https://evil.com/a.cdn.example.com", "https://a.cdn.example.com@evil.com" } do
        assert_violation(p:check_call("net", "get", u), "net_host_not_allowed")
      end
    end)

    it("reads IPv6 literals in brackets, with or without a port", function()
      local q = policy{ allow_effects = { "net" }, allow_net_host = { "[::1]", "2001:DB8::1" } }
      for _, u in ipairs{ "[::1]", "[::1]:80", "http://[::1]:8080/x", "::1", "http://[2001:db8::1]/" } do
        assert.is_nil(q:check_call("net", "get", u), u)
      end
      for _, u in ipairs{ "[::2]:80", "http://[::1", "http://[evil.com]/", "http://[::1]x/" } do
        assert_violation(q:check_call("net", "get", u), "net_host_not_allowed")
      end
    end)

    it("refuses non-ASCII hosts instead of guessing their encoding", function()
      assert_violation(p:check_call("net", "get", "https://аpi.example.com/"), "net_host_not_allowed")
    end)

    it("refuses a missing or non-string host with a violation, not a crash", function()
      for _, a in ipairs(NON_STRINGS) do
        local v = p:check_call("net", "get", a[1])
        assert_violation(v, "net_host_not_allowed")
        assert.matches("got " .. type(a[1]), v.detail)
      end
    end)

    it("allows every host when the list is empty", function()
      local q = policy{ allow_effects = { "net" } }
      assert.is_nil(q:check_call("net", "get", "http://evil.com/"))
      assert.is_nil(q:check_call("net", "get"))
    end)
  end)

  describe("for proc commands", function()
    local p = example()

    it("allows a command whose first word has a granted basename", function()
      for _, c in ipairs{ "ls", "ls -l /srv", "  ls\t-a", "/bin/ls", "/usr/bin/ls -la" } do
        assert.is_nil(p:check_call("proc", "run", c), c)
      end
    end)

    it("refuses a command whose binary is not granted", function()
      for _, c in ipairs{ "rm -rf /", "lsx", "/bin/ls/", "l", "LS", "echo ls" } do
        local v = p:check_call("proc", "run", c)
        assert_violation(v, "proc_not_allowed")
        assert.are.equal("proc.run", v.at)
        assert.are.equal("proc", v.effect)
      end
    end)

    it("refuses commands a shell would stretch past the first word", function()
      for _, c in ipairs{ "ls; rm -rf /", "ls && rm x", "ls | sh", "ls `rm x`", "ls $(rm x)",
                          "ls > /etc/passwd", "ls < x", "ls\nrm x", "ls\rrm x", "ls\0", "ls \\\nrm",
                          "(rm x)", "ls\127" } do
        local v = p:check_call("proc", "run", c)
        assert_violation(v, "proc_not_allowed")
        assert.matches("shell control characters", v.detail, 1, true)
      end
    end)

    it("refuses an empty or blank command", function()
      for _, c in ipairs{ "", "   ", "/" } do
        assert_violation(p:check_call("proc", "run", c), "proc_not_allowed")
      end
    end)

    it("refuses a missing or non-string command with a violation, not a crash", function()
      for _, a in ipairs(NON_STRINGS) do
        local v = p:check_call("proc", "run", a[1])
        assert_violation(v, "proc_not_allowed")
        assert.matches("got " .. type(a[1]), v.detail)
      end
    end)

    it("allows every command when the list is empty", function()
      local q = policy{ allow_effects = { "proc" } }
      assert.is_nil(q:check_call("proc", "run", "rm -rf /tmp/x; echo"))
      assert.is_nil(q:check_call("proc", "run", {}))
    end)
  end)
end)

describe("policy.violation", function()
  it("builds a violation table with kind, detail and optional fields", function()
    local v = policy.violation("budget_exceeded", "spent 11 of 10",
      { effect = "budget", at = "f", path = "/p" })
    assert.are.equal("budget_exceeded", v.kind)
    assert.are.equal("spent 11 of 10", v.detail)
    assert.are.equal("budget", v.effect)
    assert.are.equal("f", v.at)
    assert.are.equal("/p", v.path)
    assert.are.equal("policy violation: budget_exceeded spent 11 of 10", tostring(v))
    assert.is_true(policy.is_violation(v))
  end)

  it("leaves the optional fields nil when not given", function()
    local v = policy.violation("effect_not_allowed", "no")
    assert.is_nil(v.effect)
    assert.is_nil(v.at)
    assert.is_nil(v.path)
  end)

  it("accepts each of the five violation kinds and refuses others", function()
    for _, k in ipairs{ "effect_not_allowed", "fs_path_not_allowed", "net_host_not_allowed",
                        "proc_not_allowed", "budget_exceeded" } do
      assert.are.equal(k, policy.violation(k, "d").kind)
    end
    assert.are.equal("bad argument #1 to 'violation' (unknown violation kind 'oops')",
      error_of(policy.violation, "oops", "d"))
  end)

  it("raises argument errors for wrong argument types", function()
    assert.are.equal("bad argument #1 to 'violation' (string expected, got number)",
      error_of(policy.violation, 1, "d"))
    assert.are.equal("bad argument #2 to 'violation' (string expected, got nil)",
      error_of(policy.violation, "budget_exceeded"))
    assert.are.equal("bad argument #3 to 'violation' (table or nil expected, got string)",
      error_of(policy.violation, "budget_exceeded", "d", "f"))
    assert.are.equal("bad argument #3 to 'violation' (unknown field 'where')",
      error_of(policy.violation, "budget_exceeded", "d", { where = "x" }))
    assert.are.equal("bad argument #3 to 'violation' (field 'at' must be a string)",
      error_of(policy.violation, "budget_exceeded", "d", { at = 3 }))
  end)

  it("survives being raised and caught as an error value", function()
    local ok, err = pcall(error, policy.violation("proc_not_allowed", "'rm' is not in allow_proc"))
    assert.is_false(ok)
    assert.is_true(policy.is_violation(err))
    assert.are.equal("policy violation: proc_not_allowed 'rm' is not in allow_proc", tostring(err))
  end)

  it("is_violation is false for look-alike tables and other values", function()
    for _, v in ipairs{ { kind = "effect_not_allowed", detail = "x" }, "policy violation: x", 1, true, print } do
      assert.is_false(policy.is_violation(v))
    end
    assert.is_false(policy.is_violation(nil))
  end)
end)
