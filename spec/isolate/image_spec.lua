-- The image's two forms (issue 19): a call's restore puts back what the
-- call wrote, whatever the image holds. Large images are put in mapped
-- form by the isolate's own timing; LEXRT_ISOLATE_IMAGE forces a form
-- (in a child process, as it is read when an isolate is built).
local lexrt = require("lexrt")
local support = require("spec.support")

-- A lookup handler over n module-level records, as a user writes one.
-- The request writes into records and globals, then checks them all.
local function source(n)
  return ([[
    local recs = {}
    for i = 1, %d do recs[i] = { id = i, name = "user" .. i, score = i * 3 } end
    local function sum() local s = 0 for i = 1, #recs do s = s + recs[i].score end return s end
    local want = sum()
    return function(op, k)
      if op == "read" then
        local s = 0
        for j = 1, 10 do s = s + recs[(k + j) %% #recs + 1].score end
        return s
      elseif op == "scribble" then
        -- writes spread over the whole image: every 97th record, a new
        -- field in each, and a global
        for i = 1, #recs, 97 do recs[i].score = -1; recs[i].extra = {} end
        recs[#recs + 1] = { score = 1e9 }
        scribbled = true
        return sum() ~= want
      else
        return sum() == want and scribbled == nil and #recs == %d, sum()
      end
    end]]):format(n, n)
end

local function check_exact(iso)
  assert.is_true((iso:call("check")))
  for k = 1, 5 do
    assert.is_true(iso:call("scribble"))
    local ok, total = iso:call("check")
    assert.is_true(ok, "call " .. k .. " saw the previous call's writes (sum " .. tostring(total) .. ")")
    assert.are.equal(iso:call("read", k), iso:call("read", k))
  end
end

describe("an isolate's image", function()
  for _, n in ipairs({ 10, 1000, 20000 }) do
    it("is put back exactly after calls that write all over it (" .. n .. " records)", function()
      local h <close> = lexrt.handler()
      local iso <close> = lexrt.isolate({ source = source(n), handler = h })
      check_exact(iso)
      local st = iso:stats()
      assert.is_true(st.image_form == "copy" or st.image_form == "mapped")
      assert.are.equal(0, h:stats().pages_live)
    end)
  end

  it("reports what the last restore put back", function()
    local h <close> = lexrt.handler()
    local iso <close> = lexrt.isolate({ source = source(10), handler = h })
    iso:call("read", 1)
    local st = iso:stats()
    for _, k in ipairs({ "image_bytes", "last_restore_bytes", "last_restore_pages", "hot_pages", "restore_scans" }) do
      assert.are.equal("integer", math.type(st[k]), k)
      assert.is_true(st[k] >= 0, k)
    end
    if st.image_form == "copy" then
      assert.are.equal(st.image_bytes, st.last_restore_bytes)
      assert.are.equal(st.image_pages, st.last_restore_pages)
    end
  end)

  it("costs a read-only call the pages it wrote, not the image, in mapped form", function()
    local h <close> = lexrt.handler()
    local iso <close> = lexrt.isolate({ source = source(20000), handler = h })
    local st = iso:stats()
    -- A 20000-record image is megabytes: copying it back takes longer than
    -- the mapped form's fixed cost on any machine, wherever Linux maps it.
    assert.is_true(st.image_bytes > 1024 * 1024)
    if st.image_form == "mapped" then
      for k = 1, 20 do iso:call("read", k) end
      st = iso:stats()
      assert.is_true(st.last_restore_bytes < st.image_bytes // 20,
        ("restored %d of %d bytes"):format(st.last_restore_bytes, st.image_bytes))
      assert.is_true(st.last_restore_bytes > 0) -- the state's own pages are written by any call
      assert.are.equal(st.last_restore_pages * 4096, st.last_restore_bytes)
    else
      assert.are.equal(st.image_bytes, st.last_restore_bytes)
    end
    check_exact(iso)
  end)

  for _, form in ipairs({ "copy", "mapped" }) do
    it("is exact in " .. form .. " form when forced, for a small image too", function()
      local ok, out = support.in_child(([[
        package.path = %q
        local lexrt = require("lexrt")
        local h = lexrt.handler()
        for _, n in ipairs({ 1, 10, 300 }) do
          local iso = lexrt.isolate({ source = %q, handler = h })
          -- The mapped form needs Linux (memfd, /proc/self/pagemap).
          local linux = io.open("/proc/self/pagemap") ~= nil
          assert(iso:stats().image_form == %q or not linux, "form " .. iso:stats().image_form)
          assert(iso:call("check"))
          for k = 1, 3 do assert(iso:call("scribble")) assert(iso:call("check"), "call " .. k) end
          iso:close()
        end
        assert(h:stats().pages_live == 0)
        print("ok", lexrt.isolate({ source = "return function() end", handler = h }):stats().image_form)
      ]]):format(package.path, source(300), form), 120, "LEXRT_ISOLATE_IMAGE=" .. form)
      assert.is_true(ok, out)
      assert.matches("ok\t%a+", out)
      if form == "copy" then
        assert.matches("ok\tcopy", out)
      end
    end)
  end

  it("refuses a chunk that builds past 64 MiB cleanly, and the next isolate builds", function()
    local h <close> = lexrt.handler()
    local ok, err = pcall(lexrt.isolate, { handler = h,
      source = "local t = {} for i = 1, 1e9 do t[i] = ('x'):rep(64) .. i end return function() end" })
    assert.is_false(ok)
    assert.matches("not enough memory", tostring(err))
    assert.are.equal(0, h:stats().pages_live)
    local iso <close> = lexrt.isolate({ source = source(10), handler = h })
    check_exact(iso)
  end)
end)
