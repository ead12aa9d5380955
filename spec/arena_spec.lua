-- The arena object: API.md "Arena" and "Errors", and the seed's own tests.
local lexrt = require("lexrt")
local support = require("spec.support")
local err_of = support.err_of
local rss_kib, UNDER_CHECKER = support.rss_kib, support.UNDER_CHECKER
local core = require("lexrt.core")

local PAGE = lexrt.PAGE_BYTES

describe("lexrt.arena", function()
  it("exports a 64 KiB default page size", function()
    assert.are.equal(65536, lexrt.PAGE_BYTES)
  end)

  describe("the seed's lifecycle", function()
    it("an empty arena allocates no pages", function()
      local a = lexrt.arena()
      assert.are.equal(0, a:page_count())
      assert.are.equal(0, a:bytes_allocated())
    end)

    it("the first alloc creates a page", function()
      local a = lexrt.arena()
      a:alloc(16)
      assert.are.equal(1, a:page_count())
      assert.are.equal(16, a:bytes_allocated())
    end)

    it("alloc grows to a new page when full", function()
      local a = lexrt.arena()
      a:alloc(PAGE - 100)
      assert.are.equal(1, a:page_count())
      a:alloc(200)
      assert.are.equal(2, a:page_count())
    end)

    it("alloc returns distinct regions", function()
      local a = lexrt.arena()
      local b1 = a:alloc(8)
      a:write(b1, 1, "\xAB")
      local b2 = a:alloc(8)
      a:write(b2, 1, "\xCD")
      assert.are_not.equal(b1, b2)
      assert.are.equal("\xAB", a:read(b1, 1, 1))
      assert.are.equal("\xCD", a:read(b2, 1, 1))
    end)

    it("an alloc larger than a page gets a chunk of its own instead of failing", function()
      local a = lexrt.arena()
      local h = a:alloc(PAGE + 1)
      assert.are.equal(PAGE + 1, a:size(h))
      assert.are.equal(1, a:page_count())
      local s = a:stats()
      assert.are.equal(1, s.large_allocs)
      assert.are.equal(0, s.pages)
      assert.are.equal(1, s.chunks)
      assert.are.equal(PAGE + 1, a:bytes_allocated())
      a:write(h, PAGE + 1, "z")
      assert.are.equal("z", a:read(h, -1))
    end)
  end)

  describe("alloc", function()
    it("returns integer handles and zero-filled blocks", function()
      local a = lexrt.arena()
      local h = a:alloc(100)
      assert.are.equal("integer", math.type(h))
      assert.are.equal(("\0"):rep(100), a:read(h))
    end)

    it("hands out zeroed memory even on pages reused after reset", function()
      local a = lexrt.arena()
      a:write(a:alloc(1000), 1, ("x"):rep(1000))
      a:reset()
      assert.are.equal(("\0"):rep(1000), a:read(a:alloc(1000)))
    end)

    it("allows zero-byte blocks", function()
      local a = lexrt.arena()
      local h = a:alloc(0)
      assert.are.equal(0, a:size(h))
      assert.are.equal("", a:read(h))
    end)

    it("aligns to 8 bytes by default, counting the padding", function()
      local a = lexrt.arena()
      a:alloc(1)
      a:alloc(1)
      assert.are.equal(9, a:bytes_allocated())
    end)

    it("aligns to every power of two up to 4096", function()
      for shift = 0, 12 do
        local align = 1 << shift
        local a = lexrt.arena()
        a:alloc(1, 1)
        a:alloc(3, align)
        -- pages start 4096-aligned, so the block starts at max(1, align)
        local start = align == 1 and 1 or align
        assert.are.equal(start + 3, a:bytes_allocated(), "align " .. align)
      end
    end)

    it("refuses alignments that are not powers of two up to 4096", function()
      local a = lexrt.arena()
      for _, bad in ipairs({ 0, 3, 12, 8192, -8, math.mininteger }) do
        local e = err_of(a.alloc, a, 8, bad)
        assert.matches("power of two from 1 to 4096 expected", e)
      end
      assert.matches("number has no integer representation", err_of(a.alloc, a, 8, 1.5))
    end)

    it("refuses negative and non-integer sizes with a clear argument error", function()
      local a = lexrt.arena()
      local ok, e = pcall(function() return a:alloc(-1) end)
      assert.is_false(ok)
      assert.matches("bad argument #1 to 'alloc' %(non%-negative integer expected, got %-1%)", e)
      assert.matches("number has no integer representation", err_of(function() return a:alloc(1.5) end))
      assert.matches("number expected, got no value", err_of(function() return a:alloc() end))
      assert.matches("number expected, got string", err_of(function() return a:alloc("x") end))
      assert.matches("number expected, got table", err_of(function() return a:alloc({}) end))
    end)

    it("raises 'not enough memory' for an impossible size and stays usable", function()
      local a = lexrt.arena()
      assert.are.equal("not enough memory", err_of(a.alloc, a, math.maxinteger))
      assert.are.equal("not enough memory", err_of(a.alloc, a, 1 << 60))
      local h = a:alloc(10)
      assert.are.equal(10, a:size(h))
    end)

    it("raises 'not enough memory' when the system refuses a page, and recovers", function()
      local a = lexrt.arena()
      core._fail_after(0)
      local ok, e = pcall(a.alloc, a, 100)
      core._fail_after(-1)
      assert.is_false(ok)
      assert.are.equal("not enough memory", e)
      assert.are.equal(0, a:page_count())
      local h = a:alloc(100)
      assert.are.equal(1, a:page_count())
      assert.are.equal(100, a:bytes_allocated())
      assert.are.equal(100, a:size(h))
    end)
  end)

  describe("allocator", function()
    it("returns a function that allocates zero-filled blocks like a:alloc", function()
      local a = lexrt.arena()
      local alloc = a:allocator()
      local h = alloc(24)
      assert.is_true(math.type(h) == "integer")
      assert.are.equal(24, a:size(h))
      assert.are.equal(("\0"):rep(24), a:read(h))
      local h2 = alloc("16", 4096)
      assert.are.equal(16, a:size(h2))
      assert.are.equal(2, a:stats().allocs)
    end)

    it("hands out handles that go stale at reset, as a:alloc's do", function()
      local a = lexrt.arena()
      local alloc = a:allocator()
      local h = alloc(8)
      a:reset()
      assert.matches("stale or foreign arena handle", err_of(function() return a:size(h) end))
      assert.are.equal(8, a:size(alloc(8)))
    end)

    it("refuses bad sizes and alignments with argument errors naming argument 1 and 2", function()
      local alloc = lexrt.arena():allocator()
      assert.matches("bad argument #1 to 'alloc' %(non%-negative integer expected, got %-1%)",
        err_of(function() return alloc(-1) end))
      assert.matches("bad argument #1 .*number expected, got no value", err_of(alloc))
      assert.matches("bad argument #1 .*number has no integer representation", err_of(alloc, 1.5))
      assert.matches("bad argument #2 .*power of two from 1 to 4096 expected, got 3", err_of(alloc, 8, 3))
    end)

    it("raises 'arena is closed' once its arena is closed or its scope has exited", function()
      local a = lexrt.arena()
      local alloc = a:allocator()
      a:close()
      assert.matches("arena is closed", err_of(alloc, 8))
      local h = lexrt.handler()
      local kept
      h:with_scope(function(arena)
        kept = arena:allocator()
        kept(8)
      end)
      assert.matches("arena is closed", err_of(kept, 8))
      h:close()
    end)

    it("is refused on a closed arena", function()
      local a = lexrt.arena()
      a:close()
      assert.matches("arena is closed", err_of(function() return a:allocator() end))
    end)
  end)

  describe("write and read", function()
    it("writes at a 1-based position and reads it back", function()
      local a = lexrt.arena()
      local h = a:alloc(10)
      a:write(h, 3, "abc")
      assert.are.equal("\0\0abc\0\0\0\0\0", a:read(h))
      a:write(h, 8, "xyz")
      assert.are.equal("xyz", a:read(h, 8))
    end)

    it("refuses a write that would cross the block's end", function()
      local a = lexrt.arena()
      local h = a:alloc(4)
      local e = err_of(function() a:write(h, 3, "abc") end)
      assert.matches("bad argument #3 to 'write'", e)
      assert.matches("cross the end of a 4%-byte block", e)
      assert.matches("cross the end", err_of(function() a:write(h, 6, "") end))
      a:write(h, 5, "") -- an empty write just past the end touches nothing
      assert.are.equal(("\0"):rep(4), a:read(h))
    end)

    it("refuses positions below 1", function()
      local a = lexrt.arena()
      local h = a:alloc(4)
      for _, pos in ipairs({ 0, -1, math.mininteger }) do
        assert.matches("position must be at least 1", err_of(a.write, a, h, pos, "x"))
      end
      assert.matches("cross the end", err_of(a.write, a, h, math.maxinteger, "x"))
    end)

    it("refuses non-string data", function()
      local a = lexrt.arena()
      local h = a:alloc(4)
      assert.matches("string expected, got table", err_of(a.write, a, h, 1, {}))
      assert.matches("string expected, got nil", err_of(a.write, a, h, 1, nil))
    end)

    it("reads with exactly string.sub's index rules", function()
      local a = lexrt.arena()
      local s = "hello, arena"
      local h = a:put(s)
      local idx = { math.mininteger, -20, -13, -12, -5, -1, 0, 1, 2, 5, 12, 13, 20, math.maxinteger }
      for _, i in ipairs(idx) do
        assert.are.equal(s:sub(i), a:read(h, i))
        for _, j in ipairs(idx) do
          assert.are.equal(s:sub(i, j), a:read(h, i, j), ("read(%d, %d)"):format(i, j))
        end
      end
    end)
  end)

  describe("put", function()
    it("copies a string in, binary-safe, without alignment padding", function()
      local a = lexrt.arena()
      local s = "a\0b\255c"
      local h1 = a:put(s)
      local h2 = a:put("xyz")
      assert.are.equal(s, a:read(h1))
      assert.are.equal("xyz", a:read(h2))
      assert.are.equal(#s + 3, a:bytes_allocated())
    end)

    it("puts strings larger than a page into a chunk", function()
      local a = lexrt.arena({ page_size = 4096 })
      local s = ("0123456789"):rep(1000)
      assert.are.equal(s, a:read(a:put(s)))
      assert.are.equal(1, a:stats().large_allocs)
    end)
  end)

  describe("concat", function()
    it("joins handles and strings, in order, into a new block", function()
      local a = lexrt.arena()
      local h1, h2 = a:put("abc"), a:alloc(2)
      local c = a:concat({ h1, "-", h2, "-", h1, "" })
      assert.are.equal("abc-\0\0-abc", a:read(c))
      assert.are.equal(10, a:size(c))
      assert.are.equal("", a:read(a:concat({})))
    end)

    it("copies blocks larger than a page and survives the block table growing", function()
      local a = lexrt.arena({ page_size = 4096 })
      local big = a:put(("z"):rep(10000))
      local pieces = {}
      for i = 1, 100 do pieces[i] = a:put(tostring(i)) end
      pieces[#pieces + 1] = big
      local c = a:concat(pieces)
      local want = {}
      for i = 1, 100 do want[i] = tostring(i) end
      assert.are.equal(table.concat(want) .. ("z"):rep(10000), a:read(c))
    end)

    it("refuses stale handles, other values and non-tables", function()
      local a, b = lexrt.arena(), lexrt.arena()
      local foreign = b:put("x")
      assert.matches("stale or foreign arena handle at index 2", err_of(a.concat, a, { "ok", foreign }))
      assert.matches("handle or string expected at index 1", err_of(a.concat, a, { {} }))
      assert.matches("handle or string expected at index 1", err_of(a.concat, a, { 1.5 }))
      assert.matches("table expected, got string", err_of(a.concat, a, "x"))
      assert.are.equal(0, a:stats().allocs)
    end)

    it("counts against max_bytes", function()
      local a = lexrt.arena({ max_bytes = 10 })
      local h = a:put("12345")
      assert.matches("max_bytes", err_of(a.concat, a, { h, h, "x" }))
    end)
  end)

  describe("stats", function()
    it("reports the counters API.md names, with page tails as wasted", function()
      local a = lexrt.arena({ page_size = 4096 })
      a:alloc(3000)
      a:alloc(3000)
      a:alloc(5000)
      local s = a:stats()
      assert.are.equal(11000, s.bytes_allocated)
      assert.are.equal(3, s.page_count)
      assert.are.equal(2, s.pages)
      assert.are.equal(1, s.chunks)
      assert.are.equal(3, s.allocs)
      assert.are.equal(1, s.large_allocs)
      assert.are.equal(4096 - 3000, s.wasted)
      assert.are.equal(2 * 4096 + 8192, s.capacity)
      assert.are.equal(11000, s.peak_bytes)
      assert.are.equal(0, s.resets)
      assert.are.equal(4096, s.page_size)
    end)

    it("keeps peak_bytes across resets", function()
      local a = lexrt.arena()
      a:alloc(5000)
      a:reset()
      a:alloc(100)
      local s = a:stats()
      assert.are.equal(100, s.bytes_allocated)
      assert.are.equal(5000, s.peak_bytes)
      assert.are.equal(1, s.resets)
    end)

    it("prints like lexrt.arena(3 pages, 150000 bytes)", function()
      local a = lexrt.arena()
      for _ = 1, 3 do a:alloc(50000) end
      assert.are.equal("lexrt.arena(3 pages, 150000 bytes)", tostring(a))
      a:close()
      assert.are.equal("lexrt.arena (closed)", tostring(a))
    end)
  end)

  describe("options", function()
    it("accepts every power-of-two page size from 4 KiB to 16 MiB", function()
      for shift = 12, 24 do
        local a = lexrt.arena({ page_size = 1 << shift })
        a:alloc((1 << shift) - 8)
        assert.are.equal(1, a:stats().pages)
        assert.are.equal(1 << shift, a:stats().page_size)
        a:close()
      end
    end)

    it("refuses other page sizes by name", function()
      for _, bad in ipairs({ 0, 2048, 4095, 6000, 1 << 25, -4096 }) do
        assert.matches("page_size must be a power of two from 4096 to 16777216",
          err_of(lexrt.arena, { page_size = bad }))
      end
      assert.matches("page_size must be an integer", err_of(lexrt.arena, { page_size = "big" }))
      assert.matches("page_size must be an integer", err_of(lexrt.arena, { page_size = 4096.5 }))
    end)

    it("refuses unknown options and non-table options", function()
      assert.matches("unknown option 'pagesize'", err_of(lexrt.arena, { pagesize = 4096 }))
      assert.matches("table expected, got number", err_of(lexrt.arena, 5))
    end)
  end)

  describe("max_bytes", function()
    it("allows reaching the budget exactly", function()
      local a = lexrt.arena({ max_bytes = 100 })
      a:alloc(64)
      a:alloc(36)
      assert.are.equal(100, a:bytes_allocated())
    end)

    it("refuses an allocation that would pass it, and stays usable", function()
      local a = lexrt.arena({ max_bytes = 100 })
      a:alloc(64)
      local e = err_of(a.alloc, a, 37)
      assert.matches("max_bytes", e)
      assert.are.equal(64, a:bytes_allocated())
      a:alloc(36)
      assert.are.equal(100, a:bytes_allocated())
    end)

    it("counts alignment padding against the budget", function()
      local a = lexrt.arena({ max_bytes = 100 })
      a:alloc(50)
      assert.matches("max_bytes", err_of(a.alloc, a, 50)) -- 6 bytes of padding first
      a:alloc(50, 1)
    end)

    it("applies to large chunks and to put", function()
      local a = lexrt.arena({ max_bytes = PAGE })
      assert.matches("max_bytes", err_of(a.alloc, a, PAGE + 1))
      assert.matches("max_bytes", err_of(a.put, a, ("x"):rep(PAGE + 1)))
      assert.are.equal(0, a:page_count())
    end)

    it("starts afresh after reset", function()
      local a = lexrt.arena({ max_bytes = 64 })
      a:alloc(64)
      a:reset()
      a:alloc(64)
    end)

    it("refuses a negative or non-integer budget", function()
      assert.matches("max_bytes must be a non%-negative integer", err_of(lexrt.arena, { max_bytes = -1 }))
      assert.matches("max_bytes must be an integer", err_of(lexrt.arena, { max_bytes = "lots" }))
    end)

    it("of zero refuses every non-empty allocation", function()
      local a = lexrt.arena({ max_bytes = 0 })
      assert.matches("max_bytes", err_of(a.alloc, a, 1))
    end)
  end)

  describe("reset", function()
    it("forgets every block and keeps the pages for reuse", function()
      local a = lexrt.arena()
      for _ = 1, 3 do a:alloc(40000) end
      assert.are.equal(3, a:page_count())
      a:reset()
      assert.are.equal(0, a:bytes_allocated())
      if core.RECYCLING then
        assert.are.equal(3, a:page_count())
        for _ = 1, 3 do a:alloc(40000) end
        assert.are.equal(3, a:page_count()) -- no new pages were needed
      else
        assert.are.equal(0, a:page_count())
      end
    end)

    it("keeps no more pages than it held", function()
      local a = lexrt.arena()
      a:alloc(10)
      a:reset()
      a:reset()
      assert.is_true(a:page_count() <= 1)
    end)

    it("invalidates every handle", function()
      local a = lexrt.arena()
      local hs = {}
      for i = 1, 50 do hs[i] = a:put("block " .. i) end
      a:reset()
      local fresh = a:put("new")
      for i = 1, 50 do
        assert.matches("stale or foreign arena handle", err_of(a.read, a, hs[i]))
        assert.matches("stale or foreign arena handle", err_of(a.size, a, hs[i]))
        assert.matches("stale or foreign arena handle", err_of(a.write, a, hs[i], 1, "x"))
      end
      assert.are.equal("new", a:read(fresh))
    end)

    it("detects handles from many resets ago", function()
      local a = lexrt.arena()
      local old = {}
      for r = 1, 1000 do
        old[r] = a:alloc(8)
        a:reset()
      end
      a:alloc(8)
      for r = 1, 1000 do
        assert.is_false(pcall(a.read, a, old[r]))
      end
    end)
  end)

  describe("close", function()
    it("is idempotent and makes every other method raise 'arena is closed'", function()
      local a = lexrt.arena()
      local h = a:alloc(8)
      assert.is_false(a:is_closed())
      a:close()
      a:close()
      assert.is_true(a:is_closed())
      local calls = {
        function() return a:alloc(1) end, function() return a:put("x") end,
        function() return a:size(h) end, function() return a:write(h, 1, "x") end,
        function() return a:read(h) end, function() return a:bytes_allocated() end,
        function() return a:page_count() end, function() return a:stats() end,
        function() return a:reset() end,
      }
      for _, f in ipairs(calls) do
        assert.matches("arena is closed", err_of(f))
      end
    end)

    it("runs at the end of a <close> variable's scope", function()
      local keep
      do
        local a <close> = lexrt.arena()
        a:alloc(100)
        keep = a
      end
      assert.is_true(keep:is_closed())
    end)

    it("runs when an error unwinds a <close> variable", function()
      local keep
      pcall(function()
        local a <close> = lexrt.arena()
        keep = a
        error("boom")
      end)
      assert.is_true(keep:is_closed())
    end)
  end)

  describe("handles", function()
    it("from another arena are refused", function()
      local a, b = lexrt.arena(), lexrt.arena()
      local ha = a:put("mine")
      b:put("theirs")
      assert.matches("stale or foreign arena handle", err_of(b.read, b, ha))
      assert.matches("stale or foreign arena handle", err_of(b.size, b, ha))
    end)

    it("made up as integers are refused", function()
      local a = lexrt.arena()
      local h = a:put("x")
      local forged = { 0, 1, -1, 2, 42, 1 << 32, -(1 << 32), (1 << 32) - 1, math.maxinteger,
        math.mininteger, h + 1, h - 1, h ~ (1 << 32), h ~ 1 }
      for _, f in ipairs(forged) do
        assert.matches("stale or foreign arena handle", err_of(a.read, a, f))
      end
      for i = -10000, 10000 do
        assert.is_false(pcall(a.size, a, i))
      end
    end)

    it("must be integers", function()
      local a = lexrt.arena()
      assert.matches("number has no integer representation", err_of(a.read, a, 0.5))
      assert.matches("number expected, got string", err_of(a.read, a, "handle"))
      assert.matches("number expected, got nil", err_of(a.read, a, nil))
    end)

    it("create no Lua objects", function()
      local a = lexrt.arena()
      collectgarbage("stop")
      local before = collectgarbage("count")
      for _ = 1, 10000 do a:alloc(24) end
      local grown = collectgarbage("count") - before
      collectgarbage("restart")
      assert.is_true(grown < 1, "Lua heap grew by " .. grown .. " KiB")
    end)
  end)

  describe("methods", function()
    it("refuse a self that is not an arena", function()
      local a = lexrt.arena()
      for _, bad in ipairs({ 1, "x", {}, io.stdout, lexrt.handler() }) do
        assert.matches("lexrt.arena expected", err_of(a.alloc, bad, 1))
        assert.matches("lexrt.arena expected", err_of(a.close, bad))
      end
    end)
  end)

  describe("collection", function()
    it("frees the pages of thousands of dropped arenas", function()
      collectgarbage()
      local before = rss_kib()
      for _ = 1, 5000 do
        local a = lexrt.arena()
        a:alloc(60000) -- touch most of a 64 KiB page
        a:write(a:alloc(1000), 1, ("y"):rep(1000))
      end
      collectgarbage()
      collectgarbage()
      local grown = rss_kib() - before
      -- 5000 leaked pages would be over 300 MiB
      if not UNDER_CHECKER then
        assert.is_true(grown < 50 * 1024, "resident memory grew by " .. grown .. " KiB")
      end
    end)
  end)
end)
