--[[
Workload "bulk": a few large buffers per request, each bigger than a
64 KiB page, so the arena serves them as chunks of their own. The handler
fills input buffers with records written piece by piece, then streams
them window by window into one preallocated response buffer (upper-cased,
as a transcoder would), behind a short header.
]]

local Rng = require("lexrt.experiment.rng")

local WINDOW = 16 * 1024

local function generate(rng, i)
  local sizes = {}
  for k = 1, rng:int(2, 4) do
    sizes[k] = rng:int(80, 384) * 1024 + rng:int(0, 1023)
  end
  return { index = i, seed = rng:int(0, 0x7fffffff), sizes = sizes }
end

local function fill(ctx, rng, buf, size)
  local pos, n = 1, 0
  while pos <= size do
    n = n + 1
    local len = math.min(rng:int(64, 4096), size - pos + 1)
    local tag = ("rec %06d "):format(n)
    local line
    if len > #tag + 1 then
      local c = string.char(rng:int(97, 122))
      line = tag .. c:rep(len - #tag - 1) .. "\n"
    else
      line = ("#"):rep(len)
    end
    ctx:write(buf, pos, line)
    pos = pos + len
  end
end

local function handler(ctx, req)
  local rng = Rng.new(req.seed, 0)
  local inputs, total = {}, 0
  for k, size in ipairs(req.sizes) do
    inputs[k] = ctx:buf(size)
    fill(ctx, rng, inputs[k], size)
    ctx:wait() -- each input would arrive from an upstream service
    total = total + size
  end
  local header = ("BULK %d buffers %d bytes\n"):format(#inputs, total)
  local out = ctx:buf(#header + total)
  ctx:write(out, 1, header)
  local pos = #header + 1
  for _, buf in ipairs(inputs) do
    local size = ctx:size(buf)
    for i = 1, size, WINDOW do
      local s = ctx:read(buf, i, i + WINDOW - 1):upper()
      ctx:write(out, pos, s)
      pos = pos + #s
    end
  end
  return out
end

-- requests: per round and mode in lexrt-experiment's default run, about
-- a twentieth of a second each on a quiet 2-core machine.
return { name = "bulk", generate = generate, handler = handler, requests = 10 }
