-- The dispatch gate on the file system: fs_read and fs_write grants hold
-- for the path the kernel reaches, symbolic links resolved, not only for
-- the path as written (lua/lexrt/policy.lua, "Paths on the file system").
-- Every case builds real links in a directory of its own under the
-- system's temporary directory, removed afterwards.
local lexrt = require("lexrt")
local core = require("lexrt.core")
local policy = lexrt.policy

local function sh(cmd)
  local ok = os.execute(cmd)
  assert(ok, "failed: " .. cmd)
end

-- A fresh directory; os.tmpname's names hold no shell metacharacters.
local function temp_dir()
  local d = os.tmpname()
  os.remove(d)
  sh("mkdir -p '" .. d .. "'")
  return d
end

local function write(path, text)
  local f = assert(io.open(path, "w"))
  f:write(text)
  f:close()
end

local function assert_refused(v, path)
  assert.is_true(policy.is_violation(v), "expected a violation, got " .. tostring(v))
  assert.are.equal("fs_path_not_allowed", v.kind)
  assert.are.equal(path, v.path)
end

describe("the fs_read and fs_write gate with symbolic links", function()
  local d, outside

  -- d/data        the granted directory, holding
  --   sub/f.txt   a real file
  --   inner -> sub          a link that stays inside
  --   escape -> <outside>   a link out of the grant
  --   dangling -> <outside>/none    a link to nothing, outside
  -- d/alias -> data         a grant given through a link
  -- <outside>/secret.txt    what the links must not reach
  before_each(function()
    d, outside = temp_dir(), temp_dir()
    sh(("mkdir -p '%s/data/sub'"):format(d))
    write(d .. "/data/sub/f.txt", "inside\n")
    write(outside .. "/secret.txt", "secret\n")
    sh(("ln -s sub '%s/data/inner'"):format(d))
    sh(("ln -s '%s' '%s/data/escape'"):format(outside, d))
    sh(("ln -s '%s/none' '%s/data/dangling'"):format(outside, d))
    sh(("ln -s data '%s/alias'"):format(d))
  end)

  after_each(function()
    sh(("rm -rf '%s' '%s'"):format(d, outside))
  end)

  local function granted(field)
    return policy{ allow_effects = { "fs_read", "fs_write" }, [field] = { d .. "/data" } }
  end

  it("refuses a link in a granted directory that leads out of it", function()
    local p = granted("allow_fs_read")
    for _, path in ipairs{ d .. "/data/escape/secret.txt", d .. "/data/escape", d .. "/data/escape/" } do
      local v = p:check_call("fs_read", "open", path)
      assert_refused(v, path)
      assert.matches("through a symbolic link, outside allow_fs_read (at fs_read.open)", v.detail, 1, true)
    end
    assert.matches("leads to '" .. core.realpath(outside) .. "/secret.txt'",
      p:check_call("fs_read", "open", d .. "/data/escape/secret.txt").detail, 1, true)
  end)

  it("reads '..' after a link as the kernel does: from the link's target", function()
    -- Lexically this is data/sub/f.txt; the kernel goes to <outside>/..
    local path = d .. "/data/escape/../sub/f.txt"
    assert_refused(granted("allow_fs_read"):check_call("fs_read", "open", path), path)
  end)

  it("refuses the same escape for fs_write", function()
    local p = granted("allow_fs_write")
    local path = d .. "/data/escape/secret.txt"
    assert_refused(p:check_call("fs_write", "open", path), path)
  end)

  it("allows a link that stays inside the grant, and real files", function()
    local p = granted("allow_fs_read")
    for _, path in ipairs{ d .. "/data/inner/f.txt", d .. "/data/inner", d .. "/data/sub/f.txt",
                           d .. "/data" } do
      assert.is_nil(p:check_call("fs_read", "open", path), path)
    end
  end)

  it("allows a missing file under a grant: the effect decides what to do", function()
    local p = granted("allow_fs_write")
    for _, path in ipairs{ d .. "/data/new.txt", d .. "/data/new/dir/file", d .. "/data/inner/new.txt",
                           d .. "/data/sub/f.txt/x" } do
      assert.is_nil(p:check_call("fs_write", "open", path), path)
    end
  end)

  it("refuses a missing file under a link that leads out", function()
    local p = granted("allow_fs_write")
    for _, path in ipairs{ d .. "/data/escape/new.txt", d .. "/data/escape/new/dir/file" } do
      assert_refused(p:check_call("fs_write", "open", path), path)
    end
  end)

  it("refuses a missing directory followed by '..' back through a link that leads out", function()
    local p = granted("allow_fs_write")
    local path = d .. "/data/new/../escape/x"
    assert_refused(p:check_call("fs_write", "open", path), path)
  end)

  it("refuses a link to nothing, whose target the kernel would create", function()
    local p = granted("allow_fs_write")
    local path = d .. "/data/dangling"
    local v = p:check_call("fs_write", "open", path)
    assert_refused(v, path)
    assert.matches("cannot be resolved: '" .. path .. "' is a symbolic link to nothing", v.detail, 1, true)
    assert_refused(p:check_call("fs_write", "open", path .. "/x"), path .. "/x")
  end)

  it("refuses what realpath cannot resolve: a loop of links", function()
    sh(("ln -s loop '%s/data/loop'"):format(d))
    local p = granted("allow_fs_read")
    local path = d .. "/data/loop/x"
    local v = p:check_call("fs_read", "open", path)
    assert_refused(v, path)
    assert.matches("'" .. path .. "' cannot be resolved: ", v.detail, 1, true)
  end)

  it("resolves a grant that is itself a link, so its target's files are inside", function()
    local p = policy{ allow_effects = { "fs_read" }, allow_fs_read = { d .. "/alias" } }
    assert.is_nil(p:check_call("fs_read", "open", d .. "/alias/sub/f.txt"))
    assert.is_nil(p:check_call("fs_read", "open", d .. "/alias/inner/f.txt"))
    assert.is_nil(p:check_call("fs_read", "open", d .. "/alias/new.txt"))
    -- lexically outside the grant as written, though it is the same file
    assert_refused(p:check_call("fs_read", "open", d .. "/data/sub/f.txt"), d .. "/data/sub/f.txt")
    assert_refused(p:check_call("fs_read", "open", d .. "/alias/escape/secret.txt"),
      d .. "/alias/escape/secret.txt")
  end)

  it("needs both readings inside a grant, though not the same one", function()
    local p = policy{ allow_effects = { "fs_read" }, allow_fs_read = { d .. "/data", outside } }
    assert.is_nil(p:check_call("fs_read", "open", d .. "/data/escape/secret.txt"))
  end)

  it("sees a link made after the policy was built", function()
    local p = granted("allow_fs_read")
    local path = d .. "/data/later/secret.txt"
    assert.is_nil(p:check_call("fs_read", "open", path))
    sh(("ln -s '%s' '%s/data/later'"):format(outside, d))
    assert_refused(p:check_call("fs_read", "open", path), path)
  end)

  it("stops the effect at dispatch, before it runs", function()
    local ran = 0
    local h <close> = lexrt.handler{
      policy = granted("allow_fs_read"),
      effects = { fs_read = { open = function(path)
        ran = ran + 1
        local f, err = io.open(path, "r")
        if not f then return nil, err end
        local text = f:read("a")
        f:close()
        return text
      end } },
    }
    assert.are.equal("inside\n", h:dispatch("fs_read", "open", d .. "/data/inner/f.txt"))
    local ok, v = pcall(h.dispatch, h, "fs_read", "open", d .. "/data/escape/secret.txt")
    assert.is_false(ok)
    assert_refused(v, d .. "/data/escape/secret.txt")
    assert.are.equal(1, ran)
  end)

  it("leaves check_program lexical: a declaration names no file", function()
    local p = granted("allow_fs_read")
    local report = p:check_program{ entry = { "fs_read:" .. d .. "/data/escape/secret.txt" } }
    assert.is_table(report)
  end)

  it("leaves an empty list open, links or not", function()
    local p = policy{ allow_effects = { "fs_read" } }
    assert.is_nil(p:check_call("fs_read", "open", d .. "/data/escape/secret.txt"))
    assert.is_nil(p:check_call("fs_read", "open", d .. "/data/dangling"))
  end)

  it("resolves relative paths and grants from the working directory", function()
    -- The working directory is the checkout; a relative grant there is
    -- compared after both are resolved against it.
    local p = policy{ allow_effects = { "fs_read" }, allow_fs_read = { "spec" } }
    assert.is_nil(p:check_call("fs_read", "open", "spec/policy_symlink_spec.lua"))
    assert.is_nil(p:check_call("fs_read", "open", "spec/none/new.txt"))
  end)
end)

describe("core.realpath and core.is_symlink", function()
  it("resolve an existing path, and fail as io.open does on a missing one", function()
    assert.are.equal(core.realpath("/"), core.realpath("/./"))
    local real, err, code = core.realpath("/no/such/dir/at/all")
    assert.is_nil(real)
    assert.are.equal("/no/such/dir/at/all: No such file or directory", err)
    assert.are.equal(core.ENOENT, code)
    assert.is_false(core.is_symlink("/no/such/dir/at/all"))
    assert.is_false(core.is_symlink("/"))
  end)

  it("refuse a path with a NUL byte, or no string, in luaL_argerror's words", function()
    for _, f in ipairs{ core.realpath, core.is_symlink } do
      local ok, err = pcall(f, "/etc\0/x")
      assert.is_false(ok)
      assert.matches("bad argument #1 to '.-' %(path holds a NUL byte%)", err)
      ok, err = pcall(f, {})
      assert.is_false(ok)
      assert.matches("bad argument #1 to '.-' %(string expected, got table%)", err)
    end
  end)
end)
