-- Records one call of each traced request (after warm-up, collector
-- stopped) with bench/trace/tracer.c and prints, per call:
--   * the files visited, in order, as runs (a run: consecutive events in
--     one file), each with the function that opened it, "<" when a return
--     led there; "[isolate]" is code running in the isolate's own state;
--   * "returns to a file already left": runs whose file appeared in an
--     earlier run (issue 18's "37"), the driver itself not counted, and
--     how many of them a return led to, how many a call;
--   * crossings: run boundaries between C (csrc/), host Lua (lua/, and
--     the driver's own functions) and the isolate, as calls and as
--     returns;
--   * calls per pair of files: the calls one run makes from a function of
--     one file into a function of another (issue 18's "five" for
--     l_isolate.c -> l_handler.c).
-- Twice: with functions defined in headers (static inline) counted in
-- the file that called them, then as files of their own. C functions are
-- -finstrument-functions' view, so a static function inlined by -O2
-- still counts as entered. Lua's own C functions (pcall, type, ...) are
-- not shown. Run through bench/trace/run.sh.
local root = assert(arg[1], "usage: lua5.4 bench/trace/driver.lua REPO_ROOT (see run.sh)")
local lexrt = require("lexrt")

local so = assert(package.searchpath("lexrt.core", package.cpath))
local trace = assert(package.loadlib(so, "luaopen_lexrt_trace"))()
local DRIVER = "bench/trace/driver.lua"

-- A path as the repository names it.
local function rel(path)
  path = path:gsub("^@", "")
  if path:sub(1, #root + 1) == root .. "/" then
    path = path:sub(#root + 2)
  end
  return path
end

local function kind_of(file)
  if file == "[isolate]" then
    return "isolate"
  end
  return file:match("%.lua$") and "Lua" or "C"
end

-- offset -> { fn = name, file = path }, in one addr2line run.
local function symbolize(events, sofile)
  local offsets, seen = {}, {}
  for _, e in ipairs(events) do
    if (e[1] == "enter" or e[1] == "exit") and not seen[e[2]] then
      seen[e[2]] = true
      offsets[#offsets + 1] = ("0x%x"):format(e[2])
    end
  end
  local map = {}
  if #offsets == 0 then
    return map
  end
  local p = assert(io.popen(("addr2line -f -e '%s' %s"):format(sofile, table.concat(offsets, " "))))
  for _, off in ipairs(offsets) do
    local fn, loc = p:read("l"), p:read("l")
    map[tonumber(off)] = { fn = fn, file = rel((loc or "?"):gsub(":%d+.*$", "")) }
  end
  p:close()
  return map
end

-- The event stream as a stack walk: the runs and the calls between files.
-- fold: a function defined in a header (a static inline one) counts as
-- part of the file that called it.
local function walk(events, sym, fold)
  local stack = {}
  local runs, pairs_, fns = {}, {}, {}
  local function top()
    return stack[#stack] or { file = DRIVER, fn = "(driver)" }
  end
  local function visit(frame, returned)
    local last = runs[#runs]
    if not last or last.file ~= frame.file then
      runs[#runs + 1] = { file = frame.file, fn = frame.fn, returned = returned }
    end
  end
  local function call(frame)
    local from = top()
    if from.file ~= frame.file then
      local key = from.file .. " -> " .. frame.file
      pairs_[key] = (pairs_[key] or 0) + 1
      fns[key] = fns[key] or {}
      fns[key][#fns[key] + 1] = from.fn .. ">" .. frame.fn
    end
    stack[#stack + 1] = frame
    visit(frame, false)
  end
  -- Pops to the newest frame that matches (an error may have skipped
  -- some exits); none: an exit of a frame entered before the recording.
  local function pop(match)
    for i = #stack, 1, -1 do
      if match(stack[i]) then
        for j = #stack, i, -1 do
          stack[j] = nil
        end
        visit(top(), true)
        return
      end
    end
  end
  for _, e in ipairs(events) do
    local ev = e[1]
    if ev == "enter" then
      local s = sym[e[2]]
      local file = (fold and s.file:match("%.h$")) and top().file or s.file
      call({ file = file, fn = s.fn, addr = e[2] })
    elseif ev == "exit" then
      pop(function(f) return f.addr == e[2] end)
    elseif ev == "lcall" or ev == "ltail" then
      local file = rel(e[2])
      if ev == "ltail" and stack[#stack] and stack[#stack].lua then
        stack[#stack] = nil
      end
      call({ file = file, fn = ("%s:%d"):format(file:match("[^/]*$"), e[3]), lua = true })
    elseif ev == "lret" then
      pop(function(f) return f.lua end)
    elseif ev == "iso_in" then
      call({ file = "[isolate]", fn = "(isolate code)", iso = true })
    elseif ev == "iso_out" then
      pop(function(f) return f.iso end)
    end
  end
  return runs, pairs_, fns
end

-- The figures of one walk: distinct files, returns to a file already
-- left, and crossings between kinds, as calls and as returns.
local function figures(runs)
  local seen, files, revisits, by_return = {}, 0, 0, 0
  local cross = { calls = {}, returns = {} }
  for i, r in ipairs(runs) do
    if r.file ~= DRIVER then
      if seen[r.file] then
        revisits = revisits + 1
        by_return = by_return + (r.returned and 1 or 0)
      else
        files = files + 1
      end
      seen[r.file] = true
    end
    local prev = runs[i - 1]
    if prev and kind_of(prev.file) ~= kind_of(r.file) then
      local t = r.returned and cross.returns or cross.calls
      local key = kind_of(prev.file) .. " -> " .. kind_of(r.file)
      t[key] = (t[key] or 0) + 1
    end
  end
  local out = {}
  for _, what in ipairs({ "calls", "returns" }) do
    local keys = {}
    for k in pairs(cross[what]) do
      keys[#keys + 1] = k
    end
    table.sort(keys)
    local parts = {}
    for _, k in ipairs(keys) do
      parts[#parts + 1] = ("%s %d"):format(k, cross[what][k])
    end
    out[what] = #parts > 0 and table.concat(parts, ", ") or "none"
  end
  return ("%d runs, %d distinct files (without the driver), %d returns to a file already left"
    .. " (%d by a return, %d by a call)"):format(#runs, files, revisits, by_return, revisits - by_return), out
end

local function print_pairs(pairs_, fns)
  local keys = {}
  for k in pairs(pairs_) do
    keys[#keys + 1] = k
  end
  table.sort(keys)
  for _, k in ipairs(keys) do
    print(("    %-48s %3d  %s"):format(k, pairs_[k], table.concat(fns[k], " ")))
  end
end

local function report(title, events, dropped, sofile)
  local sym = symbolize(events, sofile)
  local runs, pairs_, fns = walk(events, sym, true)
  print(("== %s: %d events%s"):format(title, #events, dropped > 0 and (" (%d DROPPED)"):format(dropped) or ""))
  print("  files visited (header inline functions counted in their caller's file):")
  for i, r in ipairs(runs) do
    print(("  %3d %s %-28s %s"):format(i, r.returned and "<" or " ", r.file, r.returned and "" or r.fn))
  end
  local line, cross = figures(runs)
  print("  " .. line)
  print("  crossings as calls:   " .. cross.calls)
  print("  crossings as returns: " .. cross.returns)
  print("  calls per pair of files:")
  print_pairs(pairs_, fns)
  local hruns, hpairs, hfns = walk(events, sym, false)
  print("  with headers as files of their own: " .. figures(hruns))
  for k in pairs(hpairs) do
    if not k:match("%.h$") and not k:match("%.h ") then
      hpairs[k] = nil
    end
  end
  print("  calls per pair of files, those into or out of a header:")
  print_pairs(hpairs, hfns)
  print()
end

local function record(title, f)
  for _ = 1, 100 do
    f() -- warm up: pages, images and caches as in steady state
  end
  collectgarbage()
  collectgarbage("stop") -- no finaliser runs in the middle of the record
  trace.start()
  f()
  trace.stop()
  collectgarbage("restart")
  report(title, trace.events())
end

local logged = 0
local h = lexrt.handler({
  policy = lexrt.policy({ allow_effects = { "io" } }),
  effects = { io = { log = function() logged = logged + 1 end } },
})
local empty = lexrt.isolate({ handler = h, source = "return function() end" })
local effect = lexrt.isolate({ handler = h, source = "return function() io.log('x') end" })
local function fn() end

record("iso:call() empty", function() empty:call() end)
record("iso:call() with one effect (io.log through h:dispatch)", function() effect:call() end)
record("h:with_scope(fn)", function() h:with_scope(fn) end)
assert(logged == 101, "the effect did not run")
