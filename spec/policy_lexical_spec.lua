-- Spec for lexrt.policy.lexical: each string reader of the policy, alone
-- (SECURITY.md, "The policy's rules"). policy_spec checks the same rules
-- through the policy object; here every edge case meets the reader directly.
local lexical = require("lexrt.policy.lexical")

-- A path's normal form as text, or nil when it cannot be placed.
local function normal(s)
  local p = lexical.normalise_path(s)
  return p and lexical.path_string(p)
end

local function inside(path, grant)
  return lexical.path_inside(assert(lexical.normalise_path(path)),
    assert(lexical.normalise_path(grant)))
end

describe("lexical.parse_effect", function()
  it("reads a bare kind, KIND:PARAM and KIND(PARAM)", function()
    assert.are.same({ "mcp" }, { lexical.parse_effect("mcp") })
    assert.are.same({ "mcp", "ocpp" }, { lexical.parse_effect("mcp:ocpp") })
    assert.are.same({ "mcp", "ocpp" }, { lexical.parse_effect("mcp(ocpp)") })
  end)

  it("splits at the first colon, so a parameter may hold colons and parentheses", function()
    assert.are.same({ "fs_read", "/a:b" }, { lexical.parse_effect("fs_read:/a:b") })
    assert.are.same({ "net", "host:443" }, { lexical.parse_effect("net:host:443") })
    assert.are.same({ "mcp", "a(b)" }, { lexical.parse_effect("mcp:a(b)") })
  end)

  it("takes a string that fits neither form whole, as a literal kind", function()
    for _, s in ipairs{ "mcp:", "mcp(", "mcp()", "mcp(ocpp", ":x", "(x)", "", "a)b" } do
      assert.are.same({ s }, { lexical.parse_effect(s) })
    end
  end)

  it("gives both spellings of a parameterised effect one canonical form", function()
    assert.are.equal("mcp:ocpp", lexical.canonical_effect("mcp(ocpp)"))
    assert.are.equal("mcp:ocpp", lexical.canonical_effect("mcp:ocpp"))
    assert.are.equal("mcp", lexical.canonical_effect("mcp"))
    assert.are.equal("mcp(", lexical.canonical_effect("mcp("))
  end)
end)

describe("lexical.parse_grant", function()
  it("reads well-formed grants as parse_effect does", function()
    assert.are.same({ "io" }, { lexical.parse_grant("io") })
    assert.are.same({ "mcp", "ocpp" }, { lexical.parse_grant("mcp(ocpp)") })
    assert.are.same({ "fs_read", "/a:b" }, { lexical.parse_grant("fs_read:/a:b") })
  end)

  it("refuses an empty grant", function()
    assert.are.same({ nil, "empty" }, { lexical.parse_grant("") })
  end)

  it("refuses a grant with ':' or parentheses that is not KIND:PARAM or KIND(PARAM)", function()
    for _, g in ipairs{ "fs_read:", "mcp(", "mcp()", "mcp(ocpp", ":x", "(x)", "a)b", ":" } do
      assert.are.same({ nil, "malformed" }, { lexical.parse_grant(g) }, g)
    end
  end)

  it("leaves the question of unknown kinds to the policy", function()
    assert.are.same({ "ioo" }, { lexical.parse_grant("ioo") })
  end)
end)

describe("lexical.budget_amount", function()
  it("reads a bare budget as 0 and decimal digits as their amount", function()
    assert.are.equal(0, lexical.budget_amount(nil))
    assert.are.equal(0, lexical.budget_amount("0"))
    assert.are.equal(10, lexical.budget_amount("10"))
    assert.are.equal(7, lexical.budget_amount("007"))
    assert.are.equal(math.maxinteger, lexical.budget_amount(tostring(math.maxinteger)))
  end)

  it("refuses anything but plain decimal digits", function()
    for _, s in ipairs{ "", "-1", "+1", "1.5", "1e3", "0x10", " 1", "1 ", "ten" } do
      assert.is_nil(lexical.budget_amount(s), s)
    end
  end)

  it("refuses an amount past maxinteger instead of wrapping", function()
    assert.is_nil(lexical.budget_amount("9223372036854775808"))
    assert.is_nil(lexical.budget_amount("99999999999999999999"))
  end)
end)

describe("lexical.normalise_path", function()
  it("resolves '..' as text, so a climb out of a directory lands outside it", function()
    assert.are.equal("/etc/passwd", normal("/srv/data/../../etc/passwd"))
    assert.are.equal("/a/d", normal("/a/b/c/../../d"))
  end)

  it("treats '/..' at the root as the root, as POSIX does", function()
    assert.are.equal("/", normal("/.."))
    assert.are.equal("/x", normal("/../../x"))
  end)

  it("collapses repeated slashes and drops trailing ones", function()
    assert.are.equal("/", normal("//"))
    assert.are.equal("/", normal("/"))
    assert.are.equal("/srv/data", normal("///srv///data//"))
    assert.are.equal("/srv/data", normal("/srv/data/"))
  end)

  it("drops '.' components and keeps names that only look like them", function()
    assert.are.equal(".", normal("."))
    assert.are.equal("a/b", normal("./a/./b/."))
    assert.are.equal("/a/.../.x", normal("/a/.../.x"))
  end)

  it("keeps a relative path relative", function()
    local p = lexical.normalise_path("tmp/x")
    assert.is_false(p.absolute)
    assert.are.same({ "tmp", "x" }, p.parts)
    assert.are.equal(".", normal("a/.."))
  end)

  it("refuses a relative path that climbs above its start", function()
    for _, s in ipairs{ "..", "../x", "a/../..", "a/../../b", "./../x" } do
      assert.is_nil(lexical.normalise_path(s), s)
    end
  end)

  it("refuses an empty path and a path with a NUL byte", function()
    assert.is_nil(lexical.normalise_path(""))
    assert.is_nil(lexical.normalise_path("/srv/\0data"))
    assert.is_nil(lexical.normalise_path("/srv/data\0"))
  end)

  it("gives a backslash no meaning: it is part of a name", function()
    assert.are.same({ "srv\\..\\etc" }, lexical.normalise_path("/srv\\..\\etc").parts)
  end)
end)

describe("lexical.path_inside", function()
  it("holds the grant itself and everything below it", function()
    assert.is_true(inside("/srv/data", "/srv/data"))
    assert.is_true(inside("/srv/data/x", "/srv/data"))
    assert.is_true(inside("/srv/data/x/y/z", "/srv/data/"))
    assert.is_true(inside("/srv/data/./x/../y", "/srv/data"))
  end)

  it("compares whole components, so a shared prefix of a name is not inside", function()
    assert.is_false(inside("/srv/data2", "/srv/data"))
    assert.is_false(inside("/srv/dat", "/srv/data"))
    assert.is_false(inside("/srv", "/srv/data"))
  end)

  it("judges the normal form, not the text", function()
    assert.is_false(inside("/srv/data/../../etc/passwd", "/srv/data"))
    assert.is_false(inside("/srv/data/..", "/srv/data"))
    assert.is_true(inside("//srv//data//x", "/srv/data"))
  end)

  it("lets the root hold every absolute path and '.' every relative one", function()
    assert.is_true(inside("/etc/passwd", "/"))
    assert.is_true(inside("/", "//"))
    assert.is_true(inside("a/b", "."))
  end)

  it("never mixes absolute and relative paths", function()
    assert.is_false(inside("tmp/x", "/tmp"))
    assert.is_false(inside("/tmp/x", "tmp"))
    assert.is_false(inside("/tmp/x", "."))
    assert.is_true(inside("tmp/x", "tmp"))
  end)

  it("is case-sensitive", function()
    assert.is_false(inside("/SRV/data/x", "/srv/data"))
  end)
end)

describe("lexical.parse_host", function()
  local function host(s) return (lexical.parse_host(s)) end
  local function why(s)
    local h, reason = lexical.parse_host(s)
    assert.is_nil(h, s)
    return reason
  end

  it("reads a bare host, and a URL's host", function()
    assert.are.equal("api.example.com", host("api.example.com"))
    assert.are.equal("api.example.com", host("https://api.example.com"))
    assert.are.equal("api.example.com", host("https://api.example.com/v1/x"))
    assert.are.equal("api.example.com", host("//api.example.com/x"))
    assert.are.equal("127.0.0.1", host("http://127.0.0.1/"))
  end)

  it("skips userinfo up to the '@', so the host is what follows it", function()
    assert.are.equal("api.example.com", host("http://user:pass@api.example.com/"))
    assert.are.equal("evil.com", host("http://api.example.com@evil.com/"))
    assert.are.equal("evil.com", host("api.example.com@evil.com"))
  end)

  it("ends the authority at the first '/', '?' or '#'", function()
    assert.are.equal("evil.com", host("http://evil.com/?x=api.example.com"))
    assert.are.equal("evil.com", host("http://evil.com?x=@api.example.com"))
    assert.are.equal("evil.com", host("http://evil.com#@api.example.com"))
    assert.are.equal("evil.com", host("http://evil.com/@api.example.com"))
    assert.are.equal("api.example.com", host("https://api.example.com?q=1#frag"))
  end)

  it("drops a decimal port up to 65535, or an empty one", function()
    assert.are.equal("api.example.com", host("http://api.example.com:8443/p"))
    assert.are.equal("api.example.com", host("api.example.com:65535"))
    assert.are.equal("api.example.com", host("api.example.com:"))
  end)

  it("refuses a port that is not a decimal number up to 65535", function()
    for _, s in ipairs{ "api.example.com:65536", "api.example.com:99999",
                        "api.example.com:000443", "api.example.com:0x50",
                        "api.example.com:80:80", "api.example.com:8o",
                        "http://api.example.com:-1/" } do
      assert.are.equal("bad port", why(s), s)
    end
  end)

  it("lowercases the host and drops one trailing dot", function()
    assert.are.equal("api.example.com", host("HTTPS://API.Example.COM./x"))
    assert.are.equal("no valid host name", why("api.example.com.."))
  end)

  it("reads IPv6 literals, bracketed in a URL or bare", function()
    assert.are.equal("::1", host("http://[::1]:8080/"))
    assert.are.equal("::1", host("[::1]"))
    assert.are.equal("::1", host("::1"))
    assert.are.equal("::ffff:1.2.3.4", host("http://[::FFFF:1.2.3.4]/"))
    assert.are.equal("fe80::1", host("http://u@[FE80::1]:443/"))
  end)

  it("refuses a bracketed host that is not an IPv6 literal", function()
    for _, s in ipairs{ "http://[::1/", "http://[evil.com]/", "[]", "http://[::1]x/",
                        "http://[1.2.3.4]/" } do
      assert.is_nil(host(s), s)
    end
    assert.are.equal("bad IPv6 literal", why("http://[evil.com]/"))
    assert.are.equal("bad port", why("http://[::1]x/"))
  end)

  it("refuses two '@', on which URL parsers disagree", function()
    assert.are.equal("ambiguous userinfo (more than one '@')", why("http://a@b@evil.com/"))
  end)

  it("refuses whitespace, control bytes and backslashes anywhere", function()
    for _, s in ipairs{ "exa mple.com", "http://api.example.com\n", "http:\\\\evil.com",
                        "http://evil.com\\@api.example.com/", "api.example.com\0.evil.com",
                        "\tapi.example.com", "http://api.example.com/\r" } do
      assert.are.equal("URL holds whitespace, control bytes or a backslash", why(s), s)
    end
  end)

  it("refuses percent escapes and non-ASCII bytes in the host rather than decode them", function()
    assert.are.equal("no valid host name", why("http://ex%41mple.com/"))
    assert.are.equal("no valid host name", why("http://m\195\188nchen.de/"))
    assert.are.equal("no valid host name", why("http://a;b.com/"))
  end)

  it("refuses empty hosts and misplaced dots", function()
    assert.are.equal("empty URL or host", why(""))
    for _, s in ipairs{ "http://", "http:///x", "http://..com", "http://.example.com",
                        "http://a..b/", "http://user@/", "http://:80/" } do
      assert.are.equal("no valid host name", why(s), s)
    end
  end)
end)

describe("lexical.host_grant", function()
  it("reads an exact host, lowercased, without its trailing dot", function()
    assert.are.same({ exact = "api.example.com" }, lexical.host_grant("api.example.com"))
    assert.are.same({ exact = "api.example.com" }, lexical.host_grant("API.Example.com."))
  end)

  it("reads '*.domain' as a suffix", function()
    assert.are.same({ suffix = "cdn.example.com" }, lexical.host_grant("*.cdn.example.com"))
    assert.are.same({ suffix = "cdn.example.com" }, lexical.host_grant("*.CDN.example.com"))
  end)

  it("reads IPv6 literals with or without brackets", function()
    assert.are.same({ exact = "::1" }, lexical.host_grant("[::1]"))
    assert.are.same({ exact = "fe80::1" }, lexical.host_grant("FE80::1"))
  end)

  it("refuses anything that is not a host name, '*.domain' or an IPv6 literal", function()
    for _, g in ipairs{ "", "*", "*.", "*.*.example.com", "a*.example.com", "*example.com",
                        "http://api.example.com", "api.example.com:443", "api.example.com/x",
                        "a..b", ".example.com", "exa mple.com", "ex%41mple.com",
                        "user@host", "[evil.com]" } do
      assert.is_nil(lexical.host_grant(g), g)
    end
  end)
end)

describe("lexical.subdomain_of", function()
  it("holds subdomains of the suffix at any depth", function()
    assert.is_true(lexical.subdomain_of("a.cdn.example.com", "cdn.example.com"))
    assert.is_true(lexical.subdomain_of("x.y.cdn.example.com", "cdn.example.com"))
  end)

  it("does not hold the suffix itself", function()
    assert.is_false(lexical.subdomain_of("cdn.example.com", "cdn.example.com"))
  end)

  it("matches only on a dot boundary", function()
    assert.is_false(lexical.subdomain_of("evilcdn.example.com", "cdn.example.com"))
    assert.is_false(lexical.subdomain_of("a-cdn.example.com", "cdn.example.com"))
  end)

  it("does not hold a host that merely contains the suffix", function()
    assert.is_false(lexical.subdomain_of("cdn.example.com.attacker.net", "cdn.example.com"))
    assert.is_false(lexical.subdomain_of("a.cdn.example.com.attacker.net", "cdn.example.com"))
  end)

  it("gives no character a pattern meaning", function()
    assert.is_false(lexical.subdomain_of("a.cdnxexample.com", "cdn.example.com"))
    assert.is_false(lexical.subdomain_of("a.b-c", "b%-c"))
  end)

  it("joins parse_host: a URL under a suffix grant is judged by its real host", function()
    local function allowed(url)
      local h = lexical.parse_host(url)
      return h ~= nil and lexical.subdomain_of(h, "cdn.example.com")
    end
    assert.is_true(allowed("https://IMG.CDN.example.com./a.png"))
    assert.is_false(allowed("https://cdn.example.com.attacker.net/"))
    assert.is_false(allowed("https://a.cdn.example.com@attacker.net/"))
    assert.is_false(allowed("https://attacker.net/?a.cdn.example.com"))
  end)
end)

describe("lexical.command_basename", function()
  it("is the basename of the first word", function()
    assert.are.equal("ls", lexical.command_basename("ls"))
    assert.are.equal("ls", lexical.command_basename("ls -l /tmp"))
    assert.are.equal("ls", lexical.command_basename("/bin/ls -l"))
    assert.are.equal("env", lexical.command_basename("  /usr/bin/env  x"))
    assert.are.equal("ls", lexical.command_basename("./ls"))
    assert.are.equal("ls", lexical.command_basename("\tls\t-l"))
  end)

  it("is nil when there is no word or the first word ends in '/'", function()
    for _, s in ipairs{ "", "   ", "\t", "/usr/bin/", "/" } do
      assert.is_nil(lexical.command_basename(s), s)
    end
  end)
end)

describe("lexical.has_shell_special", function()
  it("finds separators, pipes, substitutions, redirections and escapes", function()
    for _, s in ipairs{ "ls && rm -rf /", "ls; rm x", "ls | sh", "ls & sh", "`id`",
                        "ls $(id)", "ls $HOME", "ls > f", "ls < f", "(ls)", "ls \\x" } do
      assert.is_true(lexical.has_shell_special(s), s)
    end
  end)

  it("finds control bytes other than tab", function()
    for _, s in ipairs{ "ls\nrm x", "ls\rrm", "ls\0rm", "ls\1", "ls\27[0m", "ls\127" } do
      assert.is_true(lexical.has_shell_special(s), s)
    end
  end)

  it("lets plain words, tabs and paths through", function()
    for _, s in ipairs{ "ls", "ls -l /tmp", "ls\t-l", "/bin/ls --color=never", "git-log a.b" } do
      assert.is_false(lexical.has_shell_special(s), s)
    end
  end)
end)

describe("lexical.is_basename", function()
  it("accepts a binary's name", function()
    for _, g in ipairs{ "ls", "git-upload-pack", "python3.12", "a_b" } do
      assert.is_true(lexical.is_basename(g), g)
    end
  end)

  it("refuses empty names, paths, whitespace and control bytes", function()
    for _, g in ipairs{ "", "/bin/ls", "bin/ls", "ls/", "ls -l", "l\ns", "l\ts", "ls\0", " ls" } do
      assert.is_false(lexical.is_basename(g), g)
    end
  end)
end)
