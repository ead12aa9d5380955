-- Isolates' string.find/match/gmatch/gsub: lexrt's own matcher
-- (csrc/pattern.c), which must give what the host's Lua 5.4 string
-- library gives, and whose work counts against max_instructions.
local lexrt = require("lexrt")
local support = require("spec.support")
local err_of = support.err_of

-- Runs one case and describes its outcome as a list of strings: "ok" and
-- each result typed ("i:3", "f:3.0", "s:abc", "nil", "b:false"), or
-- "error" and the message without its "chunk:line:" prefix. The same text
-- runs inside the isolate and in the host, so the two lists compare.
local RUN = [==[
local function enc(v)
  local t = math.type(v)
  if t then return (t == "integer" and "i:" or "f:") .. tostring(v) end
  if v == nil then return "nil" end
  return type(v):sub(1, 1) .. ":" .. tostring(v)
end
local function strip(e)
  if type(e) ~= "string" then return "non-string error " .. type(e) end
  return (e:gsub("^[^\n]-:%d+: ", ""))
end
local function pack(ok, ...)
  if not ok then return { "error", strip((...)) } end
  local out = { "ok" }
  for i = 1, select("#", ...) do out[#out + 1] = enc((select(i, ...))) end
  return out
end
local REPL_T = { a = "<A>", b = false, c = 1.5, d = 7, ["1"] = "one", [3] = "three" }
local REPL_BAD = { a = {} }
local function repl_f(...)
  local n, first = select("#", ...), ...
  if first == "b" then return nil end
  if first == "c" then return false end
  if first == "d" then return 2.0 end
  if first == "e" then return {} end
  local parts = {}
  for i = 1, n do parts[i] = enc((select(i, ...))) end
  return "[" .. table.concat(parts, ",") .. "]"
end
local function gmatch_all(...)
  local out, it = {}, string.gmatch(...)
  for _ = 1, 500 do
    local r = table.pack(it())
    if r.n == 0 or r[1] == nil then break end
    for i = 1, r.n do r[i] = enc(r[i]) end
    out[#out + 1] = table.concat(r, ",", 1, r.n)
  end
  return table.concat(out, "|")
end
local function run1(c)
  local a = c.args
  local n = a.n or #a
  if c.op == "gmatch" then return pack(pcall(gmatch_all, table.unpack(a, 1, n))) end
  if c.op == "gsub" and c.repl then
    local r = c.repl == "t" and REPL_T or c.repl == "tbad" and REPL_BAD or repl_f
    return pack(pcall(string.gsub, a[1], a[2], r, a[4]))
  end
  return pack(pcall(string[c.op], table.unpack(a, 1, n)))
end
]==]

local function host_run()
  return assert(load(RUN .. " return run1", "=host"))()
end

local function new_iso(opts)
  opts = opts or {}
  opts.source = RUN .. [[
    return function(cases)
      local out = {}
      for i, c in ipairs(cases) do out[i] = run1(c) end
      return out
    end
  ]]
  return lexrt.isolate(opts)
end

-- Checks every case in the isolate against the host; returns how many.
local function differential(cases, iso)
  iso = iso or new_iso()
  local run1 = host_run()
  local batch = 200
  for first = 1, #cases, batch do
    local part = {}
    for i = first, math.min(first + batch - 1, #cases) do
      part[#part + 1] = cases[i]
    end
    local got = iso:call(part)
    for i, c in ipairs(part) do
      local want = run1(c)
      if not (#want == #got[i] and table.concat(want, "\0") == table.concat(got[i], "\0")) then
        local shown = {}
        for k = 1, c.args.n or #c.args do
          shown[k] = ("%q"):format(c.args[k])
        end
        error(("%s(%s)%s: host %s, isolate %s"):format(c.op, table.concat(shown, ", "),
          c.repl and (" repl " .. c.repl) or "",
          table.concat(want, " "), table.concat(got[i], " ")), 2)
      end
    end
  end
  return #cases
end

local function case(op, ...)
  return { op = op, args = table.pack(...) }
end

-- Every feature and every error, by hand.
local function hand_cases()
  local c = {}
  local function add(op, ...)
    c[#c + 1] = case(op, ...)
  end
  local subjects = { "", "a", "hello world", "  key = value  ", "THE (quick) [brown] fox",
    "aaa", "a.b-c%d", "x\0y\0z", "f(a(b)c)d", "12ab34 cd 5", "\200\255 caf\195\169" }
  local patterns = {
    "", "a", "o", "l+", "l*", "l-", "l?", "^h", "^", "$", "d$", "^$", "a$b", ".", ".-", ".*", ".+",
    "%a+", "%A+", "%c", "%C", "%d+", "%D+", "%g+", "%G", "%l+", "%L", "%p", "%P+", "%s+", "%S+",
    "%u+", "%U", "%w+", "%W", "%x+", "%X", "%z", "%Z+", "%.", "%%", "%(", "[aeiou]", "[^aeiou]+",
    "[a-f]+", "[%a_][%w_]*", "[%]]", "[]]", "[^]]+", "[a-]", "[-a]", "[%d%s]+", "[\0-\31]",
    "[\128-\255]+", "()", "()a()", "(a)", "(h)(e)(l)", "((l)(l))", "(%w+)%s*=%s*(%w+)",
    "^%s*(.-)%s*$", "%b()", "%b[]", "%bxy", "%b%%", "%f[%w]%w+", "%f[%W]", "%f[%a]", "%f[^%z]",
    "%f[\0]", "(l)%1", "(.)%1", "(a*)%1", "()%1", "(l)(o)%2", "%1", "(a)%2", "(a)%0", "(a", "a)",
    "(()", "%", "a%", "[a", "[^", "[]", "[%", "%f", "%fa", "%f[a", "%b", "%bx", "%b(", "((((((((((((((((((((((((((((((((a))))))))))))))))))))))))))))))))",
    "(((((((((((((((((((((((((((((((((a)))))))))))))))))))))))))))))))))", "a-b", "a-$",
    "[%w-]+", "%w-%s", "(%a+)(%A-)(.)", "x%zy", "x\0y", "\0", "[\0]", "%x*", "(%s*)", "(.-)o",
    "%d*", "%d-", "%d?", "^(%d+)", "^-", "^*", "*", "+", "-", "?", "(.)()(%a*)()",
  }
  for _, s in ipairs(subjects) do
    for _, p in ipairs(patterns) do
      add("find", s, p)
      add("match", s, p)
      add("gmatch", s, p)
      add("gsub", s, p, "<%0>")
      c[#c + 1] = { op = "gsub", args = { s, p, n = 2 }, repl = "f" }
    end
  end
  -- init: positive, negative, zero, past the end, floats
  for _, init in ipairs({ 1, 2, 5, 11, 12, 13, 100, 0, -1, -3, -11, -12, -100, 2.0, math.maxinteger, math.mininteger }) do
    for _, p in ipairs({ "o", "l+", "", "^l", "()", "$", "x*" }) do
      add("find", "hello world", p, init)
      add("find", "hello world", p, init, true)
      add("match", "hello world", p, init)
      add("gmatch", "hello world", p, init)
    end
  end
  -- plain find
  for _, p in ipairs({ "", "o w", "l", ".", "%a", "(", "world", "hello world!", "d", "x\0", "[" }) do
    add("find", "hello world", p, 1, true)
    add("find", "hello world", p, 3, 1)
    add("find", "hello world", p, nil, false)
    add("find", "x\0y", p, 1, true)
  end
  -- gsub: repl strings, max n, anchors, tables, functions
  for _, r in ipairs({ "", "x", "%%", "%0%0", "%1", "%2", "[%1|%2]", "%", "a%", "%a", "%9", "%1%", 7, 2.5 }) do
    add("gsub", "hello world", "(o)", r)
    add("gsub", "hello world", "o", r)
    add("gsub", "hello world", "()(l+)", r)
    add("gsub", "hello world", "", r)
  end
  for _, max in ipairs({ 0, 1, 2, -1, 100, 1.0 }) do
    add("gsub", "abcabc", "b", "B", max)
    add("gsub", "abcabc", "", "-", max)
    add("gsub", "abcabc", "^a", "A", max)
  end
  for _, r in ipairs({ "t", "f", "tbad" }) do
    for _, p in ipairs({ "%a", "(%a)(%a)", "()", "(a)()", "", "^a", "x*", "%d" }) do
      for _, s in ipairs({ "abcde", "a1 b2 c3 d", "" }) do
        c[#c + 1] = { op = "gsub", args = { s, p, n = 2 }, repl = r }
      end
    end
  end
  add("gsub", "abc", "%w", "%1", 1)
  add("gsub", "abc", "^", ">")
  add("gsub", "abc", "$", "<")
  add("gsub", "", "", "x")
  add("gsub", "hello world", "%w+", "%0 %0", 1)
  add("gsub", "abc", "b*", "-")
  add("gsub", "a,b,,c", ",*", ";")
  add("gsub", "abc", "(", "x")
  add("gsub", "abc", "(b", "x")
  -- depth: Lua's 200 levels, exactly
  for _, n in ipairs({ 197, 198, 199, 200, 201 }) do
    add("find", ("a"):rep(300), ("a?"):rep(n))
    add("find", ("a"):rep(300), ("a*"):rep(n))
    add("find", ("a"):rep(300), ("a-"):rep(n) .. "$")
    add("match", ("a"):rep(300), ("(a)"):rep(math.min(n, 32)) .. ("a?"):rep(n))
    add("find", "", ("()"):rep(n))
  end
  add("find", ("b"):rep(300), ("a?"):rep(300)) -- no depth when nothing matches
  -- arguments
  add("find")
  add("find", "a")
  add("find", nil, "a")
  add("find", {}, "a")
  add("find", 12345, 3)
  add("find", 12.5, "%.")
  add("find", "abc", 2)
  add("find", "abc", "b", "2")
  add("find", "abc", "b", "x")
  add("find", "abc", "b", 1.5)
  add("find", "abc", "b", {})
  add("match", "abc")
  add("match", 123, "%d")
  add("gmatch", "abc")
  add("gmatch", nil, "a")
  add("gmatch", "abc", ".", 2.5)
  add("gsub", "abc", "b")
  add("gsub", "abc", "b", true)
  add("gsub", "abc", "b", "x", "y")
  add("gsub", "abc", "b", "x", 1.5)
  add("gsub", 123, "2", "x")
  add("gsub", 123, "x", "y")
  add("gsub", "abc", nil, "x")
  add("gsub", "abc", "b", nil, "y")
  return c
end

-- A fixed-seed generator of patterns and subjects (an LCG of our own, so
-- the cases are the same on every run and every Lua build).
local function random_cases(count)
  local state = 20241217
  local function rnd(n)
    state = (state * 1103515245 + 12345) % 2147483648
    return state % n + 1
  end
  local function pick(t)
    return t[rnd(#t)]
  end
  local bytes = { "a", "a", "b", "b", "c", "(", ")", "[", "]", "%", "-", ".", " ", "1", "x", "\0", "é", "A", "_" }
  local atoms = { "a", "b", "c", ".", "%a", "%d", "%s", "%w", "%p", "%A", "%S", "%l", "%u", "%x", "%z",
    "[ab]", "[^a]", "[a-c]", "[%a_]", "[%]a]", "[^%s]", "%(", "%.", "%%", "x", " ", "1", "-", "é" }
  local specials = { "%b()", "%b[]", "%bab", "%f[%w]", "%f[%W]", "%f[a]", "()", "%1", "%2", "$", "^",
    "%", "[", "(", ")", "%b", "%f", "[a", "%0" }
  local quants = { "", "", "", "*", "+", "-", "?" }
  local ops = { "find", "match", "gmatch", "gsub", "gsub_f", "gsub_t" }
  local out = {}
  for _ = 1, count do
    local s = {}
    for i = 1, rnd(12) - 1 do
      s[i] = pick(bytes)
    end
    local p = {}
    if rnd(6) == 1 then
      p[#p + 1] = "^"
    end
    local open = 0
    for _ = 1, rnd(6) do
      local r = rnd(10)
      if r <= 6 then
        p[#p + 1] = pick(atoms) .. pick(quants)
      elseif r == 7 then
        p[#p + 1] = pick(specials)
      elseif r == 8 then
        p[#p + 1] = "("
        open = open + 1
      elseif r == 9 and open > 0 then
        p[#p + 1] = ")"
        open = open - 1
      else
        p[#p + 1] = "%" .. rnd(3)
      end
    end
    for _ = 1, open do
      if rnd(4) > 1 then
        p[#p + 1] = ")"
      end
    end
    if rnd(5) == 1 then
      p[#p + 1] = "$"
    end
    local subject, pattern = table.concat(s), table.concat(p)
    local init = ({ nil, nil, 1, 2, -1, -3, 0, 20 })[rnd(8)]
    local op = pick(ops)
    if op == "gsub" then
      out[#out + 1] = case("gsub", subject, pattern, pick({ "<%0>", "%1", "[%1%2]", "x", "%%" }),
        rnd(3) == 1 and rnd(3) or nil)
    elseif op == "gsub_f" or op == "gsub_t" then
      out[#out + 1] = { op = "gsub", args = { subject, pattern, n = 2 }, repl = op == "gsub_f" and "f" or "t" }
    elseif op == "find" and rnd(4) == 1 then
      out[#out + 1] = case("find", subject, pattern, init or 1, true)
    else
      out[#out + 1] = case(op, subject, pattern, init)
    end
  end
  return out
end

-- Runs `body` (Lua source) in a child interpreter: a hang fails the test
-- instead of stopping the run. The child prints "DONE" at its end.
local function in_child(body)
  local ok, out, code = support.in_child([[
    local lexrt = require("lexrt")
  ]] .. body .. [[
    print("DONE")
  ]], 120)
  assert(ok and out:find("DONE"), ("child failed (exit %s): %s"):format(tostring(code), out))
  return out
end

describe("isolate string patterns", function()
  describe("give what the host's string library gives", function()
    it("on hand-written cases covering every item, quantifier, capture and error", function()
      assert.is_true(differential(hand_cases()) > 5000)
    end)

    it("on a few thousand generated patterns and subjects (fixed seed)", function()
      assert.are.equal(4000, differential(random_cases(4000)))
    end)

    it("with a budget large enough, the same as without one", function()
      local iso = new_iso({ max_instructions = 1e9 })
      differential(random_cases(500), iso)
      differential(hand_cases(), iso)
    end)

    it("through string methods and the string metatable", function()
      local iso = lexrt.isolate{ source = [[
        return function(s)
          local words = {}
          for w in s:gmatch("%a+") do words[#words + 1] = w end
          return s:find("o"), s:match("(%a+)$"), (s:gsub("o", "0")), table.concat(words, ",")
        end
      ]] }
      assert.are.same({ 5, "world", "hell0 w0rld", "hello,world" }, { iso:call("hello world") })
    end)
  end)

  describe("under max_instructions", function()
    local SETUP = [[
      local subject = ("a"):rep(30000)
      local hostile = ("a*"):rep(30) .. "b"
      local iso = lexrt.isolate{ max_instructions = 1e6, source = [=[
        local subject = ("a"):rep(30000)
        local hostile = ("a*"):rep(30) .. "b"
        return function(how)
          if how == "find" then return string.find(subject, hostile) end
          if how == "match" then return subject:match(hostile) end
          if how == "gmatch" then for x in subject:gmatch(hostile) do end return "done" end
          if how == "gsub" then return subject:gsub(hostile, "x") end
          if how == "gsub_fn" then
            return subject:gsub("(a*)(a*)(a*)(a*)(a*)(a*)(a*)(a*)(a*)b", function(...)
              local n = 0
              for i = 1, select("#", ...) do n = n + #select(i, ...) end
              return n
            end)
          end
          if how == "fn_loop" then
            return subject:gsub("a", function(c) for _ = 1, 100 do end return c end)
          end
          if how == "plain" then
            return string.find(("a"):rep(1e5), ("a"):rep(5e4) .. "b", 1, true)
          end
          if how == "pcall" then
            pcall(string.find, subject, hostile)
            return string.find("abc", "b")
          end
          if how == "balance" then
            local s = ("("):rep(20000)
            return s:gsub("%b()", "")
          end
          return string.find("hello world", "o w")
        end
      ]=] }
    ]]

    local function stops(how)
      in_child(SETUP .. ([[
        local ok, e = pcall(iso.call, iso, %q)
        assert(not ok, "no error")
        assert(tostring(e):find("instruction budget exceeded", 1, true), e)
        assert(iso:call("ok") == 5, "the next call fails")
        local s = iso:stats()
        assert(s.instruction_stops == 1, s.instruction_stops)
      ]]):format(how))
    end

    it("stops a backtracking string.find, and the next call works", function()
      stops("find")
    end)

    it("stops a backtracking string.match", function()
      stops("match")
    end)

    it("stops a backtracking string.gmatch", function()
      stops("gmatch")
    end)

    it("stops a backtracking string.gsub", function()
      stops("gsub")
    end)

    it("stops a backtracking string.gsub whose replacement function runs Lua code", function()
      stops("gsub_fn")
    end)

    it("stops a gsub whose replacement function does the work", function()
      stops("fn_loop")
    end)

    it("stops a long plain find", function()
      stops("plain")
    end)

    it("stops a gsub scanning unbalanced %b", function()
      stops("balance")
    end)

    it("keeps a stopped call stopped when a pcall inside caught the stop", function()
      stops("pcall")
    end)

    it("lets ordinary pattern work through under a small budget", function()
      local iso = lexrt.isolate{ max_instructions = 20000, source = [[
        return function(s)
          local n = 0
          for _ = 1, 20 do
            local a, b = s:find("(%w+)=(%w+)")
            n = n + a + b + #s:gsub("%s", "")
          end
          return n
        end
      ]] }
      assert.are.equal(20 * (3 + 6 + 4), iso:call("  k=vv  "))
    end)

    it("charges the matcher's steps: the same call passes a large budget and stops under a small one", function()
      local src = [[
        return function(n) return (("ab"):rep(n)):gsub("(a)(b)", "%2%1") end
      ]]
      local big = lexrt.isolate{ max_instructions = 1e7, source = src }
      assert.are.equal(("ba"):rep(20000), (big:call(20000)))
      local small = lexrt.isolate{ max_instructions = 20000, source = src }
      assert.matches("instruction budget exceeded", err_of(small.call, small, 20000))
      assert.are.equal("ba", (small:call(1)))
    end)
  end)

  describe("without max_instructions", function()
    it("runs patterns to their end, like plain Lua", function()
      local iso = lexrt.isolate{ source = [[
        return function()
          local s, t = ("a"):rep(25), ("a"):rep(12)
          return s:find(("a*"):rep(5) .. "b"), (t:find(("a?"):rep(12) .. ("a"):rep(12) .. "$")),
            ("x"):rep(5000):gsub("x", "yy")
        end
      ]] }
      local r = table.pack(iso:call())
      assert.are.same({ n = 4, nil, 1, ("yy"):rep(5000), 5000 }, r)
    end)
  end)
end)
